package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "verify the packages and write every node's configs, install bundle and seed ISO",
		UsageText: "pgha-bundle build [-f cluster.yaml] [--packages DIR] [--key FILE]... [--out DIR] [--secrets FILE]\n" +
			"                  [--base-provides FILE] [--packages-media per-node|shared] [--seed-without-packages]\n" +
			"                  [--wait] [--quiet] [--format text|json]",
		Description: "Loads and validates the spec, verifies every RPM of the packages directory (digests and\n" +
			"signatures against the keys), takes the component paths from the packages' file lists, renders\n" +
			"every node's files, cross-checks them, and writes OUT/<cluster>/:\n" +
			"   nodes/<node>/<path on node>   the plain rendered configs (compare builds with pgha-bundle diff)\n" +
			"   bundles/<node>.tar.gz         the offline install bundle (install.sh, upgrade.sh, uninstall.sh)\n" +
			"   seeds/<node>.iso              the cloud-init NoCloud seed (label cidata)\n" +
			"   media/<cluster>-packages.iso  with --packages-media shared: the packages, once for every node\n" +
			"   media/<cluster>-packages.tar  (the ISO has a label of its own; the tarball is for air-gapped hosts)\n" +
			"   manifest.json, SHA256SUMS\n" +
			"With --packages-media shared no bundle or seed carries RPMs: each names the packages media by the\n" +
			"sha256 of its SHA256SUMS, and install.sh (or the seed) finds the ISO by its label, or takes\n" +
			"install.sh --packages-media PATH, checks it and refuses another build's.\n" +
			"The output is written beside OUT/<cluster> and swapped into place in one step: a failed or\n" +
			"interrupted build leaves the previous one intact. OUT/<cluster> is replaced only when it holds\n" +
			"an earlier build of the same cluster (its manifest.json says so) and no input of the build; one\n" +
			"build at a time writes it (OUT/.<cluster>.lock; --wait waits for the other). Secrets are\n" +
			"generated at the first build into the secrets file (mode 0600) and reused afterwards; a secrets\n" +
			"file that is damaged or of another cluster stops the build (restore FILE.prev, the version before\n" +
			"its last change, or your backup). Builds of one secrets file take turns (FILE.lock). The same\n" +
			"inputs give byte-identical outputs (SOURCE_DATE_EPOCH sets the\n" +
			"timestamps). With -f - the spec is read from standard input: its relative paths are then\n" +
			"relative to the working directory, --secrets must name the secrets file, and the manifest\n" +
			"records the spec as <stdin> with its sha256.\n\n" +
			"Examples:\n" +
			"   pgha-bundle build -f cluster.yaml --packages ./rpms --key RPM-GPG-KEY-vendor\n" +
			"   pgha-bundle build --out /srv/pgha --seed-without-packages   # images that carry the RPMs\n" +
			"   pgha-bundle build --packages-media shared   # a fleet: one packages ISO beside every seed\n" +
			"   pgha-bundle build --base-provides el7-provides.txt          # check requires against the image\n" +
			"   render-spec | pgha-bundle build -f - --secrets prod.secrets.yaml   # a generated spec\n" +
			"   pgha-bundle build --format json   # progress on stderr, one JSON document on stdout",
		Flags: []cli.Flag{
			specFlag(),
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "out", Usage: "output `DIR`; the build goes to DIR/<cluster>"},
			&cli.StringFlag{Name: "secrets", Usage: "secrets `FILE` (default: <spec>.secrets.yaml beside the spec; required with -f -)", TakesFile: true},
			&cli.StringFlag{Name: "packages", Usage: "RPM `DIR` (default: packages.dir of the spec)", TakesFile: true},
			&cli.StringSliceFlag{Name: "key", Usage: "OpenPGP public key `FILE` the RPMs must be signed with (repeatable; default: packages.keys)", TakesFile: true},
			&cli.StringFlag{Name: "base-provides", Usage: "`FILE` with `rpm -qa --provides` of the target image: fail on requires it lacks", TakesFile: true},
			&cli.StringFlag{Name: "packages-media", Value: pipeline.MediaPerNode, Usage: "where the RPMs go: `per-node` (into every bundle and seed) or shared (one packages ISO and tarball under media/, named by every node's bundle and seed)"},
			&cli.BoolFlag{Name: "seed-without-packages", Usage: "leave the RPMs out of the bundle inside each seed ISO (images that carry them)"},
			&cli.BoolFlag{Name: "wait", Usage: "wait for another build running into the same OUT/<cluster> instead of failing"},
			quietFlag(),
			formatFlag(),
			&cli.StringSliceFlag{Name: "install-arg", Usage: "extra `FLAG` for install.sh when the seed runs it checked against the flags install.sh takes (test images only, e.g. --skip-os-check)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitWith(exitUsage, fmt.Errorf("build takes no arguments; name the spec with -f (usage: %s)", c.Command.UsageText))
			}
			asJSON, err := wantJSON(c)
			if err != nil {
				return err
			}
			specPath, specData, err := specInput(c.String("file"))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			if specData != nil && c.String("secrets") == "" {
				return exitWith(exitUsage, errStdinSecrets)
			}
			bar := progressBar(c)
			ctx, stop := interruptible(withBar(bar, c.App.ErrWriter))
			defer stop()
			opts := pipeline.Options{
				SpecPath:            specPath,
				SpecData:            specData,
				OutDir:              c.String("out"),
				SecretsPath:         c.String("secrets"),
				PackagesDir:         c.String("packages"),
				Keys:                c.StringSlice("key"),
				BaseProvides:        c.String("base-provides"),
				SeedWithoutPackages: c.Bool("seed-without-packages"),
				PackagesMedia:       c.String("packages-media"),
				InstallArgs:         c.StringSlice("install-arg"),
				Version:             version,
				Log:                 withBar(bar, buildLog(c, asJSON)),
				Context:             ctx,
				Wait:                c.Bool("wait"),
			}
			if bar != nil {
				opts.Progress = bar
			}
			res, err := pipeline.Run(opts)
			bar.Clear()
			if asJSON {
				if jerr := writeJSON(c.App.Writer, buildDoc(res, err)); jerr != nil {
					return jerr
				}
			}
			var intr *pipeline.InterruptedError
			var sig caughtSignal
			if errors.As(err, &intr) && errors.As(err, &sig) {
				return exitWith(128+int(sig.sig), fmt.Errorf("build interrupted by %s: its temporary directory was removed; the previous output is unchanged", unix.SignalName(sig.sig)))
			}
			var specErr *cluster.SpecError
			if errors.As(err, &specErr) {
				for _, p := range specErr.Problems {
					if asJSON {
						break // in the document
					}
					fmt.Fprintln(c.App.ErrWriter, p)
				}
				return exitWith(exitUsage, fmt.Errorf("build stopped: %s; the previous output is unchanged", plural(len(specErr.Problems.Errors()), "spec error")))
			}
			var secretsErr *secrets.Error
			if errors.As(err, &secretsErr) {
				return exitWith(exitUsage, fmt.Errorf("build stopped: the secrets file is refused; it and the previous output are unchanged:\n%w", err))
			}
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("build failed; the previous output is unchanged:\n%w", err))
			}
			if !c.Bool("quiet") && !asJSON {
				fmt.Fprintf(c.App.Writer, "build %s of %d nodes in %s\n", res.BuildID, len(res.Rendered.Nodes), res.Dir)
			}
			return nil
		},
	}
}

// buildJSON is build --format json: what was written, or why not.
type buildJSON struct {
	Format   int           `json:"format"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error"` // "" when ok
	BuildID  string        `json:"build_id"`
	Cluster  string        `json:"cluster"`
	Dir      string        `json:"dir"`
	Nodes    []string      `json:"nodes"`
	Problems []jsonProblem `json:"problems"` // spec errors of a refused spec, warnings of a build
}

func buildDoc(res *pipeline.Result, err error) buildJSON {
	doc := buildJSON{Format: jsonFormat, OK: err == nil, Nodes: []string{}, Problems: []jsonProblem{}}
	if err != nil {
		doc.Error = err.Error()
		var specErr *cluster.SpecError
		if errors.As(err, &specErr) {
			doc.Problems = jsonProblems(specErr.Problems, nil)
		}
		return doc
	}
	doc.BuildID, doc.Dir = res.BuildID, res.Dir
	doc.Cluster = res.Rendered.Spec.Cluster.Name
	for _, n := range res.Rendered.Nodes {
		doc.Nodes = append(doc.Nodes, n.Name)
	}
	doc.Problems = jsonProblems(res.Rendered.Warnings, nil)
	return doc
}

// caughtSignal is the cause of a build stopped by a signal.
type caughtSignal struct{ sig syscall.Signal }

func (s caughtSignal) Error() string { return unix.SignalName(s.sig) }

// interruptible is a context that SIGINT or SIGTERM ends, with the signal as
// its cause: the build then removes its temporary directory and returns. A
// second signal stops the process at once (the next build removes what it
// left). stop ends the watch.
func interruptible(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			sig, _ := s.(syscall.Signal)
			fmt.Fprintf(stderr, "pgha-bundle: %s: stopping the build and removing its temporary directory (a second signal stops at once)\n", unix.SignalName(sig))
			cancel(caughtSignal{sig})
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}
