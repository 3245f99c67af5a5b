package diff

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Options say how a Result is written.
type Options struct {
	// JSON writes the Result as indented JSON; Stat and Color are then ignored.
	JSON bool
	// Stat writes one line per file (and per package) instead of the changes.
	Stat bool
	// Color adds ANSI colours.
	Color bool
}

// Write prints res to w.
func Write(w io.Writer, res *Result, o Options) error {
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("write diff: %w", err)
		}
		return nil
	}
	bw := bufio.NewWriter(w)
	p := &printer{w: bw, color: o.Color}
	if o.Stat {
		p.stat(res)
	} else {
		p.text(res)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write diff: %w", err)
	}
	return nil
}

const (
	red     = "31"
	green   = "32"
	yellow  = "33"
	magenta = "35"
	cyan    = "36"
	bold    = "1"
)

type printer struct {
	w     *bufio.Writer
	color bool
}

func (p *printer) paint(code, s string) string {
	if !p.color || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p *printer) line(format string, args ...any) {
	fmt.Fprintf(p.w, format+"\n", args...)
}

func statusMark(st Status) (string, string) {
	switch st {
	case Added:
		return "+", green
	case Removed:
		return "-", red
	}
	return "~", yellow
}

func (p *printer) header(res *Result) {
	p.line("%s", p.paint(bold, fmt.Sprintf("--- %s (%s)", res.A.Label, res.A.Kind)))
	p.line("%s", p.paint(bold, fmt.Sprintf("+++ %s (%s)", res.B.Label, res.B.Kind)))
}

func (p *printer) text(res *Result) {
	p.header(res)
	if !res.Differ() {
		p.line("no differences")
	}
	for _, nd := range res.Nodes {
		mark, c := statusMark(nd.Status)
		p.line("%s", p.paint(bold+";"+c, fmt.Sprintf("%s node %s: %s", mark, nd.Name, nd.Status)))
		for _, fd := range nd.Files {
			p.file(fd)
		}
		if len(nd.Packages) > 0 {
			p.line("  packages:")
			for _, pc := range nd.Packages {
				p.line("    %s", p.paint(packageColor(pc), packageText(pc)))
			}
		}
	}
	p.tail(res)
}

func packageColor(pc PackageChange) string {
	switch {
	case pc.Old == "":
		return green
	case pc.New == "":
		return red
	}
	return yellow
}

func packageText(pc PackageChange) string {
	switch {
	case pc.Old == "":
		return fmt.Sprintf("+ %s %s", pc.Name, pc.New)
	case pc.New == "":
		return fmt.Sprintf("- %s %s", pc.Name, pc.Old)
	}
	return fmt.Sprintf("~ %s: %s → %s", pc.Name, pc.Old, pc.New)
}

// fileFacts is the one-line summary of a file: mode, owner, size and hash
// changes, and the secret flag.
func fileFacts(fd FileDiff) string {
	var parts []string
	if fd.Status != Changed {
		side := func(c *Change) string {
			if fd.Status == Added {
				return c.New
			}
			return c.Old
		}
		size := fd.Size.Old
		if fd.Status == Added {
			size = fd.Size.New
		}
		parts = append(parts, side(fd.Mode))
		if o := side(fd.Owner); o != "" {
			parts = append(parts, o)
		}
		parts = append(parts, fmt.Sprintf("%d bytes", size), side(fd.SHA256))
	} else {
		if fd.Mode != nil {
			parts = append(parts, fmt.Sprintf("mode %s → %s", fd.Mode.Old, fd.Mode.New))
		}
		if fd.Owner != nil {
			parts = append(parts, fmt.Sprintf("owner %s → %s", fd.Owner.Old, fd.Owner.New))
		}
		if fd.SHA256 != nil {
			parts = append(parts, fmt.Sprintf("%s → %s", fd.SHA256.Old, fd.SHA256.New))
		}
	}
	if fd.Secret {
		parts = append(parts, "secret")
	}
	return strings.Join(parts, ", ")
}

func (p *printer) file(fd FileDiff) {
	mark, c := statusMark(fd.Status)
	p.line("  %s  (%s)", p.paint(c, mark+" "+fd.Path), fileFacts(fd))
	for _, k := range fd.Keys {
		p.key(k)
	}
	p.hunks("      ", fd.Hunks)
}

func (p *printer) key(k KeyChange) {
	old, nw := "(absent)", "(absent)"
	if k.Old != nil {
		old = *k.Old
	}
	if k.New != nil {
		nw = *k.New
	}
	suffix := ""
	if k.Secret {
		suffix = " (secret)"
	}
	c := yellow
	switch {
	case k.Old == nil:
		c = green
	case k.New == nil:
		c = red
	}
	if len(k.Hunks) > 0 {
		p.line("      %s", p.paint(c, k.Key+": text changed"))
		p.hunks("        ", k.Hunks)
		return
	}
	p.line("      %s", p.paint(c, fmt.Sprintf("%s: %s → %s%s", k.Key, old, nw, suffix)))
}

func (p *printer) hunks(indent string, hs []Hunk) {
	for _, h := range hs {
		p.line("%s%s", indent, p.paint(cyan, h.Header))
		for _, l := range h.Lines {
			switch {
			case strings.HasPrefix(l, "+"):
				l = p.paint(green, l)
			case strings.HasPrefix(l, "-"):
				l = p.paint(red, l)
			}
			p.line("%s%s", indent, l)
		}
	}
}

// tail prints the consequences and notes.
func (p *printer) tail(res *Result) {
	if len(res.Consequences) > 0 {
		p.line("%s", p.paint(bold, "consequences:"))
		for _, c := range res.Consequences {
			where := strings.Join(c.Nodes, ", ")
			if c.Path != "" {
				where += " " + c.Path
			}
			p.line("  %s %s", p.paint(magenta, "! "+string(c.Kind)+" ("+where+"):"), c.Message)
		}
	}
	for _, n := range res.Notes {
		p.line("note: %s", n)
	}
}

// stat prints one line per file and package, then a count.
func (p *printer) stat(res *Result) {
	p.header(res)
	files, pkgs := 0, 0
	for _, nd := range res.Nodes {
		for _, fd := range nd.Files {
			files++
			mark, c := statusMark(fd.Status)
			p.line("%s %s %s  %s", p.paint(c, mark), nd.Name, fd.Path, statSummary(fd))
		}
		for _, pc := range nd.Packages {
			pkgs++
			p.line("%s %s package %s", p.paint(packageColor(pc), packageText(pc)[:1]), nd.Name, packageText(pc)[2:])
		}
	}
	p.line("%s, %s, %s differ", plural(len(res.Nodes), "node"), plural(files, "file"), plural(pkgs, "package"))
	p.tail(res)
}

func statSummary(fd FileDiff) string {
	if fd.Status != Changed {
		return fileFacts(fd)
	}
	var parts []string
	switch fd.Content {
	case "yaml":
		secret := 0
		for _, k := range fd.Keys {
			if k.Secret {
				secret++
			}
		}
		s := plural(len(fd.Keys), "key")
		if secret > 0 {
			s += fmt.Sprintf(" (%d secret)", secret)
		}
		parts = append(parts, s)
	case "text":
		add, del := 0, 0
		for _, h := range fd.Hunks {
			for _, l := range h.Lines {
				switch {
				case strings.HasPrefix(l, "+"):
					add++
				case strings.HasPrefix(l, "-"):
					del++
				}
			}
		}
		parts = append(parts, fmt.Sprintf("+%d -%d", add, del)+" lines")
	case "binary":
		parts = append(parts, "binary")
	case "secret":
		parts = append(parts, "secret content")
	case "certificate":
		parts = append(parts, "certificate: "+plural(len(fd.Keys), "field"))
	}
	if fd.Mode != nil {
		parts = append(parts, fmt.Sprintf("mode %s → %s", fd.Mode.Old, fd.Mode.New))
	}
	if fd.Owner != nil {
		parts = append(parts, fmt.Sprintf("owner %s → %s", fd.Owner.Old, fd.Owner.New))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
