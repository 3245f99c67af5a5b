package asynchash

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"runtime"
	"testing"
	"time"
)

// TestSumMatchesSHA256 writes streams cut in ways that straddle the chunks
// and compares with the synchronous digest.
func TestSumMatchesSHA256(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	data := make([]byte, 3*chunkSize*chunks+12345)
	rnd.Read(data)
	tests := []struct {
		name  string
		size  int
		write int // bytes per Write; 0: all at once
	}{
		{"empty", 0, 0},
		{"one byte", 1, 0},
		{"exactly one chunk", chunkSize, 0},
		{"many chunks at once", len(data), 0},
		{"odd pieces", len(data), 4093},
		{"byte by byte", 3 * chunkSize / 1024, 1},
		{"chunk-sized pieces", 2 * chunkSize * chunks, chunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := data[:tt.size]
			w := New(sha256.New())
			step := tt.write
			if step == 0 {
				step = len(in) + 1
			}
			for rest := in; len(rest) > 0; {
				n := min(step, len(rest))
				if got, err := w.Write(rest[:n]); got != n || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v", n, got, err)
				}
				rest = rest[n:]
			}
			want := sha256.Sum256(in)
			if got := w.Sum(); !bytes.Equal(got, want[:]) {
				t.Fatalf("Sum = %x, want %x", got, want)
			}
			w.Close() // after Sum: no effect
			if got := w.Sum(); !bytes.Equal(got, want[:]) {
				t.Fatalf("second Sum = %x, want %x", got, want)
			}
		})
	}
}

// TestWriterReusesItsBuffers: a caller may reuse p as soon as Write returns,
// so Write must have copied it.
func TestWriterReusesItsBuffers(t *testing.T) {
	w := New(sha256.New())
	buf := make([]byte, 1000)
	h := sha256.New()
	for i := range 2000 {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		h.Write(buf)
		w.Write(buf)
	}
	if got, want := w.Sum(), h.Sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("Sum = %x, want %x", got, want)
	}
}

// TestCloseEndsTheGoroutine: a write abandoned halfway leaves no goroutine.
func TestCloseEndsTheGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		w := New(sha256.New())
		w.Write(make([]byte, chunkSize+1))
		w.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkWrite(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)) * 64)
	for range b.N {
		w := New(sha256.New())
		for range 64 {
			w.Write(buf)
		}
		w.Sum()
	}
}
