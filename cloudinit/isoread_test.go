package cloudinit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// smallISO writes the seed ISO of node db-a of the el9 example (dhcp: two
// small files, no bundle) and returns its bytes.
func smallISO(t testing.TB) []byte {
	t.Helper()
	spec := loadSpec(t, "el9-static")
	spec.Network.Mode = "dhcp"
	iso := filepath.Join(t.TempDir(), "db-a.iso")
	if _, err := WriteISO(iso, mustRender(t, Input{Spec: spec, Node: "db-a"}), "", testEpoch); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// put32 writes v in both byte orders (ECMA-119 7.3.3) at b[off:off+8].
func put32(b []byte, off int, v uint32) {
	binary.LittleEndian.PutUint32(b[off:], v)
	binary.BigEndian.PutUint32(b[off+4:], v)
}

// TestReadISODamaged gives ReadISO and Label images damaged in each of the
// structures they read: every one is an error naming the file and saying
// what is wrong, never a panic. "root extent beyond the file" made
// kdomanski/iso9660's reader panic.
func TestReadISODamaged(t *testing.T) {
	good := smallISO(t)
	pvd := 16 * sectorSize
	root := int(binary.LittleEndian.Uint32(good[pvd+pvdRootDir+2:])) * sectorSize
	file := root + 2*34 // the first file's record, after "." and ".."
	if good[file] == 0 || good[file+32] == 0 {
		t.Fatalf("no file record at byte %d", file)
	}
	cases := []struct {
		name string
		edit func([]byte) []byte
		want error
		msg  string
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrNotISO, "the file has 0 bytes"},
		{"text", func(b []byte) []byte { return []byte("hello\n") }, ErrNotISO, "the file has 6 bytes"},
		{"cut in the system area", func(b []byte) []byte { return b[:1000] }, ErrNotISO, "the file has 1000 bytes"},
		{"cut after the descriptors", func(b []byte) []byte { return b[:len(b)-sectorSize] }, ErrNotISO, "the volume holds"},
		{"zeros", func(b []byte) []byte { return make([]byte, len(b)) }, ErrNotISO, "no volume descriptor at byte 32768"},
		{"no terminator", func(b []byte) []byte {
			for s := 17; ; s++ {
				if b[s*sectorSize] == 255 {
					b[s*sectorSize] = 2
					return b
				}
			}
		}, ErrDamagedISO, "is not a volume descriptor"},
		{"no primary volume", func(b []byte) []byte { b[pvd] = 2; return b }, ErrDamagedISO, "no primary volume descriptor"},
		{"block size 512", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[pvd+128:], 512)
			binary.BigEndian.PutUint16(b[pvd+130:], 512)
			return b
		}, ErrDamagedISO, "logical block size 512"},
		{"byte orders disagree", func(b []byte) []byte { b[pvd+pvdRootDir+10]++; return b }, ErrDamagedISO, "byte orders disagree"},
		{"root extent beyond the file", func(b []byte) []byte { put32(b, pvd+pvdRootDir+2, 5000); return b }, ErrDamagedISO, "ends beyond the file"},
		{"root extent of 4 GiB", func(b []byte) []byte { put32(b, pvd+pvdRootDir+10, 0xffffffff); return b }, ErrDamagedISO, "ends beyond the file"},
		{"root is a file", func(b []byte) []byte { b[pvd+pvdRootDir+25] = 0; return b }, ErrDamagedISO, "not a directory"},
		{"file extent beyond the file", func(b []byte) []byte { put32(b, file+2, 0xfffffff0); return b }, ErrDamagedISO, "ends beyond the file"},
		{"record length 1", func(b []byte) []byte { b[file] = 1; return b }, ErrDamagedISO, "record length 1"},
		{"record beyond its directory", func(b []byte) []byte { put32(b, pvd+pvdRootDir+10, uint32(file-root+40)); return b }, ErrDamagedISO, "does not fit"},
		{"identifier longer than its record", func(b []byte) []byte { b[file+32] = 200; return b }, ErrDamagedISO, "identifier length 200"},
		{"interleaved", func(b []byte) []byte { b[file+26] = 1; return b }, ErrDamagedISO, "interleaved"},
		{"several extents", func(b []byte) []byte { b[file+25] |= 0x80; return b }, ErrDamagedISO, "several extents"},
		{"directory loop", func(b []byte) []byte {
			b[file+25] |= 0x02
			copy(b[file+2:file+18], b[pvd+pvdRootDir+2:pvd+pvdRootDir+18])
			return b
		}, ErrDamagedISO, "a directory loop"},
		{"control character in a name", func(b []byte) []byte { b[file+33] = '\n'; return b }, ErrDamagedISO, "holds"},
		{"a name twice", func(b []byte) []byte {
			next := file + int(b[file])
			n := int(b[file+32])
			b[next+32] = byte(n)
			copy(b[next+33:next+33+n], b[file+33:file+33+n])
			return b
		}, ErrDamagedISO, "appears twice"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".iso")
			if err := os.WriteFile(p, tc.edit(bytes.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			files, err := ReadISO(p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadISO: %v (files %v), want %v", err, files, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "iso "+p+": ") || !strings.Contains(msg, tc.msg) {
				t.Errorf("ReadISO: %q, want the file named and %q", msg, tc.msg)
			}
			if _, err := Label(p); errors.Is(tc.want, ErrNotISO) && !errors.Is(err, ErrNotISO) {
				t.Errorf("Label: %v, want %v", err, ErrNotISO)
			}
		})
	}
}

// TestReadISOShrunk reads a file whose image was cut after it was listed:
// ReadAll and SHA256 fail instead of returning a short content.
func TestReadISOShrunk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "db-a.iso")
	if err := os.WriteFile(p, smallISO(t), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := ReadISO(p)
	if err != nil {
		t.Fatal(err)
	}
	last := files[0]
	for _, f := range files {
		if f.off > last.off {
			last = f
		}
	}
	if err := os.Truncate(p, last.off+1); err != nil {
		t.Fatal(err)
	}
	if b, err := last.ReadAll(); !errors.Is(err, ErrNotISO) {
		t.Errorf("ReadAll: %d bytes, %v; want %v", len(b), err, ErrNotISO)
	}
	if _, err := last.SHA256(); !errors.Is(err, ErrNotISO) {
		t.Errorf("SHA256: %v, want %v", err, ErrNotISO)
	}
}

// systemArea is the 32 KiB before the volume descriptors, which the reader
// never reads.
const systemArea = 16 * sectorSize

// fuzzInput is an image as FuzzReadISO takes it: without the system area
// and without trailing zeros, so that inputs stay small and mutations land
// on the structures.
func fuzzInput(img []byte) []byte { return bytes.TrimRight(img[systemArea:], "\x00") }

// fuzzImage rebuilds an image from a fuzz input: the system area, the
// input, then zeros up to the volume size its first descriptor claims (at
// most 4 MiB), as the image was before fuzzInput.
func fuzzImage(data []byte) []byte {
	img := append(make([]byte, systemArea, systemArea+len(data)), data...)
	if len(data) >= 88 {
		blocks := int64(binary.LittleEndian.Uint32(data[80:84]))
		if want := blocks * sectorSize; want > int64(len(img)) && want <= 4<<20 {
			img = append(img, make([]byte, want-int64(len(img)))...)
		}
	}
	return img
}

// FuzzReadISO reads arbitrary images (rebuilt by fuzzImage) with the reader
// of ReadISO and Label: no panic, every error is one of the two the reader
// documents and names the file, and every file listed lies within the
// image. Seeds are images WriteISO wrote (with and without a bundle) and,
// for Rock Ridge names, Joliet and subdirectories, one xorriso wrote. Run
// with
//
//	go test ./cloudinit -run '^$' -fuzz '^FuzzReadISO$' -fuzztime 1m
func FuzzReadISO(f *testing.F) {
	dir := f.TempDir()
	f.Add(fuzzInput(smallISO(f)))
	seed, bundle := seedWithBundle(f, dir, 300)
	withBundle := filepath.Join(dir, "pg1.iso")
	if _, err := WriteISO(withBundle, seed, bundle, testEpoch); err != nil {
		f.Fatal(err)
	}
	xorriso := testutil.NeedTool(f, "xorriso", "xorriso")
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sub", "Mixed.Case-name.txt"), []byte("deep"), 0o644); err != nil {
		f.Fatal(err)
	}
	rr := filepath.Join(dir, "rr.iso")
	if out, err := exec.Command(xorriso, "-as", "mkisofs", "-o", rr, "-V", "cidata", "-R", "-J", "-no-pad", tree).CombinedOutput(); err != nil {
		f.Fatalf("xorriso: %v\n%s", err, out)
	}
	for _, p := range []string{withBundle, rr} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if !bytes.Equal(fuzzImage(fuzzInput(b)), b) {
			f.Fatalf("%s: fuzzImage does not rebuild it", p)
		}
		f.Add(fuzzInput(b))
	}
	const name = "f.iso"
	f.Fuzz(func(t *testing.T, data []byte) {
		img := fuzzImage(data)
		label, files, err := readImage(bytes.NewReader(img), int64(len(img)), name, true)
		if err != nil {
			if !errors.Is(err, ErrNotISO) && !errors.Is(err, ErrDamagedISO) {
				t.Fatalf("an error that is neither ErrNotISO nor ErrDamagedISO: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "iso "+name+": ") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if l, _, err := readImage(bytes.NewReader(img), int64(len(img)), name, false); err != nil || l != label {
			t.Fatalf("the files were read, the label alone gives %q, %v", l, err)
		}
		for i, f := range files {
			if i > 0 && files[i-1].Name >= f.Name {
				t.Fatalf("names not sorted and unique: %q, %q", files[i-1].Name, f.Name)
			}
			if f.Size < 0 || f.off < 0 || f.Size > int64(len(img)) || f.off > int64(len(img))-f.Size {
				t.Fatalf("%s: %d bytes at %d, outside the %d-byte image", f.Name, f.Size, f.off, len(img))
			}
			for _, el := range strings.Split(f.Name, "/") {
				if err := checkReadName(el); err != nil {
					t.Fatalf("%q listed: %v", f.Name, err)
				}
			}
		}
	})
}
