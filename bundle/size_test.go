package bundle

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// TestSizeIsWritten: Size says, without reading a package, exactly how many
// bytes Write writes, for packages of sizes around the tar's 512-byte blocks
// and flate's 65535-byte stored blocks.
func TestSizeIsWritten(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 511, 512, 513, 65535, 65536, 200003} {
		in := testInput(t, dir)
		in.Packages[0] = fakePackage(t, dir, "postgresql16-server", "postgresql16-server-16.2-1PGDG.rhel9.x86_64", size)
		want, err := Size(in)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, in); err != nil {
			t.Fatal(err)
		}
		if int64(buf.Len()) != want {
			t.Errorf("package of %d bytes: Size says %d, Write wrote %d", size, want, buf.Len())
		}
	}
	in := testInput(t, dir)
	in.Compression = 1
	if _, err := Size(in); err == nil {
		t.Error("Size gave the size of a compressed bundle")
	}
}

// TestStoredGzipSize checks the framing arithmetic against compress/gzip at
// the block boundaries, which whole bundles rarely hit.
func TestStoredGzipSize(t *testing.T) {
	for _, n := range []int{1, 1024, 65534, 65535, 65536, 2 * 65535, 2*65535 + 1} {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
		if err != nil {
			t.Fatal(err)
		}
		// In uneven pieces: the blocks depend on the length only.
		data := make([]byte, n)
		for len(data) > 0 {
			k := min(len(data), 7777)
			zw.Write(data[:k])
			data = data[k:]
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		if got := storedGzipSize(int64(n)); got != int64(buf.Len()) {
			t.Errorf("%d bytes: storedGzipSize %d, compress/gzip wrote %d", n, got, buf.Len())
		}
	}
}
