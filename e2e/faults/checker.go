package faults

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Outcome is what a writer knows of one numbered row.
type Outcome int

const (
	// Failed: the server reported an ERROR for the statement, so its
	// transaction did not commit; the row must not be there.
	Failed Outcome = iota + 1
	// InDoubt: no answer (connection lost, FATAL, timeout), or a commit
	// acknowledged with a WARNING that the wait for synchronous replication
	// was cancelled: the row may or may not survive.
	InDoubt
	// Acked: the commit returned without a warning; the row must survive.
	Acked
)

func (o Outcome) String() string {
	switch o {
	case Failed:
		return "failed"
	case InDoubt:
		return "in doubt"
	case Acked:
		return "acknowledged"
	}
	return "unknown"
}

// Ledger records every numbered row a writer sent and its outcome.
type Ledger struct {
	mu    sync.Mutex
	next  int64
	rows  map[int64]Outcome
	ack   []time.Time // when each acknowledgement arrived
	ackAt map[int64]time.Time
}

// NewLedger returns an empty ledger; row numbers start at 1.
func NewLedger() *Ledger {
	return &Ledger{rows: map[int64]Outcome{}, ackAt: map[int64]time.Time{}}
}

// Next hands out the next row number, recorded as in doubt until Record.
func (l *Ledger) Next() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	l.rows[l.next] = InDoubt
	return l.next
}

// Record sets a row's outcome.
func (l *Ledger) Record(id int64, o Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows[id] = o
	if o == Acked {
		now := time.Now()
		l.ack = append(l.ack, now)
		l.ackAt[id] = now
	}
}

// AckedOutside returns the rows of ids whose acknowledgement did not arrive
// within [from, to] (or never arrived): a loss a known cause can explain
// only for rows acknowledged while that cause was at work.
func (l *Ledger) AckedOutside(ids []int64, from, to time.Time) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, id := range ids {
		at, ok := l.ackAt[id]
		if !ok || at.Before(from) || at.After(to) {
			out = append(out, id)
		}
	}
	return out
}

// Outcomes returns a copy of every row's outcome.
func (l *Ledger) Outcomes() map[int64]Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[int64]Outcome, len(l.rows))
	for k, v := range l.rows {
		m[k] = v
	}
	return m
}

// FirstAckAfter returns the first acknowledgement after t.
func (l *Ledger) FirstAckAfter(t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.ack), func(i int) bool { return l.ack[i].After(t) })
	if i == len(l.ack) {
		return time.Time{}, false
	}
	return l.ack[i], true
}

// Classify turns a commit's answer (r, or err when the connection failed)
// into an outcome: acknowledged only when
// the server completed it without error or warning.
func Classify(r Result, err error) Outcome {
	switch {
	case err != nil || !r.Complete:
		return InDoubt
	case r.Err != nil && r.Err.Severity == "ERROR":
		return Failed
	case r.Err != nil:
		return InDoubt // FATAL or PANIC: the commit may have happened
	}
	for _, n := range r.Notices {
		if n.Severity == "WARNING" {
			// "canceling wait for synchronous replication …": committed
			// locally, perhaps not on the standby.
			return InDoubt
		}
	}
	return Acked
}

// Verdict compares the writers' outcomes with the rows found in the table.
type Verdict struct {
	Sent, Acked, Failed, InDoubt int
	InDoubtPresent               int
	Lost                         []int64 // acknowledged, not found
	Duplicates                   []int64 // found more than once
	Resurrected                  []int64 // failed, yet found
	Unknown                      []int64 // found, never sent
}

// Check returns the verdict on outcomes against present, the ids read back
// from the table (a duplicate appears twice).
func Check(outcomes map[int64]Outcome, present []int64) Verdict {
	var v Verdict
	count := map[int64]int{}
	for _, id := range present {
		count[id]++
	}
	for id, n := range count {
		if n > 1 {
			v.Duplicates = append(v.Duplicates, id)
		}
		if _, ok := outcomes[id]; !ok {
			v.Unknown = append(v.Unknown, id)
		}
	}
	v.Sent = len(outcomes)
	for id, o := range outcomes {
		switch o {
		case Acked:
			v.Acked++
			if count[id] == 0 {
				v.Lost = append(v.Lost, id)
			}
		case Failed:
			v.Failed++
			if count[id] > 0 {
				v.Resurrected = append(v.Resurrected, id)
			}
		default:
			v.InDoubt++
			if count[id] > 0 {
				v.InDoubtPresent++
			}
		}
	}
	for _, s := range [][]int64{v.Lost, v.Duplicates, v.Resurrected, v.Unknown} {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	}
	return v
}

// Err is nil when no acknowledged row is lost, none appears twice, no
// failed row committed and nothing unknown appeared.
func (v Verdict) Err() error {
	var p []string
	if len(v.Lost) > 0 {
		p = append(p, fmt.Sprintf("%d acknowledged rows lost (%s)", len(v.Lost), ids(v.Lost)))
	}
	if len(v.Duplicates) > 0 {
		p = append(p, fmt.Sprintf("%d rows present twice (%s)", len(v.Duplicates), ids(v.Duplicates)))
	}
	if len(v.Resurrected) > 0 {
		p = append(p, fmt.Sprintf("%d rows that failed are present (%s)", len(v.Resurrected), ids(v.Resurrected)))
	}
	if len(v.Unknown) > 0 {
		p = append(p, fmt.Sprintf("%d rows never sent are present (%s)", len(v.Unknown), ids(v.Unknown)))
	}
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("checker: %s", strings.Join(p, "; "))
}

func (v Verdict) String() string {
	return fmt.Sprintf("sent=%d acked=%d failed=%d in-doubt=%d (present %d) lost=%d duplicates=%d",
		v.Sent, v.Acked, v.Failed, v.InDoubt, v.InDoubtPresent, len(v.Lost), len(v.Duplicates))
}

func ids(s []int64) string {
	var b strings.Builder
	for i, id := range s {
		if i == 10 {
			fmt.Fprintf(&b, " …")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// Sample is one direct probe of a node's PostgreSQL: Wrote is true when a
// short write committed (acknowledged) there, At when the answer came.
type Sample struct {
	Node  string
	At    time.Time
	Wrote bool
}

// Overlap is the longest time two nodes both acknowledged writes.
type Overlap struct {
	Nodes    [2]string
	From, To time.Time
	Count    int // pairs of writable spans that intersect
}

// Duration is the length of the longest overlap (0 when a single write of
// one node fell inside the other's writable span).
func (o Overlap) Duration() time.Duration { return o.To.Sub(o.From) }

// span is a run of consecutive acknowledged probes of one node: the node
// was writable from the first acknowledgement to the last.
type span struct {
	node     string
	from, to time.Time
}

// spans cuts each node's samples (in time order) into writable runs; any
// probe that did not commit ends a run.
func spans(samples []Sample) []span {
	by := map[string][]Sample{}
	for _, s := range samples {
		by[s.Node] = append(by[s.Node], s)
	}
	var out []span
	for node, ss := range by {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].At.Before(ss[j].At) })
		var cur *span
		for _, s := range ss {
			if !s.Wrote {
				cur = nil
				continue
			}
			if cur == nil {
				out = append(out, span{node: node, from: s.At, to: s.At})
				cur = &out[len(out)-1]
				continue
			}
			cur.to = s.At
		}
	}
	return out
}

// LongestOverlap finds the intersections of writable runs of different
// nodes: two primaries acknowledging writes at once. Count is 0 when there
// is none.
func LongestOverlap(samples []Sample) Overlap {
	sp := spans(samples)
	var best Overlap
	for i := range sp {
		for j := i + 1; j < len(sp); j++ {
			a, b := sp[i], sp[j]
			if a.node == b.node {
				continue
			}
			from, to := a.from, a.to
			if b.from.After(from) {
				from = b.from
			}
			if b.to.Before(to) {
				to = b.to
			}
			if to.Before(from) {
				continue
			}
			best.Count++
			if best.Count == 1 || to.Sub(from) > best.Duration() {
				n := [2]string{a.node, b.node}
				if n[1] < n[0] {
					n[0], n[1] = n[1], n[0]
				}
				best.Nodes, best.From, best.To = n, from, to
			}
		}
	}
	return best
}
