package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// stdin is what `-f -` reads; tests replace it.
var stdin io.Reader = os.Stdin

// stdinName names a spec read from standard input in problems.
const stdinName = "<stdin>"

// loadSpec loads the spec at path, or from standard input when path is "-"
// (its relative paths are then relative to the working directory). The
// name returned is the one problems carry.
func loadSpec(path string) (*cluster.Spec, cluster.Problems, string, error) {
	if path != "-" {
		s, ps, err := cluster.Load(path)
		return s, ps, path, err
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return nil, nil, stdinName, fmt.Errorf("read spec from standard input: %w", err)
	}
	s, ps, err := cluster.Parse(stdinName, data)
	return s, ps, stdinName, err
}

// errBuildStdin refuses `build -f -`: the build records the spec file's
// digest in the manifest, refuses an output holding it, resolves
// packages.dir and the default secrets file beside it, and a later build
// must read the same file again.
var errBuildStdin = fmt.Errorf("build -f -: the build needs the spec as a file (the manifest records it, packages.dir and the secrets file are found beside it, and later builds must read it again); save it first, e.g. pgha-bundle init -o cluster.yaml, then build -f cluster.yaml")

// quietFlag silences what a command prints on success; problems, warnings
// and errors still go to standard error.
func quietFlag() cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing on success (problems and warnings still go to standard error)"}
}
