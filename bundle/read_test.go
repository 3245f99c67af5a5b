package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// gz compresses b as one gzip member.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// gunzip decompresses a whole gzip stream.
func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarOf writes a tar archive of the given members (a name ending in "/" is
// a directory), each with the size its header claims.
func tarOf(t testing.TB, members ...tarMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(m.data))}
		if strings.HasSuffix(m.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tarMember struct {
	name string
	data []byte
}

// TestReadBroken gives Read files that are not whole bundles: each is an
// error naming the file and saying what is wrong, wrapping ErrNotBundle when
// the file is no (complete) gzip-compressed tar, ErrDamagedBundle when its
// compressed data or headers are corrupt.
func TestReadBroken(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(writeBundle(t, dir, testInput(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	rawTar := gunzip(t, good)
	// A member claiming 60 MiB whose data is not there: io.ReadAll must
	// not trust the header.
	lying := tarOf(t, tarMember{"demo-pg2/", nil}, tarMember{"demo-pg2/FILES", bytes.Repeat([]byte("x"), 1024)})
	copy(lying[512+124:512+136], "00360000000\x00") // the size field, octal: 60 MiB
	fixChecksum(lying[512:1024])
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotBundle, "it is shorter than a gzip header"},
		{"text", []byte("hello\n"), ErrNotBundle, "it is shorter than a gzip header"},
		{"long text", []byte(strings.Repeat("hello\n", 100)), ErrNotBundle, "no gzip header at its start"},
		{"uncompressed tar", rawTar, ErrNotBundle, "no gzip header"},
		{"cut in the gzip header", good[:5], ErrNotBundle, "it is shorter than a gzip header"},
		{"cut in the middle", good[:len(good)/2], ErrNotBundle, "it ends inside"},
		{"cut in the gzip trailer", good[:len(good)-4], ErrNotBundle, "it ends after the last tar member"},
		{"corrupt checksum", append(bytes.Clone(good[:len(good)-8]), 0, 0, 0, 0, good[len(good)-4], good[len(good)-3], good[len(good)-2], good[len(good)-1]), ErrDamagedBundle, "gzip checksum mismatch"},
		{"tar header garbage", gz(t, bytes.Repeat([]byte{0x41}, 2048)), ErrDamagedBundle, "invalid tar header"},
		{"empty tar", gz(t, make([]byte, 1024)), ErrDamagedBundle, "the archive is empty"},
		{"member size beyond the data", gz(t, lying[:2048]), ErrNotBundle, `it ends inside FILES`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "pg2.tar.gz")
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read: %v, want %v", err, tc.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "bundle "+p+": ") || !strings.Contains(msg, tc.msg) {
				t.Errorf("Read: %q, want the file named and %q", msg, tc.msg)
			}
		})
	}
}

// TestReadBoundsMemory reads members whose headers claim sizes the reader
// must refuse before reading: one file too large, and small files too large
// together (with the total lowered to 4 KiB, so the test stays small).
func TestReadBoundsMemory(t *testing.T) {
	huge := tarOf(t, tarMember{"demo-pg2/", nil}, tarMember{"demo-pg2/FILES", nil})
	copy(huge[512+124:512+136], "00400000001\x00") // 64 MiB + 1
	fixChecksum(huge[512:1024])
	many := []tarMember{{"demo-pg2/", nil}}
	for i := 0; i < 5; i++ {
		many = append(many, tarMember{"demo-pg2/f" + string(rune('a'+i)), make([]byte, 1024)})
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		limit int64
		msg   string
	}{
		{"one file", huge, maxSmallTotal, "67108865 bytes is too large"},
		{"all files", tarOf(t, many...), 4 << 10, "exceed 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(l int64) { maxSmallTotal = l }(maxSmallTotal)
			maxSmallTotal = tc.limit
			_, err := ReadFrom(bytes.NewReader(gz(t, tc.data)))
			if !errors.Is(err, ErrDamagedBundle) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ReadFrom: %v, want %v and %q", err, ErrDamagedBundle, tc.msg)
			}
		})
	}
}

// fixChecksum recomputes a tar header block's checksum after an edit.
func fixChecksum(h []byte) {
	copy(h[148:156], "        ")
	var s int
	for _, c := range h {
		s += int(c)
	}
	copy(h[148:156], []byte(strings.Repeat("0", 6-len(octal(s)))+octal(s)+"\x00 "))
}

func octal(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 8 {
		b = append([]byte{byte('0' + n%8)}, b...)
	}
	return string(b)
}

// withoutScripts returns the tar inside a bundle Write wrote, without its
// scripts (and their SHA256SUMS lines): still a bundle ReadFrom reads, a
// few KiB instead of a hundred, so that fuzzing mutates what it parses.
func withoutScripts(t testing.TB, bundle []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(gunzip(t, bundle)))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var members []*tar.Header
	data := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		members, data[h.Name] = append(members, h), b
	}
	dropped := map[string]bool{}
	for _, h := range members {
		if strings.HasSuffix(h.Name, ".sh") {
			dropped[h.Name[strings.IndexByte(h.Name, '/')+1:]] = true
		}
	}
	for _, h := range members {
		rel := h.Name[strings.IndexByte(h.Name, '/')+1:]
		if dropped[rel] {
			continue
		}
		b := data[h.Name]
		if rel == "SHA256SUMS" {
			var kept []string
			for _, line := range strings.SplitAfter(string(b), "\n") {
				if _, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  "); !ok || !dropped[name] {
					kept = append(kept, line)
				}
			}
			b = []byte(strings.Join(kept, ""))
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzReadBundle feeds arbitrary bytes to ReadFrom twice: as they are (the
// gzip layer) and gzip-compressed (so that mutations reach the tar headers,
// SHA256SUMS, manifest.json and FILES). No panic, and a bundle read is
// consistent with its manifest. Seeds are a bundle Write wrote, and its tar
// without the scripts. Run with
//
//	go test ./bundle -run '^$' -fuzz '^FuzzReadBundle$' -fuzztime 1m
func FuzzReadBundle(f *testing.F) {
	dir := f.TempDir()
	in := testInput(f, dir)
	in.Packages = in.Packages[2:] // the smallest, 1000 bytes
	good, err := os.ReadFile(writeBundle(f, dir, in))
	if err != nil {
		f.Fatal(err)
	}
	small := withoutScripts(f, good)
	if _, err := ReadFrom(bytes.NewReader(gz(f, small))); err != nil {
		f.Fatalf("the bundle without scripts does not read: %v", err)
	}
	f.Add(good)
	f.Add(small)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range [][]byte{data, gz(t, data)} {
			b, err := ReadFrom(bytes.NewReader(d))
			if err != nil {
				continue
			}
			if len(b.Payload.Files) != len(b.Manifest.Files) {
				t.Fatalf("%d payload files, manifest.json lists %d", len(b.Payload.Files), len(b.Manifest.Files))
			}
			for _, pf := range b.Payload.Files {
				if _, ok := b.Payload.Lookup(pf.Path); !ok {
					t.Fatalf("payload file %s not found by Lookup: not sorted", pf.Path)
				}
			}
		}
	})
}
