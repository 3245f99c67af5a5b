package payload

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func sampleNode() Node {
	n := Node{Name: "pg1"}
	n.Add(File{Path: "/etc/patroni/patroni.yml", Mode: 0o600, Owner: "postgres", Group: "postgres", Secret: true, Content: []byte("scope: demo\n")})
	n.Add(File{Path: "/etc/etcd/etcd.conf.yml", Mode: 0o640, Owner: "root", Group: "etcd", Content: []byte("name: pg1\n")})
	n.Add(File{Path: "/etc/pgha-bundle/node.env", Mode: 0o644, Owner: "root", Group: "root", Content: []byte("PGHA_NODE='pg1'\n")})
	n.Add(File{Path: "/etc/pgha-bundle/empty", Mode: 0o755, Owner: "root", Group: "root"})
	if err := n.Sort(); err != nil {
		panic(err)
	}
	return n
}

func TestTreeRoundTrip(t *testing.T) {
	old := syscall.Umask(0o077) // the tree must keep modes whatever the umask
	defer syscall.Umask(old)
	want := sampleNode()
	dir := filepath.Join(t.TempDir(), "pg1")
	if err := WriteTree(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "pg1" || len(got.Files) != len(want.Files) {
		t.Fatalf("read %s with %d files, want pg1 with %d", got.Name, len(got.Files), len(want.Files))
	}
	for i, f := range got.Files {
		w := want.Files[i]
		if f.Path != w.Path || f.Mode != w.Mode || !bytes.Equal(f.Content, w.Content) {
			t.Errorf("file %d: got %s %o %q, want %s %o %q", i, f.Path, f.Mode, f.Content, w.Path, w.Mode, w.Content)
		}
		if f.Owner != "" || f.Secret {
			t.Errorf("%s: a tree cannot know owner or secret, got %q %v", f.Path, f.Owner, f.Secret)
		}
	}
	if err := got.ApplyEntries(want.Entries()); err != nil {
		t.Fatal(err)
	}
	for i, f := range got.Files {
		w := want.Files[i]
		if f.Owner != w.Owner || f.Group != w.Group || f.Secret != w.Secret || f.Mode != w.Mode {
			t.Errorf("%s after ApplyEntries: %s:%s secret=%v %o, want %s:%s secret=%v %o",
				f.Path, f.Owner, f.Group, f.Secret, f.Mode, w.Owner, w.Group, w.Secret, w.Mode)
		}
	}
}

func TestWriteTreeRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
		node  Node
		want  string
	}{
		{"non-empty directory", func(dir string) {
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
		}, sampleNode(), "not empty"},
		{"relative path", func(string) {}, Node{Name: "x", Files: []File{{Path: "etc/x"}}}, "not absolute"},
		{"escaping path", func(string) {}, Node{Name: "x", Files: []File{{Path: "/etc/../../x"}}}, "not absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "n")
			tt.setup(dir)
			err := WriteTree(dir, tt.node)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteTree: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReadTreeRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTree(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("ReadTree: %v, want a refusal of the symbolic link", err)
	}
}

func TestApplyEntriesMismatch(t *testing.T) {
	n := sampleNode()
	dir := filepath.Join(t.TempDir(), "pg1")
	if err := WriteTree(dir, n); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(es []Entry) []Entry
		want string
	}{
		{"content edited", func(es []Entry) []Entry { es[0].SHA256 = strings.Repeat("0", 64); return es }, "sha256"},
		{"file missing from tree", func(es []Entry) []Entry { return append(es, Entry{Path: "/etc/gone", Mode: "0644"}) }, "/etc/gone: in the manifest but missing"},
		{"file missing from manifest", func(es []Entry) []Entry { return es[1:] }, "not in the manifest"},
		{"bad mode", func(es []Entry) []Entry { es[1].Mode = "rw-r--r--"; return es }, "want octal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTree(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = got.ApplyEntries(tt.edit(n.Entries()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ApplyEntries: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want os.FileMode
		ok   bool
	}{{"0640", 0o640, true}, {"600", 0o600, true}, {"1777", 0, false}, {"0x1", 0, false}, {"", 0, false}} {
		got, err := ParseMode(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMode(%q) = %o, %v", tt.in, got, err)
		}
	}
}
