package faults

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Patroni before 3.0.3 and its etcd3 leader key (patroni/patroni#2689):
// a leader whose HA loop did not run for longer than ttl (partitioned from
// etcd, or frozen) finds its lease expired, creates a new one and puts the
// leader key unconditionally, on its cached view of the cluster, even when
// another member has promoted meanwhile. In the journals:
//
//   - the new leader N: "promoted self to leader by acquiring session lock";
//   - then the old leader O writes the key again: N logs "Lock owner: O; I
//     am N", "Demoting self (immediate-nolock)" and "demoting self because I
//     do not have the lock and I was a leader" and pg_rewinds onto O's
//     history; O itself logs "no action. I am (O), the leader with the lock"
//     (it never demoted: a frozen Patroni) or "promoted self to leader
//     because I had the session lock" (it had demoted: a partition), never a
//     won leader race ("promoted self to leader by acquiring session lock",
//     "acquired session lock as a leader");
//   - the rows N acknowledged between its promotion and its demotion are
//     lost with N's history.
//
// Without the defect, O finds N's name in the key and demotes itself.

// journalLine is one line of a node's journal with its time.
type journalLine struct {
	at   time.Time
	text string
}

// short is l as evidence: the node, the time and Patroni's message.
func (l journalLine) short(node string) string {
	msg := l.text
	for _, sep := range []string{" INFO: ", " WARNING: ", " ERROR: "} {
		if _, m, ok := strings.Cut(msg, sep); ok {
			msg = m
			break
		}
	}
	return node + " " + l.at.UTC().Format("15:04:05.000") + " " + strings.TrimSpace(msg)
}

// firstAfter returns the first line after t (and before until, when not
// zero) that contains msg.
func firstAfter(lines []journalLine, msg string, t, until time.Time) (journalLine, bool) {
	for _, l := range lines {
		if !l.at.After(t) || (!until.IsZero() && l.at.After(until)) {
			continue
		}
		if strings.Contains(l.text, msg) {
			return l, true
		}
	}
	return journalLine{}, false
}

// retake is the journals' evidence that the old leader wrote the leader key
// over a new leader's (patroni/patroni#2689).
type retake struct {
	found               bool
	oldLeader, newLead  string
	promoted, overtaken time.Time // N's promotion; when N saw O's name in the key (or O re-promoted)
	evidence            []string  // the journal lines, as read
}

func (r retake) String() string {
	return fmt.Sprintf("%s wrote the leader key again %.1fs after %s had promoted (patroni/patroni#2689): %s",
		r.oldLeader, r.overtaken.Sub(r.promoted).Seconds(), r.newLead, strings.Join(r.evidence, " / "))
}

// Margins around the window in which the new leader acknowledged rows that
// went with its history: journald stamps a line when it reads it, the
// workload when the answer arrives.
const (
	retakeBefore = time.Second
	retakeAfter  = 2 * time.Second
)

// explains returns what of the verdict and the overlap the retake does not
// explain: a lost row acknowledged outside the new leader's time as leader,
// a duplicate, a failed row committed, a row never sent, an overlap of
// writable primaries outside that time.
func (r retake) explains(v Verdict, o Overlap, l *Ledger) []string {
	from, to := r.promoted.Add(-retakeBefore), r.overtaken.Add(retakeAfter)
	var out []string
	if outside := l.AckedOutside(v.Lost, from, to); len(outside) > 0 {
		out = append(out, fmt.Sprintf("%d lost rows acknowledged outside %s's time as leader (%s)", len(outside), r.newLead, ids(outside)))
	}
	if len(v.Duplicates)+len(v.Resurrected)+len(v.Unknown) > 0 {
		out = append(out, fmt.Sprintf("duplicates %v, failed rows present %v, rows never sent %v", v.Duplicates, v.Resurrected, v.Unknown))
	}
	if o.Count > 0 && (o.From.Before(from) || o.To.After(to)) {
		out = append(out, fmt.Sprintf("writable primaries overlapping outside %s's time as leader (%s to %s)",
			r.newLead, o.From.Format("15:04:05.000"), o.To.Format("15:04:05.000")))
	}
	return out
}

// parseJournal reads journalctl's short-unix output, keeping the lines
// from since on.
func parseJournal(out string, since time.Time) []journalLine {
	var lines []journalLine
	for _, line := range strings.Split(out, "\n") {
		ts, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil {
			continue
		}
		at := time.Unix(0, int64(f*1e9))
		if at.Before(since) {
			continue
		}
		lines = append(lines, journalLine{at: at, text: rest})
	}
	return lines
}

// detectRetake looks in the Patroni journals since the fault (old's, and
// the other members' by name) for the trace of patroni/patroni#2689:
// another member N promoted by acquiring the key, then the key carried
// old's name again (N's "Lock owner: old", or old's "promoted self to leader
// because I had the session lock") without old having won a leader race in
// between.
func detectRetake(old string, oldLines []journalLine, others map[string][]journalLine, since time.Time) retake {
	names := make([]string, 0, len(others))
	for n := range others {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		lines := others[n]
		prom, ok := firstAfter(lines, "promoted self to leader by acquiring session lock", since, time.Time{})
		if !ok {
			continue
		}
		r := retake{found: true, oldLeader: old, newLead: n, promoted: prom.at,
			evidence: []string{prom.short(n)}}
		seen, okSeen := firstAfter(lines, "Lock owner: "+old+"; I am "+n, prom.at, time.Time{})
		again, okAgain := firstAfter(oldLines, "promoted self to leader because I had the session lock", prom.at, time.Time{})
		switch {
		case okSeen && (!okAgain || !again.at.Before(seen.at)):
			r.overtaken = seen.at
			r.evidence = append(r.evidence, seen.short(n))
			if d, ok := firstAfter(lines, "demoting self because I do not have the lock and I was a leader", seen.at, time.Time{}); ok {
				r.evidence = append(r.evidence, d.short(n))
			}
		case okAgain:
			r.overtaken = again.at
			r.evidence = append(r.evidence, again.short(old))
		default:
			continue
		}
		// A leader race old won is a failover back, not the defect.
		won := false
		for _, msg := range []string{"promoted self to leader by acquiring session lock", "acquired session lock as a leader"} {
			if _, ok := firstAfter(oldLines, msg, prom.at, r.overtaken); ok {
				won = true
			}
		}
		if won {
			continue
		}
		if l, ok := firstAfter(oldLines, "the leader with the lock", prom.at, r.overtaken.Add(retakeAfter)); ok {
			r.evidence = append(r.evidence, l.short(old))
		}
		return r
	}
	return retake{}
}
