package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "list what a seed ISO, a bundle or a build output holds, or print one file",
		UsageText: "pgha-bundle inspect [--show-secrets] [--format text|json] PATH [[NODE:]FILE]",
		Description: "Without FILE, lists every node's files (mode, owner:group, size, short sha256, path), seed files\n" +
			"and packages. FILE is an absolute path on the node or seed:NAME (seed:user-data), prefixed with\n" +
			"NODE: when PATH holds several nodes. The secret values the build recorded are redacted unless\n" +
			"--show-secrets; a private key, or a secret file of a build that recorded none, is redacted whole.\n" +
			"--format json prints the listing as one JSON document (docs/cli.md).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "show-secrets", Usage: "print secret values as they are"},
			formatFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return exitWith(exitUsage, fmt.Errorf("inspect wants a path and at most one file (usage: %s)", c.Command.UsageText))
			}
			asJSON, err := wantJSON(c)
			if err != nil {
				return err
			}
			if asJSON && c.NArg() == 2 {
				return exitWith(exitUsage, fmt.Errorf("--format json lists what PATH holds; a FILE is printed as it is: leave out --format json, or FILE"))
			}
			side, err := sideLoaders(pipeline.Options{}).Load(c.Args().Get(0))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			if c.NArg() == 1 {
				if asJSON {
					return writeJSON(c.App.Writer, inspectDoc(side))
				}
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

// inspectJSON is inspect --format json: the listing.
type inspectJSON struct {
	Format int               `json:"format"`
	Path   string            `json:"path"`
	Kind   string            `json:"kind"` // build, bundle, iso or spec
	Nodes  []inspectNodeJSON `json:"nodes"`
}

type inspectNodeJSON struct {
	Name     string            `json:"name"`
	Files    []inspectFileJSON `json:"files"`
	Seed     []inspectFileJSON `json:"seed"`
	Packages []rpm.Package     `json:"packages"`
}

type inspectFileJSON struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"` // octal permission bits, e.g. "0640"
	Owner  string `json:"owner"`
	Group  string `json:"group"`
	Size   int    `json:"size"`
	Digest string `json:"digest"` // "sha256:" and the first 8 hex digits, as the text listing shows
	Secret bool   `json:"secret"`
}

func inspectDoc(side *diff.Side) inspectJSON {
	doc := inspectJSON{Format: jsonFormat, Path: side.Label, Kind: string(side.Kind), Nodes: []inspectNodeJSON{}}
	files := func(fs []payload.File) []inspectFileJSON {
		out := []inspectFileJSON{}
		for _, f := range fs {
			out = append(out, inspectFileJSON{f.Path, payload.FormatMode(f.Mode), f.Owner, f.Group, len(f.Content), diff.ShortHash(f.Content), f.Secret})
		}
		return out
	}
	for _, n := range side.Nodes {
		pk := append([]rpm.Package{}, n.Packages...)
		doc.Nodes = append(doc.Nodes, inspectNodeJSON{Name: n.Name, Files: files(n.Files), Seed: files(n.Seed), Packages: pk})
	}
	return doc
}
