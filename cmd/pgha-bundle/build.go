package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/build"
	"github.com/pgha-bundle/pgha-bundle/cluster"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "verify the packages and write every node's configs, install bundle and seed ISO",
		UsageText: "pgha-bundle build [-f cluster.yaml] [--packages DIR] [--key FILE]... [--out DIR] [--secrets FILE]\n" +
			"                  [--base-provides FILE] [--seed-without-packages]",
		Description: "Loads and validates the spec, verifies every RPM of the packages directory (digests and\n" +
			"signatures against the keys), takes the component paths from the packages' file lists, renders\n" +
			"every node's files, cross-checks them, and writes OUT/<cluster>/:\n" +
			"   nodes/<node>/<path on node>   the plain rendered configs (compare builds with pgha-bundle diff)\n" +
			"   bundles/<node>.tar.gz         the offline install bundle (install.sh, upgrade.sh, uninstall.sh)\n" +
			"   seeds/<node>.iso              the cloud-init NoCloud seed (label cidata)\n" +
			"   manifest.json, SHA256SUMS\n" +
			"The output is written beside OUT/<cluster> and renamed into place: a failed build leaves the\n" +
			"previous one intact. Secrets are generated at the first build into the secrets file (mode 0600)\n" +
			"and reused afterwards. The same inputs give byte-identical outputs (SOURCE_DATE_EPOCH sets the\n" +
			"timestamps).\n\n" +
			"Examples:\n" +
			"   pgha-bundle build -f cluster.yaml --packages ./rpms --key RPM-GPG-KEY-vendor\n" +
			"   pgha-bundle build --out /srv/pgha --seed-without-packages   # images that carry the RPMs\n" +
			"   pgha-bundle build --base-provides el7-provides.txt          # check requires against the image",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Value: "cluster.yaml", Usage: "the cluster spec `FILE`", TakesFile: true},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "out", Usage: "output `DIR`; the build goes to DIR/<cluster>"},
			&cli.StringFlag{Name: "secrets", Usage: "secrets `FILE` (default: <spec>.secrets.yaml beside the spec)", TakesFile: true},
			&cli.StringFlag{Name: "packages", Usage: "RPM `DIR` (default: packages.dir of the spec)", TakesFile: true},
			&cli.StringSliceFlag{Name: "key", Usage: "OpenPGP public key `FILE` the RPMs must be signed with (repeatable; default: packages.keys)", TakesFile: true},
			&cli.StringFlag{Name: "base-provides", Usage: "`FILE` with `rpm -qa --provides` of the target image: fail on requires it lacks", TakesFile: true},
			&cli.BoolFlag{Name: "seed-without-packages", Usage: "leave the RPMs out of the bundle inside each seed ISO (images that carry them)"},
			&cli.StringSliceFlag{Name: "install-arg", Usage: "extra `FLAG` for install.sh when the seed runs it, checked against the flags install.sh takes (test images only, e.g. --skip-os-check)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitWith(exitUsage, fmt.Errorf("build takes no arguments; name the spec with -f (usage: %s)", c.Command.UsageText))
			}
			res, err := build.Run(build.Options{
				SpecPath:            c.String("file"),
				OutDir:              c.String("out"),
				SecretsPath:         c.String("secrets"),
				PackagesDir:         c.String("packages"),
				Keys:                c.StringSlice("key"),
				BaseProvides:        c.String("base-provides"),
				SeedWithoutPackages: c.Bool("seed-without-packages"),
				InstallArgs:         c.StringSlice("install-arg"),
				Version:             version,
				Log:                 c.App.Writer,
			})
			var specErr *cluster.SpecError
			if errors.As(err, &specErr) {
				for _, p := range specErr.Problems {
					fmt.Fprintln(c.App.ErrWriter, p)
				}
				return exitWith(exitUsage, fmt.Errorf("build stopped: %s; the previous output is unchanged", plural(len(specErr.Problems.Errors()), "spec error")))
			}
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("build failed; the previous output is unchanged:\n%w", err))
			}
			fmt.Fprintf(c.App.Writer, "build %s of %d nodes in %s\n", res.BuildID, len(res.Rendered.Nodes), res.Dir)
			return nil
		},
	}
}
