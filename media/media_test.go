package media

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

var testEpoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func pkg(t *testing.T, dir, nevra string, size int) rpm.Package {
	t.Helper()
	data := bytes.Repeat([]byte(nevra+"\n"), size/(len(nevra)+1)+1)[:size]
	p := filepath.Join(dir, nevra+".rpm")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return rpm.Package{Path: p, Filename: nevra + ".rpm", Name: strings.SplitN(nevra, "-", 2)[0], NEVRA: nevra,
		SHA256: hex.EncodeToString(s[:]), Size: int64(size)}
}

func testInput(t *testing.T) Input {
	dir := t.TempDir()
	return Input{
		Cluster: "demo",
		Packages: []rpm.Package{
			pkg(t, dir, "postgresql16-server-16.2-1PGDG.rhel9.x86_64", 3*2048+5),
			pkg(t, dir, "etcd-3.5.12-1.el9.x86_64", 700),
		},
		Keys:  []rpm.KeyFile{{Name: "RPM-GPG-KEY-test", Data: []byte("key\n")}},
		Epoch: testEpoch,
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestSumsAndDigest(t *testing.T) {
	in := testInput(t)
	sums, err := Sums(in)
	if err != nil {
		t.Fatal(err)
	}
	want := in.Packages[1].SHA256 + "  packages/etcd-3.5.12-1.el9.x86_64.rpm\n" +
		sha([]byte("key\n")) + "  packages/keys/RPM-GPG-KEY-test\n" +
		in.Packages[0].SHA256 + "  packages/postgresql16-server-16.2-1PGDG.rhel9.x86_64.rpm\n"
	if string(sums) != want {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", sums, want)
	}
	d, err := Digest(in)
	if err != nil || d != sha(sums) {
		t.Errorf("Digest %s %v, want the sha256 of SHA256SUMS %s", d, err, sha(sums))
	}
	// Any package's digest changes the media's.
	in.Packages[1].SHA256 = strings.Repeat("0", 64)
	if d2, _ := Digest(in); d2 == d {
		t.Error("another package digest, the same media digest")
	}
}

func writeTar(t *testing.T, in Input) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteTar(&b, in); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestTar: the tarball is the same bytes twice, holds the tree under
// demo-packages/ with SHA256SUMS first, and sha256sum -c accepts it
// extracted; its SHA256SUMS has the digest.
func TestTar(t *testing.T) {
	in := testInput(t)
	a := writeTar(t, in)
	if b := writeTar(t, in); !bytes.Equal(a, b) {
		t.Error("two tarballs of the same input differ")
	}
	tr := tar.NewReader(bytes.NewReader(a))
	var names []string
	var sums []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(testEpoch) || h.Uid != 0 || h.Gid != 0 || h.Uname != "root" {
			t.Errorf("%s: mtime %v, owner %d/%d %s", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname)
		}
		if want := int64(0o644); h.Typeflag == tar.TypeDir && h.Mode != 0o755 || h.Typeflag == tar.TypeReg && h.Mode != want {
			t.Errorf("%s: mode %o", h.Name, h.Mode)
		}
		if h.Name == "demo-packages/SHA256SUMS" {
			sums, _ = io.ReadAll(tr)
		}
	}
	want := []string{"demo-packages/", "demo-packages/SHA256SUMS", "demo-packages/packages/",
		"demo-packages/packages/etcd-3.5.12-1.el9.x86_64.rpm", "demo-packages/packages/keys/",
		"demo-packages/packages/keys/RPM-GPG-KEY-test",
		"demo-packages/packages/postgresql16-server-16.2-1PGDG.rhel9.x86_64.rpm"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if d, _ := Digest(in); sha(sums) != d {
		t.Errorf("the tarball's SHA256SUMS has sha256 %s, Digest %s", sha(sums), d)
	}
	dir := t.TempDir()
	tarball := filepath.Join(dir, "m.tar")
	if err := os.WriteFile(tarball, a, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	cmd := exec.Command("sha256sum", "--strict", "-c", SumsName)
	cmd.Dir = filepath.Join(dir, "demo-packages")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}
}

// TestISO: the image holds the same tree as the tarball, byte for byte,
// under the cluster's label, and is the same twice.
func TestISO(t *testing.T) {
	in := testInput(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.iso"), filepath.Join(dir, "b.iso")
	sumA, err := WriteISO(a, in)
	if err != nil {
		t.Fatal(err)
	}
	if sumB, err := WriteISO(b, in); err != nil || sumA != sumB {
		t.Errorf("two images of the same input: %s, %s (%v)", sumA, sumB, err)
	}
	if l, err := cloudinit.Label(a); err != nil || l != Label("demo") {
		t.Errorf("label %q (%v), want %q", l, err, Label("demo"))
	}
	files, err := cloudinit.ReadISO(a)
	if err != nil {
		t.Fatal(err)
	}
	fromTar := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(writeTar(t, in)))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeReg {
			fromTar[strings.TrimPrefix(h.Name, "demo-packages/")], _ = io.ReadAll(tr)
		}
	}
	if len(files) != len(fromTar) {
		t.Errorf("the image holds %d files, the tarball %d", len(files), len(fromTar))
	}
	for _, f := range files {
		data, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, fromTar[f.Name]) {
			t.Errorf("%s differs between the image and the tarball", f.Name)
		}
	}
}

func TestLabel(t *testing.T) {
	for _, c := range []struct{ cluster, prefix string }{
		{"demo", "DEMO_PKGS_"},
		{"pg-prod", "PG_PROD_PKGS_"},
		{"a-very-long-cluster-name-indeed", "A_VERY_LONG_CLUSTE_PKGS_"},
	} {
		l := Label(c.cluster)
		if !strings.HasPrefix(l, c.prefix) || len(l) != len(c.prefix)+8 {
			t.Errorf("Label(%q) = %q, want %s and 8 hex digits", c.cluster, l, c.prefix)
		}
		if err := cloudinit.CheckLabel(l); err != nil || len(l) > 32 {
			t.Errorf("Label(%q) = %q: %v", c.cluster, l, err)
		}
	}
	if Label("pg-a") == Label("pg_a") {
		t.Error("pg-a and pg_a share a label")
	}
}

// TestWriteRefuses: a package changed since it was verified, or an input
// the scripts could not name, writes nothing usable.
func TestWriteRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(in *Input)
		want string
	}{
		{"changed package", func(in *Input) {
			if err := os.WriteFile(in.Packages[1].Path, bytes.Repeat([]byte("x"), 700), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "changed since it was verified"},
		{"no packages", func(in *Input) { in.Packages = nil }, "no packages"},
		{"bad cluster", func(in *Input) { in.Cluster = "a b" }, "cluster name"},
		{"bad file name", func(in *Input) { in.Packages[0].Filename = "../x.rpm" }, "not a plain verified"},
		{"key twice", func(in *Input) { in.Keys = append(in.Keys, in.Keys[0]) }, "twice"},
	} {
		in := testInput(t)
		c.edit(&in)
		err := WriteTar(io.Discard, in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: tarball: %v, want %q", c.name, err, c.want)
		}
		_, err = WriteISO(filepath.Join(t.TempDir(), "m.iso"), in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: image: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestMemoryIsFlat: the packages are streamed into the tarball and the
// image, never held: a 64 MiB package costs neither a fraction of its size.
func TestMemoryIsFlat(t *testing.T) {
	in := testInput(t)
	const size = 64 << 20
	in.Packages = append(in.Packages, pkg(t, t.TempDir(), "haproxy-2.4.22-1.el9.x86_64", size))
	for name, write := range map[string]func() error{
		"tarball": func() error { return WriteTar(io.Discard, in) },
		"image":   func() error { _, err := WriteISO(filepath.Join(t.TempDir(), "m.iso"), in); return err },
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := write(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
			t.Errorf("%s: %d MiB allocated for a %d MiB package", name, alloc>>20, size>>20)
		}
	}
}
