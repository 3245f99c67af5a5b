package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kdomanski/iso9660"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

var testEpoch = time.Date(2026, 3, 14, 15, 9, 26, 530_000_000, time.UTC)

// writeBundle writes size pseudo-random (incompressible, like a .tgz) bytes
// and returns the path and sha256.
func writeBundle(t testing.TB, dir string, size int64) (string, string) {
	t.Helper()
	p := filepath.Join(dir, "node.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	src := rand.NewChaCha8([32]byte{1, 2, 3})
	if _, err := io.CopyN(io.MultiWriter(f, h), src, size); err != nil {
		t.Fatal(err)
	}
	return p, hex.EncodeToString(h.Sum(nil))
}

// seedWithBundle renders node pg1 of the el7 example for a bundle of size bytes.
func seedWithBundle(t testing.TB, dir string, size int64) (Seed, string) {
	t.Helper()
	bundle, sum := writeBundle(t, dir, size)
	return mustRender(t, Input{Spec: loadSpec(t, "el7-static"), Node: "pg1", BundleSHA256: sum}), bundle
}

// expected is what a seed ISO must hold, by name.
func expected(t testing.TB, s Seed, bundle string) map[string][]byte {
	t.Helper()
	want := map[string][]byte{}
	for _, f := range s.Files() {
		want[f.Name] = f.Content
	}
	if bundle != "" {
		b, err := os.ReadFile(bundle)
		if err != nil {
			t.Fatal(err)
		}
		want[NameBundle] = b
	}
	return want
}

func sortedNames(m map[string][]byte) []string {
	var l []string
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

func TestWriteISOReadBack(t *testing.T) {
	dir := t.TempDir()
	seed, bundle := seedWithBundle(t, dir, 3<<20+123)
	iso := filepath.Join(dir, "pg1.iso")
	sum, err := WriteISO(iso, seed, bundle, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(raw); sum != hex.EncodeToString(h[:]) {
		t.Errorf("WriteISO returned sha256 %s, the file has %x", sum, h)
	}
	want := expected(t, seed, bundle)
	files, err := ReadISO(iso)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
		b, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != f.Size || !bytes.Equal(b, want[f.Name]) {
			t.Errorf("%s: %d bytes read back differ from the %d written", f.Name, len(b), len(want[f.Name]))
		}
	}
	if got, w := strings.Join(names, " "), strings.Join(sortedNames(want), " "); got != w {
		t.Errorf("names %q, want %q", got, w)
	}
	if l, err := Label(iso); err != nil || l != "cidata" {
		t.Errorf("label %q, %v", l, err)
	}
	if fi, err := os.Stat(iso); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("iso mode: %v %v", fi.Mode(), err)
	}
	assertOnlyFiles(t, dir, "node.tar.gz", "pg1.iso")
}

func TestWriteISOWithoutBundle(t *testing.T) {
	spec := loadSpec(t, "el9-static")
	spec.Network.Mode = "dhcp"
	seed := mustRender(t, Input{Spec: spec, Node: "db-a"})
	iso := filepath.Join(t.TempDir(), "db-a.iso")
	if _, err := WriteISO(iso, seed, "", testEpoch); err != nil {
		t.Fatal(err)
	}
	files, err := ReadISO(iso)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "meta-data user-data" {
		t.Errorf("names %q, want meta-data and user-data only", got)
	}
}

// assertOnlyFiles fails when dir holds anything but names (a leftover temp file).
func assertOnlyFiles(t testing.TB, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(names)
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestWriteISOErrorsKeepTarget checks a refused write leaves the previous
// ISO untouched and no temporary file behind.
func TestWriteISOErrorsKeepTarget(t *testing.T) {
	dir := t.TempDir()
	seed, bundle := seedWithBundle(t, dir, 4096)
	iso := filepath.Join(dir, "pg1.iso")
	if err := os.WriteFile(iso, []byte("previous build"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.tgz")
	if err := os.WriteFile(other, []byte("not the bundle user-data names"), 0o644); err != nil {
		t.Fatal(err)
	}
	noSum := seed
	noSum.BundleSHA256 = ""
	cases := map[string]func() error{
		"bundle sha256 mismatch": func() error { _, err := WriteISO(iso, seed, other, testEpoch); return err },
		"bundle without sha256":  func() error { _, err := WriteISO(iso, noSum, bundle, testEpoch); return err },
		"sha256 without bundle":  func() error { _, err := WriteISO(iso, seed, "", testEpoch); return err },
		"missing bundle":         func() error { _, err := WriteISO(iso, seed, filepath.Join(dir, "nope"), testEpoch); return err },
		"epoch before 1970": func() error {
			_, err := WriteISO(iso, seed, bundle, time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC))
			return err
		},
	}
	for name, write := range cases {
		if err := write(); err == nil {
			t.Errorf("%s: WriteISO accepted it", name)
		}
	}
	if b, _ := os.ReadFile(iso); string(b) != "previous build" {
		t.Errorf("the previous ISO was replaced: %q", b)
	}
	assertOnlyFiles(t, dir, "node.tar.gz", "other.tgz", "pg1.iso")
}

// TestISOReproducible writes the same seed at two wall-clock times (more
// than a hundredth of a second apart, the finest date ISO 9660 records) and
// compares the bytes; then checks the dates are the epoch and that another
// epoch changes the image.
func TestISOReproducible(t *testing.T) {
	dir := t.TempDir()
	seed, bundle := seedWithBundle(t, dir, 100_000)
	a, b, c := filepath.Join(dir, "a.iso"), filepath.Join(dir, "b.iso"), filepath.Join(dir, "c.iso")
	if _, err := WriteISO(a, seed, bundle, testEpoch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // cross a second boundary: not an assertion on speed
	if _, err := WriteISO(b, seed, bundle, testEpoch); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteISO(c, seed, bundle, testEpoch.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sa, sb, sc := fileSum(t, a), fileSum(t, b), fileSum(t, c)
	if sa != sb {
		t.Errorf("two writes differ: %s %s", sa, sb)
	}
	if sa == sc {
		t.Error("another epoch gave the same image: the dates are not the epoch")
	}

	raw, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	pvd := raw[16*2048 : 17*2048]
	for _, off := range []int{813, 830, 864} {
		if got := string(pvd[off : off+16]); got != "2026031415092653" || pvd[off+16] != 0 {
			t.Errorf("volume date at %d is %q", off, got)
		}
	}
	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := iso9660.OpenImage(f)
	if err != nil {
		t.Fatal(err)
	}
	root, err := img.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	all, err := root.GetAllChildren() // ".", ".." and the files
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(all, root) {
		if !e.ModTime().Equal(testEpoch.Truncate(time.Second)) {
			t.Errorf("%q recorded at %s, want %s", e.Name(), e.ModTime(), testEpoch.Truncate(time.Second))
		}
	}
}

func fileSum(t testing.TB, p string) string {
	t.Helper()
	s, err := FileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestISOReadByTools checks the image with the programs that read seeds:
// blkid (what cloud-init uses to find it), isoinfo and xorriso, whose
// extracted files must equal the payload.
func TestISOReadByTools(t *testing.T) {
	blkid := testutil.NeedTool(t, "blkid", "util-linux")
	isoinfo := testutil.NeedTool(t, "isoinfo", "genisoimage")
	xorriso := testutil.NeedTool(t, "xorriso", "xorriso")
	dir := t.TempDir()
	seed, bundle := seedWithBundle(t, dir, 1<<20)
	iso := filepath.Join(dir, "pg1.iso")
	if _, err := WriteISO(iso, seed, bundle, testEpoch); err != nil {
		t.Fatal(err)
	}
	want := expected(t, seed, bundle)

	out, err := exec.Command(blkid, "-p", iso).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`LABEL="cidata"`)) || !bytes.Contains(out, []byte(`TYPE="iso9660"`)) {
		t.Errorf("blkid -p: %v\n%s", err, out)
	}

	// isoinfo shows the raw identifiers: the names plus the ";1" version
	// that Linux drops.
	out, err = exec.Command(isoinfo, "-f", "-i", iso).CombinedOutput()
	if err != nil {
		t.Fatalf("isoinfo -f: %v\n%s", err, out)
	}
	var wantRaw []string
	for _, n := range sortedNames(want) {
		wantRaw = append(wantRaw, "/"+n+";1")
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(wantRaw, " ") {
		t.Errorf("isoinfo lists %q, want %q", got, wantRaw)
	}
	for _, n := range sortedNames(want) {
		b, err := exec.Command(isoinfo, "-i", iso, "-x", "/"+n+";1").Output()
		if err != nil || !bytes.Equal(b, want[n]) {
			t.Errorf("isoinfo -x %s: %v, %d bytes differ from the %d written", n, err, len(b), len(want[n]))
		}
	}

	out, err = exec.Command(xorriso, "-indev", iso, "-find", "/", "-type", "f").Output()
	if err != nil {
		t.Fatalf("xorriso -find: %v", err)
	}
	var wantQuoted []string
	for _, n := range sortedNames(want) {
		wantQuoted = append(wantQuoted, "'/"+n+"'")
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(wantQuoted, " ") {
		t.Errorf("xorriso -find lists %q, want %q", got, wantQuoted)
	}
	ext := filepath.Join(dir, "extracted")
	if b, err := exec.Command(xorriso, "-osirrox", "on", "-indev", iso, "-extract", "/", ext).CombinedOutput(); err != nil {
		t.Fatalf("xorriso -extract: %v\n%s", err, b)
	}
	ents, err := os.ReadDir(ext)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
		b, err := os.ReadFile(filepath.Join(ext, e.Name()))
		if err != nil || !bytes.Equal(b, want[e.Name()]) {
			t.Errorf("xorriso extracted %s: %v, differs from what was written", e.Name(), err)
		}
	}
	if strings.Join(got, " ") != strings.Join(sortedNames(want), " ") {
		t.Errorf("xorriso extracted %q, want %q", got, sortedNames(want))
	}
}

// rawRoundTrip writes one file named name with the library alone (no
// refusal) and returns the name its reader gives back.
func rawRoundTrip(t *testing.T, name string) string {
	t.Helper()
	iw, err := iso9660.NewWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer iw.Cleanup()
	if err := iw.AddFile(strings.NewReader("x"), name); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := iw.WriteTo(&buf, "cidata"); err != nil {
		t.Fatal(err)
	}
	img, err := iso9660.OpenImage(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	root, err := img.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	children, err := root.GetChildren()
	if err != nil || len(children) != 1 {
		t.Fatalf("%q: %d children, %v", name, len(children), err)
	}
	return children[0].Name()
}

// TestCheckName checks CheckName against what kdomanski/iso9660 really does:
// every name it accepts survives a write and read unchanged, and every name
// it refuses here is changed by the library.
func TestCheckName(t *testing.T) {
	accepted := []string{"user-data", "meta-data", "network-config", "vendor-data", "bundle.tgz",
		"a", "x_y-z.12345678", strings.Repeat("a", 28), strings.Repeat("b", 24) + ".tgz"}
	mangled := []string{"User-Data", "bundle.tar.gz", "a.b.c", strings.Repeat("a", 29),
		strings.Repeat("b", 25) + ".tgz", "file.ignition9", "sp ace", "ü", "a~b"}
	for _, n := range accepted {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q): %v", n, err)
		}
		if got := rawRoundTrip(t, n); got != n {
			t.Errorf("%q accepted but read back as %q", n, got)
		}
	}
	for _, n := range mangled {
		if err := CheckName(n); err == nil {
			t.Errorf("CheckName(%q) accepted it", n)
		}
		if got := rawRoundTrip(t, n); got == n {
			t.Errorf("%q refused though the library keeps it", n)
		}
	}
	for _, n := range []string{"", ".tgz", "a.", "a/b"} {
		if err := CheckName(n); err == nil {
			t.Errorf("CheckName(%q) accepted it", n)
		}
	}
}

// TestWriteISOStreams checks memory stays flat with the bundle's size: the
// bytes allocated while writing a 48 MiB bundle are a small fraction of it.
func TestWriteISOStreams(t *testing.T) {
	dir := t.TempDir()
	seed, bundle := seedWithBundle(t, dir, 48<<20)
	iso := filepath.Join(dir, "pg1.iso")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := WriteISO(iso, seed, bundle, testEpoch); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("writing a 48 MiB bundle allocated %d MiB", alloc>>20)
	}
}

// TestReadISOForeign reads seeds this package did not write (inspect and
// diff get them too): one from cloud-localds (Rock Ridge and Joliet) and one
// from xorriso with a subdirectory.
func TestReadISOForeign(t *testing.T) {
	localds := testutil.NeedTool(t, "cloud-localds", "cloud-image-utils")
	xorriso := testutil.NeedTool(t, "xorriso", "xorriso")
	dir := t.TempDir()
	src := map[string][]byte{
		"user-data":      []byte("#cloud-config\nhostname: x\n"),
		"meta-data":      []byte("instance-id: iid-x\n"),
		"network-config": []byte("version: 2\n"),
	}
	for n, b := range src {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := filepath.Join(dir, "localds.iso")
	if out, err := exec.Command(localds, "-N", filepath.Join(dir, "network-config"), a,
		filepath.Join(dir, "user-data"), filepath.Join(dir, "meta-data")).CombinedOutput(); err != nil {
		t.Fatalf("cloud-localds: %v\n%s", err, out)
	}
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sub", "Mixed.Case.txt"), []byte("deep"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "xorriso.iso")
	if out, err := exec.Command(xorriso, "-outdev", b, "-volid", "cidata", "-map", tree, "/").CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	for iso, want := range map[string]map[string][]byte{a: src, b: {"sub/Mixed.Case.txt": []byte("deep")}} {
		files, err := ReadISO(iso)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
			got, err := f.ReadAll()
			if err != nil || !bytes.Equal(got, want[f.Name]) {
				t.Errorf("%s: %s read %q (%v), want %q", filepath.Base(iso), f.Name, got, err, want[f.Name])
			}
		}
		if strings.Join(names, " ") != strings.Join(sortedNames(want), " ") {
			t.Errorf("%s: names %q, want %q", filepath.Base(iso), names, sortedNames(want))
		}
	}
}
