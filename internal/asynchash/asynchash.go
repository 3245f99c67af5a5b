// Package asynchash computes a digest of a stream on a goroutine of its own:
// the goroutine writing the stream (reading packages, framing the archive,
// writing files) goes on while the hash catches up, so a node's bundle and
// seed digests use a second core instead of lengthening the write.
package asynchash

import (
	"hash"
	"sync"
)

// chunkSize and chunks bound the memory of one Writer (1 MiB) whatever the
// stream's length: a Write waits for a free chunk once the hash is that far
// behind.
const (
	chunkSize = 256 << 10
	chunks    = 4
)

// Writer feeds every byte written to it to a hash on another goroutine.
// Sum waits for the hash to catch up; Close (or Sum) must be called to end
// the goroutine. A Writer is used by one goroutine at a time.
type Writer struct {
	h    hash.Hash
	free chan []byte
	full chan []byte
	done chan struct{}
	cur  []byte
	once sync.Once
	sum  []byte
}

// New starts the goroutine hashing into h.
func New(h hash.Hash) *Writer {
	w := &Writer{
		h:    h,
		free: make(chan []byte, chunks),
		full: make(chan []byte, chunks),
		done: make(chan struct{}),
	}
	for range chunks {
		w.free <- make([]byte, 0, chunkSize)
	}
	go w.run()
	return w
}

func (w *Writer) run() {
	defer close(w.done)
	for b := range w.full {
		w.h.Write(b) // a hash.Hash's Write never fails
		w.free <- b[:0]
	}
}

// Write copies p into the chunks the hash goroutine reads; it never fails.
func (w *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = <-w.free
		}
		c := copy(w.cur[len(w.cur):cap(w.cur)], p)
		w.cur = w.cur[:len(w.cur)+c]
		p = p[c:]
		if len(w.cur) == cap(w.cur) {
			w.full <- w.cur
			w.cur = nil
		}
	}
	return n, nil
}

// Sum returns the digest of everything written, once the hash has caught
// up, and ends the goroutine; nothing may be written after it.
func (w *Writer) Sum() []byte {
	w.finish()
	return w.sum
}

// Close ends the goroutine without a digest being needed, e.g. when the
// write failed; it may follow Sum.
func (w *Writer) Close() {
	w.finish()
}

func (w *Writer) finish() {
	w.once.Do(func() {
		if len(w.cur) > 0 {
			w.full <- w.cur
			w.cur = nil
		}
		close(w.full)
		<-w.done
		w.sum = w.h.Sum(nil)
	})
}
