package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readJournals reads testdata/<dir>/<node>.journal: Patroni's lines of a
// real run (journalctl -o short-unix), the sigstop fault on Patroni 3.0.2.
func readJournals(t *testing.T, dir string) map[string][]journalLine {
	t.Helper()
	out := map[string][]journalLine{}
	for _, n := range []string{"pg1", "pg2", "pg3"} {
		b, err := os.ReadFile(filepath.Join("testdata", dir, n+".journal"))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = parseJournal(string(b), time.Time{})
	}
	return out
}

// at is a time of the recorded run (2026-12-04, UTC).
func at(hms string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05.000", "2026-12-04 "+hms)
	if err != nil {
		panic(err)
	}
	return t
}

// edit returns lines with those containing drop removed and add (at, text)
// inserted in time order.
func edit(lines []journalLine, drop string, add ...journalLine) []journalLine {
	var out []journalLine
	for _, l := range lines {
		if drop == "" || !strings.Contains(l.text, drop) {
			out = append(out, l)
		}
	}
	for _, a := range add {
		i := 0
		for i < len(out) && !out[i].at.After(a.at) {
			i++
		}
		out = append(out[:i], append([]journalLine{a}, out[i:]...)...)
	}
	return out
}

func TestDetectRetake(t *testing.T) {
	j := readJournals(t, "retake-sigstop")
	since := at("05:34:23.700") // the SIGSTOP
	others := func(pg2 []journalLine) map[string][]journalLine {
		return map[string][]journalLine{"pg2": pg2, "pg3": j["pg3"]}
	}
	tests := []struct {
		name           string
		old            []journalLine
		others         map[string][]journalLine
		found          bool
		promoted, over string // HH:MM:SS.mmm
	}{
		{
			// The real run: pg1 frozen, pg2 promoted at 44.808, pg1 thawed
			// at 48.768 put its name into the key, pg2 saw it at 48.917.
			name: "frozen leader writes the key over the new leader's", old: j["pg1"], others: others(j["pg2"]),
			found: true, promoted: "05:34:44.808", over: "05:34:48.917",
		},
		{
			// What Patroni 3.0.3 does: the thawed leader finds pg2's name
			// and demotes; pg2 never sees pg1's name in the key.
			name: "the old leader demotes itself",
			old: edit(j["pg1"], "I am (pg1), the leader with the lock",
				journalLine{at("05:34:48.970"), "pg1 patroni[725]: 2026-12-04 05:34:48,970 INFO: demoting self because I do not have the lock and I was a leader"}),
			others: others(edit(j["pg2"], "Lock owner: pg1; I am pg2")),
		},
		{
			// A later leader race pg1 won (pg2 gone): a failover back, not
			// the defect.
			name: "the old leader won a leader race",
			old: edit(j["pg1"], "",
				journalLine{at("05:34:48.800"), "pg1 patroni[725]: 2026-12-04 05:34:48,800 INFO: promoted self to leader by acquiring session lock"}),
			others: others(j["pg2"]),
		},
		{
			// The partitioned leader's trace: it had demoted, and after the
			// heal promotes on the key it believes it holds.
			name: "partitioned leader promotes because it had the session lock",
			old: edit(j["pg1"], "",
				journalLine{at("05:34:48.900"), "pg1 patroni[725]: 2026-12-04 05:34:48,900 INFO: promoted self to leader because I had the session lock"}),
			others: others(edit(j["pg2"], "Lock owner: pg1; I am pg2")),
			found:  true, promoted: "05:34:44.808", over: "05:34:48.900",
		},
		{
			name: "nobody else promoted", old: j["pg1"],
			others: others(edit(j["pg2"], "promoted self to leader by acquiring session lock")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := detectRetake("pg1", tc.old, tc.others, since)
			if r.found != tc.found {
				t.Fatalf("found %v, want %v (%+v)", r.found, tc.found, r)
			}
			if !tc.found {
				return
			}
			if r.newLead != "pg2" || r.oldLeader != "pg1" {
				t.Errorf("new leader %s, old %s", r.newLead, r.oldLeader)
			}
			if got := r.promoted.UTC().Format("15:04:05.000"); got != tc.promoted {
				t.Errorf("promoted at %s, want %s", got, tc.promoted)
			}
			if got := r.overtaken.UTC().Format("15:04:05.000"); got != tc.over {
				t.Errorf("key taken back at %s, want %s", got, tc.over)
			}
			if !strings.Contains(r.String(), "patroni/patroni#2689") || len(r.evidence) < 2 {
				t.Errorf("evidence: %s", r)
			}
		})
	}
}

func TestRetakeExplains(t *testing.T) {
	r := retake{found: true, oldLeader: "pg1", newLead: "pg2", promoted: at("05:34:44.808"), overtaken: at("05:34:48.917")}
	l := NewLedger()
	inside, before, after, never := l.Next(), l.Next(), l.Next(), l.Next()
	l.rows[inside], l.ackAt[inside] = Acked, at("05:34:46.000")
	l.rows[before], l.ackAt[before] = Acked, at("05:34:30.000")
	l.rows[after], l.ackAt[after] = Acked, at("05:34:55.000")
	l.rows[never] = InDoubt
	tests := []struct {
		name string
		v    Verdict
		o    Overlap
		want string // "" when the retake explains everything
	}{
		{"a row the new leader acknowledged", Verdict{Lost: []int64{inside}}, Overlap{}, ""},
		{"a row acknowledged before the promotion", Verdict{Lost: []int64{inside, before}}, Overlap{}, "1 lost rows acknowledged outside pg2's time as leader (2)"},
		{"a row acknowledged after the key went back", Verdict{Lost: []int64{after}}, Overlap{}, "outside pg2's time as leader (3)"},
		{"a duplicate", Verdict{Duplicates: []int64{never}}, Overlap{}, "duplicates [4]"},
		{"an overlap inside", Verdict{}, Overlap{Count: 1, From: at("05:34:45.000"), To: at("05:34:45.500")}, ""},
		{"an overlap outside", Verdict{}, Overlap{Count: 1, From: at("05:34:50.000"), To: at("05:34:58.000")}, "writable primaries overlapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(r.explains(tc.v, tc.o, l), "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("explains: %q, want %q", got, tc.want)
			}
		})
	}
}
