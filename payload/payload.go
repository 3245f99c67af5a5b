// Package payload is the node payload: the list of files one node receives.
// The config tree, the install bundle and the seed ISO are encodings of it, and
// diff compares payloads whatever they were read from.
package payload

import (
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
	// Secret marks content that holds passwords or keys: shown only as a hash.
	Secret  bool
	Content []byte
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
}

// EntryOf describes f for a manifest.
func EntryOf(f File) Entry {
	sum := sha256.Sum256(f.Content)
	return Entry{
		Path:   f.Path,
		Mode:   fmt.Sprintf("%04o", f.Mode.Perm()),
		Owner:  f.Owner,
		Group:  f.Group,
		Size:   int64(len(f.Content)),
		SHA256: hex.EncodeToString(sum[:]),
		Secret: f.Secret,
	}
}
