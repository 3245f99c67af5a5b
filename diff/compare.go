// Package diff compares the node payloads of two sources (build output
// directories, bundles, seed ISOs, cluster specs): per node and per file, what
// is added, removed or changed, with YAML compared as data and shown as key
// paths, other text as a unified diff, and secrets never shown, only hashed.
// It also calls out the changes that need more than a new file on the node.
package diff

import (
	"bytes"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Status says whether a node or file is added, removed or changed.
type Status string

// The statuses of a node or file that differs.
const (
	Added   Status = "added"
	Removed Status = "removed"
	Changed Status = "changed"
)

// Result is everything that differs between two sides. It holds no secret:
// secret values were replaced by their short hash while it was built.
type Result struct {
	A     SideInfo   `json:"a"`
	B     SideInfo   `json:"b"`
	Nodes []NodeDiff `json:"nodes"`
	// Consequences are the changes that need an action beyond new files.
	Consequences []Consequence `json:"consequences"`
	// Notes say what could not be compared (a part one side does not hold).
	Notes []string `json:"notes,omitempty"`
}

// SideInfo names a side in a Result.
type SideInfo struct {
	Label string `json:"label"`
	Kind  Kind   `json:"kind"`
}

// Differ reports whether the sides differ.
func (r *Result) Differ() bool { return len(r.Nodes) > 0 }

// NodeDiff is one node that differs.
type NodeDiff struct {
	Name     string          `json:"name"`
	Status   Status          `json:"status"`
	Files    []FileDiff      `json:"files,omitempty"`
	Packages []PackageChange `json:"packages,omitempty"`
}

// FileDiff is one file that differs. Content says how a content change is
// shown: "yaml" and "certificate" (Keys), "text" (Hunks), or "binary" and
// "secret" (hashes only).
type FileDiff struct {
	Path    string      `json:"path"`
	Status  Status      `json:"status"`
	Mode    *Change     `json:"mode,omitempty"`
	Owner   *Change     `json:"owner,omitempty"`
	Secret  bool        `json:"secret,omitempty"`
	Size    *SizeChange `json:"size,omitempty"`
	SHA256  *Change     `json:"sha256,omitempty"`
	Content string      `json:"content,omitempty"`
	Keys    []KeyChange `json:"keys,omitempty"`
	Hunks   []Hunk      `json:"hunks,omitempty"`
}

// Change is an old and a new value; one is empty when the thing is added or removed.
type Change struct {
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
}

// SizeChange is a file's size on each side, in bytes.
type SizeChange struct {
	Old int64 `json:"old"`
	New int64 `json:"new"`
}

// PackageChange is an RPM added, removed or at another version.
type PackageChange struct {
	Name string `json:"name"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Compare returns what differs from a to b.
func Compare(a, b *Side) Result {
	r := newRedactor(a, b)
	res := Result{
		A:     SideInfo{a.Label, a.Kind},
		B:     SideInfo{b.Label, b.Kind},
		Nodes: []NodeDiff{},
	}
	an, bn := byName(a), byName(b)
	names := make([]string, 0, len(an)+len(bn))
	for n := range an {
		names = append(names, n)
	}
	for n := range bn {
		if _, ok := an[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var seedSkipped, userDataSkipped, pkgSkipped bool
	for _, name := range names {
		x, y := an[name], bn[name]
		switch {
		case y == nil:
			res.Nodes = append(res.Nodes, wholeNode(x, Removed))
			continue
		case x == nil:
			res.Nodes = append(res.Nodes, wholeNode(y, Added))
			continue
		}
		nd := NodeDiff{Name: name, Status: Changed}
		xf, yf := x.Files, y.Files
		if x.HasSeed && y.HasSeed {
			xs, ys := x.withoutUnmatchedUserData(y), y.withoutUnmatchedUserData(x)
			if len(xs.Seed) != len(x.Seed) || len(ys.Seed) != len(y.Seed) {
				userDataSkipped = true
			}
			xf, yf = xs.all(), ys.all()
		} else if x.HasSeed != y.HasSeed {
			seedSkipped = true
		}
		nd.Files = compareFiles(sortedCopy(xf), sortedCopy(yf), r)
		if x.HasPackages && y.HasPackages {
			nd.Packages = comparePackages(x.Packages, y.Packages)
		} else if x.HasPackages != y.HasPackages {
			pkgSkipped = true
		}
		if len(nd.Files) > 0 || len(nd.Packages) > 0 {
			res.Nodes = append(res.Nodes, nd)
		}
	}
	if userDataSkipped {
		res.Notes = append(res.Notes, "user-data not compared: a spec side has no bundle for it to name (meta-data and network-config are compared)")
	}
	if seedSkipped {
		res.Notes = append(res.Notes, "seed files (user-data, meta-data, network-config) not compared: only one side has them")
	}
	if pkgSkipped {
		res.Notes = append(res.Notes, "packages not compared: only one side lists them")
	}
	for _, s := range []*Side{a, b} {
		if hasUnlocated(s) {
			res.Notes = append(res.Notes, unlocatedNote(s.Label))
		}
	}
	res.Consequences = consequences(&res, an, bn)
	return res
}

func byName(s *Side) map[string]*Node {
	m := make(map[string]*Node, len(s.Nodes))
	for i := range s.Nodes {
		m[s.Nodes[i].Name] = &s.Nodes[i]
	}
	return m
}

func sortedCopy(fs []payload.File) []payload.File {
	out := append([]payload.File(nil), fs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// wholeNode lists every file of a node that only one side has.
func wholeNode(n *Node, st Status) NodeDiff {
	nd := NodeDiff{Name: n.Name, Status: st}
	files := n.Files
	if n.HasSeed {
		files = n.all()
	}
	for _, f := range sortedCopy(files) {
		nd.Files = append(nd.Files, wholeFile(f, st))
	}
	for _, p := range n.Packages {
		pc := PackageChange{Name: p.Name}
		if st == Added {
			pc.New = p.NEVRA
		} else {
			pc.Old = p.NEVRA
		}
		nd.Packages = append(nd.Packages, pc)
	}
	sort.Slice(nd.Packages, func(i, j int) bool { return nd.Packages[i].Name < nd.Packages[j].Name })
	return nd
}

// wholeFile describes a file only one side has: never its content.
func wholeFile(f payload.File, st Status) FileDiff {
	mode, owner, sum := payload.FormatMode(f.Mode), ownerText(f), ShortHash(f.Content)
	fd := FileDiff{Path: f.Path, Status: st, Secret: f.Secret}
	if st == Added {
		fd.Mode, fd.Owner, fd.SHA256 = &Change{New: mode}, &Change{New: owner}, &Change{New: sum}
		fd.Size = &SizeChange{New: int64(len(f.Content))}
	} else {
		fd.Mode, fd.Owner, fd.SHA256 = &Change{Old: mode}, &Change{Old: owner}, &Change{Old: sum}
		fd.Size = &SizeChange{Old: int64(len(f.Content))}
	}
	return fd
}

func ownerText(f payload.File) string {
	if f.Owner == "" && f.Group == "" {
		return ""
	}
	return f.Owner + ":" + f.Group
}

// compareFiles merges two path-sorted file lists.
func compareFiles(xs, ys []payload.File, r *redactor) []FileDiff {
	var out []FileDiff
	i, j := 0, 0
	for i < len(xs) || j < len(ys) {
		switch {
		case j == len(ys) || (i < len(xs) && xs[i].Path < ys[j].Path):
			out = append(out, wholeFile(xs[i], Removed))
			i++
		case i == len(xs) || ys[j].Path < xs[i].Path:
			out = append(out, wholeFile(ys[j], Added))
			j++
		default:
			if fd, ok := compareFile(xs[i], ys[j], r); ok {
				out = append(out, fd)
			}
			i++
			j++
		}
	}
	return out
}

// compareFile compares one file present on both sides; ok is false when
// nothing that matters differs.
func compareFile(x, y payload.File, r *redactor) (FileDiff, bool) {
	fd := FileDiff{Path: x.Path, Status: Changed, Secret: x.Secret || y.Secret}
	differ := false
	if x.Mode.Perm() != y.Mode.Perm() {
		fd.Mode = &Change{payload.FormatMode(x.Mode), payload.FormatMode(y.Mode)}
		differ = true
	}
	// An owner a source does not know (a tree without manifest) is no change.
	if ox, oy := ownerText(x), ownerText(y); ox != oy && ox != "" && oy != "" {
		fd.Owner = &Change{ox, oy}
		differ = true
	}
	if bytes.Equal(x.Content, y.Content) {
		return fd, differ
	}
	if x.SecretWhole() || y.SecretWhole() {
		// A private key, or a secret file whose spans are not recorded:
		// hashes only.
		fd.setContentHashes(x, y)
		fd.Content = "secret"
		return fd, true
	}
	if isYAMLName(x.Path) {
		vx, okx := parseYAML(x.Content)
		vy, oky := parseYAML(y.Content)
		if okx && oky {
			keys := compareYAML(vx, vy, r)
			if len(keys) == 0 {
				return fd, differ // formatting, order or comments only
			}
			fd.Content, fd.Keys = "yaml", keys
			fd.setContentHashes(x, y)
			return fd, true
		}
	}
	fd.setContentHashes(x, y)
	cx, cy := parseCertificate(x.Content), parseCertificate(y.Content)
	switch {
	case cx != nil && cy != nil:
		fd.Content, fd.Keys = "certificate", certificateChanges(cx, cy)
	case !isText(x.Content) || !isText(y.Content):
		fd.Content = "binary"
	default:
		fd.Content = "text"
		fd.Hunks = unified(r.text(string(x.Content)), r.text(string(y.Content)), 3, nil)
	}
	return fd, true
}

func (fd *FileDiff) setContentHashes(x, y payload.File) {
	fd.SHA256 = &Change{ShortHash(x.Content), ShortHash(y.Content)}
	fd.Size = &SizeChange{int64(len(x.Content)), int64(len(y.Content))}
}

// isText reports whether b reads as text: UTF-8 without NUL bytes.
func isText(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

// comparePackages matches RPMs by name.
func comparePackages(xs, ys []rpm.Package) []PackageChange {
	m := map[string]*PackageChange{}
	for _, p := range xs {
		m[p.Name] = &PackageChange{Name: p.Name, Old: p.NEVRA}
	}
	for _, p := range ys {
		if c, ok := m[p.Name]; ok {
			c.New = p.NEVRA
		} else {
			m[p.Name] = &PackageChange{Name: p.Name, New: p.NEVRA}
		}
	}
	var out []PackageChange
	for _, c := range m {
		if c.Old != c.New {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// hasKeyPrefix reports whether key is prefix itself or below it.
func hasKeyPrefix(key, prefix string) bool {
	return key == prefix || strings.HasPrefix(key, prefix+".") || strings.HasPrefix(key, prefix+"[")
}
