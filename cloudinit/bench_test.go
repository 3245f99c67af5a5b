package cloudinit

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkWriteISO writes one node's seed ISO without a bundle and with one
// of PGHA_SEED_BENCH_MIB MiB (default 32; bench/seed.sh compares 200 MiB
// against cloud-localds):
//
//	go test ./cloudinit -run '^$' -bench WriteISO -benchmem
func BenchmarkWriteISO(b *testing.B) {
	mib := int64(32)
	if v := os.Getenv("PGHA_SEED_BENCH_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		mib = n
	}
	dir := b.TempDir()
	withBundle, bundle := seedWithBundle(b, dir, mib<<20)
	noBundle := withBundle
	noBundle.BundleSHA256 = ""
	iso := filepath.Join(dir, "pg1.iso")
	b.Run("no-bundle", func(b *testing.B) {
		for b.Loop() {
			if _, err := WriteISO(iso, noBundle, "", testEpoch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("bundle-%dMiB", mib), func(b *testing.B) {
		b.SetBytes(mib << 20)
		for b.Loop() {
			if _, err := WriteISO(iso, withBundle, bundle, testEpoch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
