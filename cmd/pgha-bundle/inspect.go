package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "list what a seed ISO, a bundle or a build output holds, or print one file",
		UsageText: "pgha-bundle inspect [--show-secrets] PATH [[NODE:]FILE]",
		Description: "Without FILE, lists every node's files (mode, owner:group, size, short sha256, path), seed files\n" +
			"and packages. FILE is an absolute path on the node or seed:NAME (seed:user-data), prefixed with\n" +
			"NODE: when PATH holds several nodes. The secret values the build recorded are redacted unless\n" +
			"--show-secrets; a private key, or a secret file of a build that recorded none, is redacted whole.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "show-secrets", Usage: "print secret values as they are"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return exitWith(exitUsage, fmt.Errorf("inspect wants a path and at most one file (usage: %s)", c.Command.UsageText))
			}
			side, err := sideLoaders(pipeline.Options{}).Load(c.Args().Get(0))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			if c.NArg() == 1 {
				return listSide(c.App.Writer, side)
			}
			f, err := findFile(side, c.Args().Get(1))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			content := f.Content
			if !c.Bool("show-secrets") {
				var note string
				content, note = diff.RedactFile(side, f)
				if note != "" {
					fmt.Fprintf(c.App.ErrWriter, "note: %s\n", note)
				}
			}
			if _, err := c.App.Writer.Write(content); err != nil {
				return exitWith(exitUsage, err)
			}
			return nil
		},
	}
}

func listSide(w io.Writer, side *diff.Side) error {
	fmt.Fprintf(w, "%s (%s)\n", side.Label, side.Kind)
	for _, n := range side.Nodes {
		fmt.Fprintf(w, "node %s\n", n.Name)
		for _, f := range n.Files {
			listFile(w, f, f.Path)
		}
		for _, f := range n.Seed {
			listFile(w, f, "seed:"+f.Path)
		}
		for _, p := range n.Packages {
			fmt.Fprintf(w, "  package %s %s\n", p.Name, p.NEVRA)
		}
	}
	return nil
}

func listFile(w io.Writer, f payload.File, shown string) {
	owner := f.Owner + ":" + f.Group
	if owner == ":" {
		owner = "-"
	}
	secret := ""
	if f.Secret {
		secret = "  (secret)"
	}
	fmt.Fprintf(w, "  %s %-18s %7d %s  %s%s\n", payload.FormatMode(f.Mode), owner, len(f.Content), diff.ShortHash(f.Content), shown, secret)
}

// findFile resolves [NODE:]PATH in side.
func findFile(side *diff.Side, spec string) (payload.File, error) {
	node, p := "", spec
	if !strings.HasPrefix(spec, "/") && !strings.HasPrefix(spec, "seed:") {
		var ok bool
		node, p, ok = strings.Cut(spec, ":")
		if !ok {
			return payload.File{}, fmt.Errorf("file %q: want an absolute path, seed:NAME, or NODE:PATH", spec)
		}
	}
	var n *diff.Node
	for i := range side.Nodes {
		if node == "" || side.Nodes[i].Name == node {
			if n != nil {
				return payload.File{}, fmt.Errorf("file %q: %s holds several nodes, name one as NODE:%s", spec, side.Label, p)
			}
			n = &side.Nodes[i]
		}
	}
	if n == nil {
		return payload.File{}, fmt.Errorf("file %q: no node %q in %s", spec, node, side.Label)
	}
	files := n.Files
	if name, ok := strings.CutPrefix(p, "seed:"); ok {
		files, p = n.Seed, name
	}
	for _, f := range files {
		if f.Path == p {
			return f, nil
		}
	}
	return payload.File{}, fmt.Errorf("file %q: node %s has no such file", spec, n.Name)
}
