package rpm

import (
	"errors"
	"hash"
	"io"
	"sync"
)

// copyBufSize is the read size of the payload copy: large enough that the
// hashes, not the syscalls, dominate.
const copyBufSize = 256 << 10

// copyBuffers is how many chunks may be in flight: one being read while the
// others are hashed.
const copyBuffers = 4

// hashCopy reads r to its end and feeds every byte to each hash, each hash
// on its own goroutine: on several cores the digests of a package (payload
// digest, header+payload MD5, signature hashes, the file's sha256) are
// computed side by side and overlap the next read. Memory is fixed:
// copyBuffers chunks of copyBufSize.
func hashCopy(r io.Reader, hs []hash.Hash) (int64, error) {
	bufs := make([][]byte, copyBuffers)
	for i := range bufs {
		bufs[i] = make([]byte, copyBufSize)
	}
	if len(hs) <= 1 {
		ws := make([]io.Writer, len(hs))
		for i, h := range hs {
			ws[i] = h
		}
		return io.CopyBuffer(io.MultiWriter(append(ws, io.Discard)...), r, bufs[0])
	}
	type chunk struct {
		b    []byte
		done *sync.WaitGroup
	}
	inflight := make([]sync.WaitGroup, copyBuffers)
	chans := make([]chan chunk, len(hs))
	var workers sync.WaitGroup
	for i, h := range hs {
		ch := make(chan chunk, copyBuffers)
		chans[i] = ch
		workers.Add(1)
		go func() {
			defer workers.Done()
			for c := range ch {
				h.Write(c.b) // hash.Hash.Write never fails
				c.done.Done()
			}
		}()
	}
	defer func() {
		for _, ch := range chans {
			close(ch)
		}
		workers.Wait()
	}()
	var total int64
	for i := 0; ; i++ {
		slot := i % copyBuffers
		inflight[slot].Wait() // every hash is done with this buffer
		n, err := io.ReadFull(r, bufs[slot])
		if n > 0 {
			total += int64(n)
			inflight[slot].Add(len(hs))
			for _, ch := range chans {
				ch <- chunk{b: bufs[slot][:n], done: &inflight[slot]}
			}
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return total, nil
		case err != nil:
			return total, err
		}
	}
}
