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

// loadSpecData loads the spec at path, or from standard input when path is
// "-" (its relative paths are then relative to the working directory). The
// name returned is the one problems carry; data is what standard input
// held (nil for a file), for the pipeline to parse again.
func loadSpecData(path string) (*cluster.Spec, cluster.Problems, string, []byte, error) {
	if path != "-" {
		s, ps, err := cluster.Load(path)
		return s, ps, path, nil, err
	}
	name, data, err := specInput(path)
	if err != nil {
		return nil, nil, name, nil, err
	}
	s, ps, err := cluster.Parse(name, data)
	return s, ps, name, data, err
}

// specInput reads the spec named by -f: for "-" it returns standard input's
// content and the name problems give it; for a file, its path and nil (the
// pipeline reads it).
func specInput(path string) (string, []byte, error) {
	if path != "-" {
		return path, nil, nil
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return stdinName, nil, fmt.Errorf("read spec from standard input: %w", err)
	}
	if data == nil {
		data = []byte{}
	}
	return stdinName, data, nil
}

// specFlag is -f of every command that reads a spec.
func specFlag() cli.Flag {
	return &cli.StringFlag{Name: "file", Aliases: []string{"f"}, Value: "cluster.yaml", Usage: "the cluster spec `FILE` (- for standard input)", TakesFile: true}
}

// errStdinSecrets refuses a spec from standard input without --secrets: the
// default secrets file is found beside the spec, and a later build must
// find the same one.
var errStdinSecrets = fmt.Errorf("-f -: a spec read from standard input has no secrets file beside it; name the cluster's secrets file with --secrets FILE (the first build creates it)")

// quietFlag silences what a command prints on success; problems, warnings
// and errors still go to standard error.
func quietFlag() cli.Flag {
	return &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing on success (problems and warnings still go to standard error)"}
}
