// Package payload is the node payload: the list of files one node receives.
// The config tree, the install bundle and the seed ISO are encodings of it, and
// diff compares payloads whatever they were read from.
package payload

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
)

// File is one file a node receives.
type File struct {
	// Path is the absolute path on the node, slash-separated and clean.
	Path string
	// Mode holds the permission bits only.
	Mode fs.FileMode
	// Owner and Group are names, resolved on the node.
	Owner string
	Group string
	// Secret marks content that holds passwords or keys.
	Secret bool
	// Spans are the byte ranges of Content that hold secret values, sorted
	// and disjoint: diff and inspect hide exactly these. The renderer records
	// every place a value of the secrets file lands (a private key file is
	// one span over the whole content). A Secret file without Spans comes
	// from a manifest written before spans were recorded: it is hidden whole.
	Spans   []Span
	Content []byte
}

// Span is the byte range [start, end) of a file's content that holds one
// secret value; manifests write it as [start, end].
type Span [2]int

// FindSecrets returns the spans of content that hold any of values: every
// occurrence of each, overlapping ones merged, in order. Empty values are
// ignored.
func FindSecrets(content []byte, values []string) []Span {
	var spans []Span
	for _, v := range values {
		if v == "" {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(content[off:], []byte(v))
			if i < 0 {
				break
			}
			spans = append(spans, Span{off + i, off + i + len(v)})
			off += i + 1
		}
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i][0] != spans[j][0] {
			return spans[i][0] < spans[j][0]
		}
		return spans[i][1] > spans[j][1]
	})
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && s[0] < out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}

// CheckSpans reports spans that are not sorted, disjoint, non-empty and
// within size bytes: a manifest that says so is damaged or edited.
func CheckSpans(spans []Span, size int) error {
	prev := 0
	for _, s := range spans {
		if s[0] < prev || s[1] <= s[0] || s[1] > size {
			return fmt.Errorf("secret span [%d, %d] is not sorted, disjoint and within the file's %d bytes", s[0], s[1], size)
		}
		prev = s[1]
	}
	return nil
}

// SecretsLocated reports whether the places of f's secrets are known: f is
// not secret, or it records its spans. A secret file read from a manifest
// older than spans is not, and is hidden whole.
func (f File) SecretsLocated() bool { return !f.Secret || len(f.Spans) > 0 }

// SecretWhole reports whether all of f's content is to be hidden: its
// secrets are not located, or one span covers it (a private key).
func (f File) SecretWhole() bool {
	if !f.Secret {
		return false
	}
	return len(f.Spans) == 0 || (len(f.Spans) == 1 && f.Spans[0] == Span{0, len(f.Content)})
}

// SecretValues returns the bytes of each span of f.
func (f File) SecretValues() []string {
	out := make([]string, 0, len(f.Spans))
	for _, s := range f.Spans {
		if s[0] >= 0 && s[0] < s[1] && s[1] <= len(f.Content) {
			out = append(out, string(f.Content[s[0]:s[1]]))
		}
	}
	return out
}

// Node is the payload of one cluster member, files sorted by Path.
type Node struct {
	Name  string
	Files []File
}

// Add appends a file; Sort must be called once all files are in.
func (n *Node) Add(f File) { n.Files = append(n.Files, f) }

// Sort orders the files by path so every encoding is deterministic, and
// rejects relative, unclean or duplicate paths.
func (n *Node) Sort() error {
	sort.Slice(n.Files, func(i, j int) bool { return n.Files[i].Path < n.Files[j].Path })
	for i, f := range n.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("node %s: payload path %q is not absolute and clean", n.Name, f.Path)
		}
		if i > 0 && n.Files[i-1].Path == f.Path {
			return fmt.Errorf("node %s: payload path %q appears twice", n.Name, f.Path)
		}
	}
	return nil
}

// Lookup returns the file at path p.
func (n *Node) Lookup(p string) (File, bool) {
	i := sort.Search(len(n.Files), func(i int) bool { return n.Files[i].Path >= p })
	if i < len(n.Files) && n.Files[i].Path == p {
		return n.Files[i], true
	}
	return File{}, false
}

// Entry describes one output file in a manifest: build, bundle and diff share it.
// Path is relative to the manifest's directory for output trees, or the
// absolute path on the node for payload files.
type Entry struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"` // octal, e.g. "0600"
	Owner  string `json:"owner,omitempty"`
	Group  string `json:"group,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Secret bool   `json:"secret,omitempty"`
	// SecretSpans locate the secret values in the content (File.Spans).
	SecretSpans []Span `json:"secret_spans,omitempty"`
}

// SHA256Hex is the lowercase hex SHA-256 of b, as every manifest writes it.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// EntryOf describes f for a manifest.
func EntryOf(f File) Entry {
	return Entry{
		Path:   f.Path,
		Mode:   FormatMode(f.Mode),
		Owner:  f.Owner,
		Group:  f.Group,
		Size:   int64(len(f.Content)),
		SHA256: SHA256Hex(f.Content),
		Secret: f.Secret,
		// Spans are the renderer's knowledge of where the secrets are.
		SecretSpans: f.Spans,
	}
}
