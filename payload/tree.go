package payload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Entries describes every file of n, in path order.
func (n *Node) Entries() []Entry {
	es := make([]Entry, len(n.Files))
	for i, f := range n.Files {
		es[i] = EntryOf(f)
	}
	return es
}

// FormatMode writes the permission bits of m as four octal digits ("0640").
func FormatMode(m fs.FileMode) string { return fmt.Sprintf("%04o", uint32(m.Perm())) }

// ParseMode reads the octal permission bits FormatMode writes.
func ParseMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("mode %q: want octal permission bits such as 0640", s)
	}
	return fs.FileMode(v), nil
}

// WriteTree writes the files of n under dir, each at dir + its absolute path on
// the node, with its mode. dir must not exist or be empty, so a tree never
// keeps a file from an earlier build; directories are made 0755. Owner, group
// and the secret flag are not kept: they belong in the manifest (Entries).
func WriteTree(dir string, n Node) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("config tree %s: directory is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config tree %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("config tree %s: %w", dir, err)
	}
	for _, f := range n.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return fmt.Errorf("config tree %s: payload path %q is not absolute and clean", dir, f.Path)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("config tree %s: %w", dir, err)
		}
		if err := os.WriteFile(p, f.Content, 0o600); err != nil {
			return fmt.Errorf("config tree %s: %w", dir, err)
		}
		// Chmod after the write: the umask must not change what the tree says.
		if err := os.Chmod(p, f.Mode.Perm()); err != nil {
			return fmt.Errorf("config tree %s: %w", dir, err)
		}
	}
	return nil
}

// ReadTree reads a config tree WriteTree wrote: every regular file under dir
// becomes a payload file at its path relative to dir, with its permission
// bits. The node is named after dir. Symbolic links and other special files are
// refused: a tree only ever holds regular files. Owner, group and Secret are left
// empty; ApplyEntries fills them from a manifest.
func ReadTree(dir string) (Node, error) {
	n := Node{Name: filepath.Base(filepath.Clean(dir))}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		content, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n.Add(File{Path: "/" + filepath.ToSlash(rel), Mode: info.Mode().Perm(), Content: content})
		return nil
	})
	if err != nil {
		return Node{}, fmt.Errorf("config tree %s: %w", dir, err)
	}
	if err := n.Sort(); err != nil {
		return Node{}, fmt.Errorf("config tree %s: %w", dir, err)
	}
	return n, nil
}

// ApplyEntries sets owner, group, mode, the secret flag and spans of every file of n
// from a manifest's entries, after checking that both list the same paths and
// that each file's sha256 and size match: a tree edited by hand, or a manifest
// from another build, is an error rather than a silent mix.
func (n *Node) ApplyEntries(es []Entry) error {
	byPath := make(map[string]Entry, len(es))
	for _, e := range es {
		byPath[e.Path] = e
	}
	var problems []string
	for i := range n.Files {
		f := &n.Files[i]
		e, ok := byPath[f.Path]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: not in the manifest", f.Path))
			continue
		}
		delete(byPath, f.Path)
		if got := SHA256Hex(f.Content); !strings.EqualFold(got, e.SHA256) {
			problems = append(problems, fmt.Sprintf("%s: sha256 %s, manifest says %s", f.Path, got, e.SHA256))
			continue
		}
		mode, err := ParseMode(e.Mode)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Path, err))
			continue
		}
		if err := CheckSpans(e.SecretSpans, len(f.Content)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Path, err))
			continue
		}
		f.Mode, f.Owner, f.Group, f.Secret, f.Spans = mode, e.Owner, e.Group, e.Secret || len(e.SecretSpans) > 0, e.SecretSpans
	}
	missing := make([]string, 0, len(byPath))
	for p := range byPath {
		missing = append(missing, p)
	}
	sort.Strings(missing)
	for _, p := range missing {
		problems = append(problems, fmt.Sprintf("%s: in the manifest but missing", p))
	}
	if len(problems) > 0 {
		return fmt.Errorf("node %s: %s", n.Name, strings.Join(problems, "; "))
	}
	return nil
}
