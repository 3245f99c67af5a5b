package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/diff/source"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
)

// clock is when a spec-side diff issues the certificates the next build
// would; tests fix it so their output is stable.
var clock = time.Now

// errDiffer is the exit-1 result of a diff that found differences: nothing
// more to print.
var errDiffer = errors.New("")

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what changes, per node and file, between two builds, bundles, seed ISOs or specs",
		UsageText: "pgha-bundle diff [--format text|json] [--color auto|always|never] [--stat] A B",
		Description: "A and B are each a build output directory (with manifest.json), a node bundle (.tar.gz, .tgz),\n" +
			"a seed ISO (.iso) or a cluster spec (.yaml, .yml). YAML files are compared as data and shown as\n" +
			"key paths; other text as a unified diff; secrets only as short sha256 hashes.\n" +
			"Exit status: 0 identical, 1 different, 2 error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output format: text or json"},
			&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour the text output: auto (on a terminal), always or never"},
			&cli.BoolFlag{Name: "stat", Usage: "one line per changed file"},
			&cli.StringFlag{Name: "packages", Usage: "for a spec side: the RPM directory (default: the spec's packages.dir)"},
			&cli.StringSliceFlag{Name: "key", Usage: "for a spec side: an OpenPGP public key the RPMs are signed with (repeatable)"},
			&cli.StringFlag{Name: "secrets", Usage: "for a spec side: the secrets file (default: <spec>.secrets.yaml); never created"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return exitWith(exitUsage, fmt.Errorf("diff wants two paths, got %d (usage: %s)", c.NArg(), c.Command.UsageText))
			}
			opts, err := diffOptions(c.String("format"), c.String("color"), c.Bool("stat"), c.App.Writer)
			if err != nil {
				return exitWith(exitUsage, err)
			}
			loaders := sideLoaders(pipeline.Options{
				PackagesDir: c.String("packages"), Keys: c.StringSlice("key"), SecretsPath: c.String("secrets"),
				Now: clock(),
			})
			a, err := loaders.Load(c.Args().Get(0))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			b, err := loaders.Load(c.Args().Get(1))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			res := diff.Compare(a, b)
			if err := diff.Write(c.App.Writer, &res, opts); err != nil {
				return exitWith(exitUsage, err)
			}
			if res.Differ() {
				return exitWith(exitFailed, errDiffer)
			}
			return nil
		},
	}
}

// sideLoaders are the readers diff and inspect use for each kind of path;
// a spec is previewed with opts, as build would render it.
func sideLoaders(opts pipeline.Options) diff.Loaders {
	return source.Loaders(specPreview(opts))
}

// specPreview renders a spec side with the pipeline's side-effect-free
// preview: nothing is written, created or locked.
func specPreview(opts pipeline.Options) source.SpecRenderer {
	return func(specPath string) (*source.RenderedSpec, error) {
		o := opts
		o.SpecPath = specPath
		r, err := pipeline.Preview(o)
		if err != nil {
			return nil, err
		}
		return &source.RenderedSpec{Spec: r.Spec, Nodes: r.Nodes, Packages: r.Packages.Packages}, nil
	}
}

func diffOptions(format, color string, stat bool, w io.Writer) (diff.Options, error) {
	var o diff.Options
	switch format {
	case "text":
	case "json":
		o.JSON = true
	default:
		return o, fmt.Errorf("--format %q: want text or json", format)
	}
	switch color {
	case "auto":
		o.Color = isTerminal(w)
	case "always":
		o.Color = true
	case "never":
	default:
		return o, fmt.Errorf("--color %q: want auto, always or never", color)
	}
	o.Stat = stat
	return o, nil
}

// isTerminal reports whether w is a character device (a terminal), without
// a module for it: colour is only a nicety.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
