package faults

import (
	"strings"
	"time"
)

// failsafeEvidence picks from a leader's Patroni journal the lines up to to
// that tell why it kept or dropped its role without etcd: its POST
// /failsafe calls that failed or were refused, a failed leader lock update,
// a demotion, and the etcd3 error closing a traceback, as short lines of
// node. The loops it stayed leader with every member accepting are only
// counted.
func failsafeEvidence(node string, lines []journalLine, to time.Time) (kept []string, accepted int) {
	for _, l := range lines {
		if l.at.After(to) {
			break
		}
		t := l.text
		if _, rest, ok := strings.Cut(t, "]: "); ok {
			t = rest // the host and unit[pid] prefix
		}
		switch {
		case strings.Contains(t, "continue to run as a leader because failsafe mode is enabled and all members are accessible"):
			accepted++
		case strings.Contains(t, "Got response from") && strings.HasSuffix(t, ": Accepted"):
		case strings.Contains(t, "failsafe"), strings.Contains(t, "demot"), strings.Contains(t, "Request failed"),
			strings.Contains(t, "Got response"), strings.Contains(t, "update leader lock"),
			strings.HasPrefix(t, "patroni.dcs.etcd3."):
			if len(t) > 240 {
				t = t[:240] + "…"
			}
			kept = append(kept, journalLine{at: l.at, text: t}.short(node))
		}
	}
	return kept, accepted
}
