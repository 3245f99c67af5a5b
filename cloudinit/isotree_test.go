package cloudinit

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

func treeFile(p string, data []byte) TreeFile {
	return TreeFile{Path: p, Size: int64(len(data)), Write: func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}}
}

// testTree is a packages media's shape: RPM names ISO 9660 alone cannot
// hold, a subdirectory, an empty file and one of several sectors.
func testTree() map[string][]byte {
	return map[string][]byte{
		"SHA256SUMS": []byte("sums\n"),
		"packages/postgresql16-server-16.2-1PGDG.rhel9.x86_64.rpm": bytes.Repeat([]byte("P"), 3*sectorSize+17),
		"packages/etcd-3.5.12-1.el9.x86_64.rpm":                    []byte("etcd"),
		"packages/keys/RPM-GPG-KEY-test":                           []byte("key\n"),
		"packages/empty.rpm":                                       {},
	}
}

func writeTestTree(t *testing.T, p string, tree map[string][]byte) string {
	t.Helper()
	var files []TreeFile
	for name, data := range tree {
		files = append(files, treeFile(name, data))
	}
	sum, err := WriteTreeISO(p, "DEMO_PKGS", files, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestWriteTreeISO: the image reads back through ReadISO with every name,
// size and byte; the same files in another order give the same bytes.
func TestWriteTreeISO(t *testing.T) {
	dir := t.TempDir()
	tree := testTree()
	a := filepath.Join(dir, "a.iso")
	sumA := writeTestTree(t, a, tree)
	b := filepath.Join(dir, "b.iso")
	if sumB := writeTestTree(t, b, tree); sumB != sumA {
		t.Errorf("the same tree gave sha256 %s, then %s", sumA, sumB)
	}
	if got, err := FileSHA256(a); err != nil || got != sumA {
		t.Errorf("sha256 of the image: %s %v, WriteTreeISO said %s", got, err, sumA)
	}
	if label, err := Label(a); err != nil || label != "DEMO_PKGS" {
		t.Errorf("label %q %v", label, err)
	}
	files, err := ReadISO(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tree) {
		t.Errorf("%d files read back, want %d", len(files), len(tree))
	}
	for _, f := range files {
		data, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := tree[f.Name]; !ok || !bytes.Equal(data, want) {
			t.Errorf("%s: read back %d bytes, want %d (in the tree: %v)", f.Name, len(data), len(want), ok)
		}
	}
	if fi, err := os.Stat(a); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v, want 0644: the media holds no secret", fi.Mode(), err)
	}
}

// TestWriteTreeISOWithIsoinfo: another reader (isoinfo, from the cdrtools
// lineage that wrote most Rock Ridge images) sees the same names.
func TestWriteTreeISOWithIsoinfo(t *testing.T) {
	isoinfo := testutil.NeedTool(t, "isoinfo", "genisoimage")
	p := filepath.Join(t.TempDir(), "m.iso")
	tree := testTree()
	writeTestTree(t, p, tree)
	out, err := exec.Command(isoinfo, "-R", "-f", "-i", p).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		got[strings.TrimPrefix(l, "/")] = true
	}
	for name := range tree {
		if !got[name] {
			t.Errorf("isoinfo -R does not list %s:\n%s", name, out)
		}
	}
	for name, data := range tree {
		b, err := exec.Command(isoinfo, "-R", "-i", p, "-x", "/"+name).Output()
		if err != nil || !bytes.Equal(b, data) {
			t.Errorf("isoinfo -x %s: %d bytes (%v), want %d", name, len(b), err, len(data))
		}
	}
}

func TestWriteTreeISORefuses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, label string
		paths       []string
	}{
		{"twice", "L", []string{"a", "a"}},
		{"file and directory", "L", []string{"a", "a/b"}},
		{"not clean", "L", []string{"a/../b"}},
		{"absolute", "L", []string{"/a"}},
		{"control character", "L", []string{"a\nb"}},
		{"long name", "L", []string{strings.Repeat("n", maxTreeName+1)}},
		{"label with a dash", "A-B", []string{"a"}},
		{"empty label", "", []string{"a"}},
		{"long label", strings.Repeat("L", 33), []string{"a"}},
	} {
		var files []TreeFile
		for _, p := range c.paths {
			files = append(files, treeFile(p, []byte("x")))
		}
		out := filepath.Join(dir, "x.iso")
		if _, err := WriteTreeISO(out, c.label, files, testEpoch); err == nil {
			t.Errorf("%s: written", c.name)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: an image was left", c.name)
		}
	}
	// A file that writes other than its size.
	short := TreeFile{Path: "a", Size: 5, Write: func(w io.Writer) error { _, err := w.Write([]byte("abc")); return err }}
	if _, err := WriteTreeISO(filepath.Join(dir, "s.iso"), "L", []TreeFile{short}, testEpoch); err == nil || !strings.Contains(err.Error(), "laid out for 5") {
		t.Errorf("a short file: %v", err)
	}
}
