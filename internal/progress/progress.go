// Package progress shows how far long work (verifying and writing hundreds
// of MiB) has come: on a terminal, one line redrawn in place with a bar,
// the bytes done and the rate; elsewhere (CI, logs) nothing but the step
// lines the caller prints, so logs stay plain.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Interval is the least time between two redraws.
const Interval = 100 * time.Millisecond

const barWidth = 24

// Bar draws the progress of one phase at a time on a terminal. Its methods
// are safe for concurrent use; a nil *Bar does nothing.
type Bar struct {
	mu      sync.Mutex
	w       io.Writer // the terminal
	now     func() time.Time
	label   string
	total   int64 // 0: unknown, no bar
	done    int64
	start   time.Time
	drawn   time.Time
	visible bool
}

// New returns a bar drawing on w, a terminal. now may be nil (the clock).
func New(w io.Writer, now func() time.Time) *Bar {
	if now == nil {
		now = time.Now
	}
	return &Bar{w: w, now: now}
}

// Start begins a phase named label of total bytes (0 when not known
// beforehand: the bytes and the rate are shown without a bar).
func (b *Bar) Start(label string, total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.label, b.total, b.done, b.start = label, total, 0, b.now()
	b.draw()
}

// Add counts n more bytes done, and redraws when Interval has passed.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.now().Sub(b.drawn) >= Interval {
		b.draw()
	}
}

// Print writes a whole line to out (a step, a report line): the bar is
// cleared first and drawn again below it, so lines never mix with it.
func (b *Bar) Print(out io.Writer, line string) {
	if b == nil {
		io.WriteString(out, line)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	io.WriteString(out, line)
	if b.label != "" {
		b.draw()
	}
}

// Clear removes the bar from the screen (on an error, before its message).
func (b *Bar) Clear() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	b.label = ""
}

func (b *Bar) clear() {
	if b.visible {
		io.WriteString(b.w, "\r\033[K")
		b.visible = false
	}
}

func (b *Bar) draw() {
	now := b.now()
	b.drawn = now
	io.WriteString(b.w, "\r\033[K"+Line(b.label, b.done, b.total, now.Sub(b.start)))
	b.visible = true
}

// Line is what the bar shows: label, bar and percentage when the total is
// known, bytes done (of total) and the rate, e.g.
// "verify packages [##########..............]  42%  126.0/300.0 MiB  84.0 MiB/s".
func Line(label string, done, total int64, elapsed time.Duration) string {
	var s strings.Builder
	s.WriteString(label)
	if total > 0 {
		frac := float64(done) / float64(total)
		if frac > 1 {
			frac = 1
		}
		full := int(frac * barWidth)
		fmt.Fprintf(&s, " [%s%s] %3d%%  %s/%s", strings.Repeat("#", full), strings.Repeat(".", barWidth-full), int(frac*100), Bytes(done, total), Bytes(total, total)+" "+unit(total))
	} else {
		fmt.Fprintf(&s, "  %s %s", Bytes(done, done), unit(done))
	}
	if elapsed > 0 && done > 0 {
		rate := int64(float64(done) / elapsed.Seconds())
		fmt.Fprintf(&s, "  %s %s/s", Bytes(rate, rate), unit(rate))
	}
	return s.String()
}

// Bytes formats n in the unit fitting scale (B, KiB, MiB, GiB), one decimal
// place above bytes; unit names that unit.
func Bytes(n, scale int64) string {
	d := divisor(scale)
	if d == 1 {
		return fmt.Sprintf("%d", n)
	}
	return fmt.Sprintf("%.1f", float64(n)/float64(d))
}

func unit(scale int64) string {
	switch divisor(scale) {
	case 1 << 30:
		return "GiB"
	case 1 << 20:
		return "MiB"
	case 1 << 10:
		return "KiB"
	}
	return "B"
}

func divisor(scale int64) int64 {
	switch {
	case scale >= 1<<30:
		return 1 << 30
	case scale >= 1<<20:
		return 1 << 20
	case scale >= 1<<10:
		return 1 << 10
	}
	return 1
}
