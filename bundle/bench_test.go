package bundle

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// benchPackages lists the RPMs of $PGHA_BENCH_RPMS (bench/bundle-rpms.sh
// builds a realistic 200 MiB set), or writes 32 MiB of incompressible
// stand-ins so the benchmark runs anywhere.
func benchPackages(b *testing.B) ([]rpm.Package, int64) {
	b.Helper()
	dir := os.Getenv("PGHA_BENCH_RPMS")
	if dir == "" {
		dir = b.TempDir()
		for i := 0; i < 4; i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("stand-in-%d-1.0-1.x86_64.rpm", i)))
			must(b, err)
			_, err = io.CopyN(f, rand.Reader, 8<<20)
			must(b, err)
			must(b, f.Close())
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.rpm"))
	must(b, err)
	sort.Strings(paths)
	var pkgs []rpm.Package
	var total int64
	for _, p := range paths {
		f, err := os.Open(p)
		must(b, err)
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		must(b, err)
		name := strings.TrimSuffix(filepath.Base(p), ".rpm")
		pkgs = append(pkgs, rpm.Package{Path: p, Filename: filepath.Base(p), Name: strings.SplitN(name, "-1", 2)[0],
			NEVRA: name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n})
		total += n
	}
	return pkgs, total
}

// BenchmarkWrite writes a whole bundle to a file per gzip level; MB/s is
// of package bytes, out/in is the bundle's size over the packages'.
func BenchmarkWrite(b *testing.B) {
	pkgs, total := benchPackages(b)
	out := filepath.Join(b.TempDir(), "bundle.tar.gz")
	for _, lv := range []struct {
		name  string
		level int
	}{{"none", 0}, {"best-speed", 1}, {"default", 6}, {"best", 9}} {
		b.Run(lv.name, func(b *testing.B) {
			in := testInput(b, b.TempDir())
			in.Packages = pkgs
			in.Compression = lv.level
			b.SetBytes(total)
			b.ReportAllocs()
			var size int64
			for i := 0; i < b.N; i++ {
				f, err := os.Create(out)
				must(b, err)
				must(b, Write(f, in))
				fi, err := f.Stat()
				must(b, err)
				size = fi.Size()
				must(b, f.Close())
			}
			b.ReportMetric(float64(size)/float64(total), "out/in")
		})
	}
}
