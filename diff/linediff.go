package diff

import (
	"fmt"
	"strings"
)

// op is one step of a line edit script.
type op byte

const (
	opEqual  op = ' '
	opDelete op = '-'
	opInsert op = '+'
)

// edit is one line of an edit script: the line a[A] kept or deleted, or b[B] inserted.
type edit struct {
	Op   op
	A, B int // line indexes in a and b (-1 when the line is not on that side)
}

// splitLines cuts text into lines that keep their "\n", so a missing final
// newline is a difference like any other.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
}

// lines is splitLines with the last line's newline restored when s has one.
func lines(s string) []string {
	ls := splitLines(s)
	if len(ls) > 0 && strings.HasSuffix(s, "\n") {
		ls[len(ls)-1] += "\n"
	}
	return ls
}

// lineEdits returns a shortest edit script turning a into b (Myers' O(ND)
// algorithm), after taking the common prefix and suffix off.
func lineEdits(a, b []string) []edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	es := make([]edit, 0, len(a)+len(b))
	for i := 0; i < pre; i++ {
		es = append(es, edit{opEqual, i, i})
	}
	for _, e := range myers(a[pre:len(a)-suf], b[pre:len(b)-suf]) {
		if e.A >= 0 {
			e.A += pre
		}
		if e.B >= 0 {
			e.B += pre
		}
		es = append(es, e)
	}
	for i := suf; i > 0; i-- {
		es = append(es, edit{opEqual, len(a) - i, len(b) - i})
	}
	return es
}

// myers is the greedy forward algorithm of "An O(ND) Difference Algorithm and
// Its Variations" (Myers 1986), keeping each round's furthest-reaching paths to
// walk the script back. Memory is O(D²) in the number of differences, which
// config files keep small.
func myers(a, b []string) []edit {
	n, m := len(a), len(b)
	max := n + m
	if max == 0 {
		return nil
	}
	off := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int
	var d int
search:
	for d = 0; d <= max; d++ {
		trace = append(trace, append([]int(nil), v...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert b[y]
			} else {
				x = v[off+k-1] + 1 // right: delete a[x]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				break search
			}
		}
	}
	// Walk back from (n, m) through the saved rounds.
	rev := make([]edit, 0, n+m)
	x, y := n, m
	for ; d >= 0; d-- {
		vd := trace[d]
		k := x - y
		var pk int
		if k == -d || (k != d && vd[off+k-1] < vd[off+k+1]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := vd[off+pk]
		py := px - pk
		if d == 0 {
			px, py = 0, 0
		}
		for x > px && y > py {
			x--
			y--
			rev = append(rev, edit{opEqual, x, y})
		}
		if d > 0 {
			if x == px {
				y--
				rev = append(rev, edit{opInsert, -1, y})
			} else {
				x--
				rev = append(rev, edit{opDelete, x, -1})
			}
		}
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// Hunk is one block of a unified diff: a header and its lines, each starting
// with ' ', '-' or '+'. A line that had no final newline is followed by
// "\ No newline at end of file", as diff(1) writes it.
type Hunk struct {
	Header string   `json:"header"`
	Lines  []string `json:"lines"`
}

// unified returns the hunks turning text a into text b with ctx lines of
// context. show maps each line before it is printed (redaction); it sees the
// line without its newline.
func unified(a, b string, ctx int, show func(string) string) []Hunk {
	al, bl := lines(a), lines(b)
	es := lineEdits(al, bl)
	var hunks []Hunk
	aSeen, bSeen, done := 0, 0, 0 // lines of a and b in es[:done]
	for i := 0; i < len(es); {
		if es[i].Op == opEqual {
			i++
			continue
		}
		// Extend over every change that follows within 2*ctx equal lines.
		end := i
		for {
			for end < len(es) && es[end].Op != opEqual {
				end++
			}
			k := end
			for k < len(es) && es[k].Op == opEqual {
				k++
			}
			if k == len(es) || k-end > 2*ctx {
				break
			}
			end = k
		}
		start, stop := max(i-ctx, 0), min(end+ctx, len(es))
		for _, e := range es[done:start] {
			if e.A >= 0 {
				aSeen++
			}
			if e.B >= 0 {
				bSeen++
			}
		}
		h, na, nb := hunk(es[start:stop], al, bl, show)
		h.Header = fmt.Sprintf("@@ -%s +%s @@", hunkRange(aSeen, na), hunkRange(bSeen, nb))
		hunks = append(hunks, h)
		aSeen, bSeen, done = aSeen+na, bSeen+nb, stop
		i = stop
	}
	return hunks
}

// hunk prints es and returns how many lines of a and b it covers.
func hunk(es []edit, a, b []string, show func(string) string) (h Hunk, na, nb int) {
	add := func(prefix byte, line string) {
		text := strings.TrimSuffix(line, "\n")
		if show != nil {
			text = show(text)
		}
		h.Lines = append(h.Lines, string(prefix)+text)
		if !strings.HasSuffix(line, "\n") {
			h.Lines = append(h.Lines, `\ No newline at end of file`)
		}
	}
	for _, e := range es {
		switch e.Op {
		case opEqual:
			na++
			nb++
			add(' ', a[e.A])
		case opDelete:
			na++
			add('-', a[e.A])
		case opInsert:
			nb++
			add('+', b[e.B])
		}
	}
	return h, na, nb
}

// hunkRange is one side of a hunk header, as diff -u writes it: an empty range
// is anchored at the line before it (0 at the top of the file).
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}
