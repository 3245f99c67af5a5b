package countio

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	var reported int64
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{W: &buf, Ctx: ctx, Progress: func(n int64) { reported += n }}
	for _, s := range []string{"abc", "", "defgh"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if w.N != 8 || reported != 8 || buf.String() != "abcdefgh" {
		t.Fatalf("N %d, reported %d, passed on %q", w.N, reported, buf.String())
	}
	cancel()
	if n, err := w.Write([]byte("more")); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %d, %v", n, err)
	}
	if w.N != 8 || buf.Len() != 8 {
		t.Fatalf("a cancelled write went through: N %d, %q", w.N, buf.String())
	}
	// Without a context or a progress function it only counts.
	plain := &Writer{W: &buf}
	if _, err := plain.Write([]byte("xy")); err != nil || plain.N != 2 {
		t.Fatalf("plain: N %d, %v", plain.N, err)
	}
}
