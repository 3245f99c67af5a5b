package writeback

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dirty returns how many of f's pages are dirty or under writeback.
func dirty(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
		t.Fatalf("cachestat (Linux 6.5 or later): %v", err)
	}
	return st.Dirty + st.Writeback
}

// TestWriterStartsWriteback: the pages written through a Writer go to disk
// without an fsync, while those of a plain write stay dirty (the kernel
// writes them back only after 30 s, dirty_expire_centisecs): the control
// shows the check can tell the two apart.
func TestWriterStartsWriteback(t *testing.T) {
	data := bytes.Repeat([]byte("pgha"), (3*Every+12345)/4)
	dir := t.TempDir()
	for _, through := range []bool{false, true} {
		f, err := os.Create(filepath.Join(dir, map[bool]string{false: "plain", true: "writeback"}[through]))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if through {
			w := New(f)
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1<<20)
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			w.Flush()
		} else if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for dirty(t, f) > 0 && through && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		d := dirty(t, f)
		switch {
		case through && d > 0:
			t.Errorf("through a Writer: %d pages still dirty 10s after Flush", d)
		case !through && d == 0:
			t.Errorf("plain write: no dirty page right after it; the check cannot tell writeback apart")
		}
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("the file holds other bytes than were written")
		}
	}
}
