package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	tests := []struct {
		label       string
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{"verify", 0, 300 << 20, 0, "verify [........................]   0%  0.0/300.0 MiB"},
		{"verify", 126 << 20, 300 << 20, 1500 * time.Millisecond, "verify [##########..............]  42%  126.0/300.0 MiB  84.0 MiB/s"},
		{"verify", 300 << 20, 300 << 20, 3 * time.Second, "verify [########################] 100%  300.0/300.0 MiB  100.0 MiB/s"},
		{"verify", 400, 300, time.Second, "verify [########################] 100%  400/300 B  400 B/s"},
		{"node n1 bundle", 3 << 30, 0, 2 * time.Second, "node n1 bundle  3.0 GiB  1.5 GiB/s"},
		{"node n1 seed", 0, 0, time.Second, "node n1 seed  0 B"},
		{"x", 1536, 0, time.Second, "x  1.5 KiB  1.5 KiB/s"},
	}
	for _, tc := range tests {
		if got := Line(tc.label, tc.done, tc.total, tc.elapsed); got != tc.want {
			t.Errorf("Line(%q, %d, %d, %v) = %q, want %q", tc.label, tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
}

// TestBarRedrawsInPlace: the bar is drawn at Start, redrawn no more often
// than Interval, cleared before a printed line and drawn again after it,
// and Clear leaves nothing of it.
func TestBarRedrawsInPlace(t *testing.T) {
	var term, out bytes.Buffer
	now := time.Unix(0, 0)
	b := New(&term, func() time.Time { return now })
	b.Start("verify", 4096)
	if term.String() != "\r\x1b[Kverify [........................]   0%  0.0/4.0 KiB" {
		t.Fatalf("start: %q", term.String())
	}
	term.Reset()
	b.Add(1024) // within Interval of the last draw: not drawn
	if term.Len() != 0 {
		t.Errorf("redrawn within Interval: %q", term.String())
	}
	now = now.Add(Interval)
	b.Add(1024)
	if want := "\r\x1b[Kverify [############............]  50%  2.0/4.0 KiB  20.0 KiB/s"; term.String() != want {
		t.Errorf("after Interval: %q, want %q", term.String(), want)
	}
	term.Reset()
	b.Print(&out, "a line\n")
	if out.String() != "a line\n" || !strings.HasPrefix(term.String(), "\r\x1b[K\r\x1b[Kverify [") {
		t.Errorf("print: out %q, terminal %q", out.String(), term.String())
	}
	term.Reset()
	b.Clear()
	if term.String() != "\r\x1b[K" {
		t.Errorf("clear: %q", term.String())
	}
	term.Reset()
	b.Clear()
	b.Print(&out, "after\n")
	if term.Len() != 0 {
		t.Errorf("a cleared bar drew again: %q", term.String())
	}
	var nilBar *Bar // a command without a terminal
	nilBar.Start("x", 1)
	nilBar.Add(1)
	nilBar.Clear()
	out.Reset()
	nilBar.Print(&out, "plain\n")
	if out.String() != "plain\n" {
		t.Errorf("nil bar print: %q", out.String())
	}
}
