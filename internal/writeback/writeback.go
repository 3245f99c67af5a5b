// Package writeback starts writing a file's pages to disk while the file is
// still being written, as PostgreSQL's *_flush_after settings do: the
// build's fsync before it puts its output in place then finds little left
// to write, and the disk works while the CPU makes the next bytes.
package writeback

import (
	"os"

	"golang.org/x/sys/unix"
)

// Every is how many bytes are written between two requests: large enough
// that the requests cost nothing, small enough that the dirty pages of a
// large output never pile up.
const Every = 8 << 20

// Writer writes to F and asks the kernel to start writeback of each
// complete stretch of Every bytes. It does not wait for the disk: durability
// is still the caller's fsync.
type Writer struct {
	F       *os.File
	written int64 // bytes written through this Writer
	started int64 // start of the stretch not yet handed to writeback
}

// New returns a Writer for f, a file written from its start.
func New(f *os.File) *Writer { return &Writer{F: f} }

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.F.Write(p)
	w.written += int64(n)
	if w.written-w.started >= Every {
		w.start(w.written)
	}
	return n, err
}

// Flush starts writeback of what is left, e.g. once the file is complete.
func (w *Writer) Flush() {
	if w.written > w.started {
		w.start(w.written)
	}
}

// start hands [started, end) to writeback. Errors are ignored: the request
// is only advice (a file system without it still gets its fsync).
func (w *Writer) start(end int64) {
	_ = unix.SyncFileRange(int(w.F.Fd()), w.started, end-w.started, unix.SYNC_FILE_RANGE_WRITE)
	w.started = end
}
