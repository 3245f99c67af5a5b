package rpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// fuzzSeeds are real packages in every layout the fixture writer makes.
func fuzzSeeds(tb testing.TB) ([][]byte, *KeyRing) {
	tb.Helper()
	key, err := fixture.NewKey("fuzz") // crypto/rsa keygen: fast even in an instrumented fuzz worker
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	base := fixture.Package{
		Name: "seed", Version: "1.0", Release: "1.el7", Arch: "x86_64",
		Files:    []fixture.File{{Path: "/usr/bin/seed", Body: []byte("x")}, {Path: "/var/lib/seed", Dir: true}, {Path: "/usr/bin/link", LinkTo: "seed"}},
		Requires: []string{"/bin/sh", "glibc >= 2.17"}, Provides: []string{"seed-tool = 1.0"},
	}
	var seeds [][]byte
	for i, mod := range []func(*fixture.Package) *fixture.Key{
		func(p *fixture.Package) *fixture.Key { return key },
		func(p *fixture.Package) *fixture.Key { p.HeaderOnlySig = true; return key },
		func(p *fixture.Package) *fixture.Key { p.Legacy = true; return key },
		func(p *fixture.Package) *fixture.Key { p.Legacy, p.V3Sig = true, true; return key },
		func(p *fixture.Package) *fixture.Key { p.Files = nil; return nil },
	} {
		p := base
		p.Name += string(rune('a' + i))
		k := mod(&p)
		path, err := fixture.WriteRPM(dir, p, k)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	ring, err := NewKeyRing(KeyFile{Name: "fuzz", Data: key.ArmoredPublic()})
	if err != nil {
		tb.Fatal(err)
	}
	return seeds, ring
}

// FuzzRead feeds arbitrary bytes to the whole reading path (lead, both
// headers, metadata, signatures, payload digests): no panic, no hang, and
// the invariants below hold. Run briefly with
//
//	go test ./rpm -run x -fuzz FuzzRead -fuzztime 20s
func FuzzRead(f *testing.F) {
	seeds, ring := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res := Verify(bytes.NewReader(data), ring)
		sum := sha256.Sum256(data)
		if res.Size != int64(len(data)) || res.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("size %d sha256 %s, want %d %x", res.Size, res.SHA256, len(data), sum)
		}
		if res.Err == nil && (res.Info == nil || !res.DigestsOK || res.SignatureStatus != SigVerified) {
			t.Fatalf("verified without metadata, digests or signature: %+v", res)
		}
		if res.Info != nil {
			_ = res.Info.NEVRA()
			for _, r := range res.Info.Requires {
				_ = r.String()
			}
		}
	})
}

// TestHostileSizesAllocateLittle: headers that declare huge index or data
// sizes are refused, or read only as far as the data really goes, without
// allocating what they declare.
func TestHostileSizesAllocateLittle(t *testing.T) {
	lead := make([]byte, leadSize)
	copy(lead, leadMagic)
	lead[4] = 3
	intro := func(il, dl uint32) []byte {
		b := []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[8:], il)
		binary.BigEndian.PutUint32(b[12:], dl)
		return b
	}
	// a valid one-entry signature header body: SIZE, int32, offset 0, count 1; 8 data bytes
	sizeEntry := []byte{0, 0, 0x03, 0xe8, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 42, 0, 0, 0, 0}
	cases := map[string][]byte{
		"4 billion entries":         append(append([]byte{}, lead...), intro(0xffffffff, 16)...),
		"4 GiB data store":          append(append([]byte{}, lead...), intro(1, 0xffffffff)...),
		"16 MiB store, short file":  append(append(append([]byte{}, lead...), intro(1, maxSigData)...), make([]byte, 64)...),
		"32 MiB main header, short": append(append(append(append([]byte{}, lead...), intro(1, 8)...), sizeEntry...), intro(maxMainEntries, maxMainData)...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res := Verify(bytes.NewReader(data), nil)
			runtime.ReadMemStats(&after)
			if res.Err == nil {
				t.Fatal("hostile input verified")
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", alloc, len(data))
			}
		})
	}
}

// BenchmarkVerify measures verification throughput (MB/s) on a 64 MiB
// signed package with an incompressible payload, read from disk.
func BenchmarkVerify(b *testing.B) {
	key, err := fixture.NewKeyFromSeed("bench", []byte("bench key"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	path, err := fixture.WriteRPM(dir, fixture.Package{
		Name: "big", Version: "1", Release: "1.el9", Arch: "x86_64", Store: true,
		Files: []fixture.File{{Path: "/usr/share/big/blob", Size: 64 << 20}},
	}, key)
	if err != nil {
		b.Fatal(err)
	}
	ring, err := NewKeyRing(KeyFile{Name: "k", Data: key.ArmoredPublic()})
	if err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := VerifyFile(filepath.Clean(path), ring)
		if err != nil || !res.Verified() {
			b.Fatal(err, res.Err)
		}
	}
}
