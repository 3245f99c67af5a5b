package faults

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A CI run's leader (Patroni 3.0.2, failsafe_mode on) in
// testdata/failsafe-race/pg1.journal: etcd stopped on pg3 while pg1's lease
// keepalive was on pg3's member; the answer was a gRPC error, not a
// connection error, and pg1 demoted itself without asking any member.
func TestFailsafeEvidenceRace(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "failsafe-race", "pg1.journal"))
	if err != nil {
		t.Fatal(err)
	}
	lines := parseJournal(string(b), time.Time{})
	kept, accepted := failsafeEvidence("pg1", lines, at("21:19:25.000"))
	want := []string{
		"pg1 21:19:22.939 patroni.dcs.etcd3.Unknown: <Unknown error: 'OK: HTTP status code 200; transport: missing content-type field', code: 2>",
		"pg1 21:19:22.940 failed to update leader lock",
		"pg1 21:19:24.394 demoted self because failed to update leader lock in DCS",
	}
	if !slices.Equal(kept, want) || accepted != 0 {
		t.Errorf("got %q, %d accepted\nwant %q, 0 accepted", kept, accepted, want)
	}
	// Only the lines up to the end of the window.
	if kept, _ := failsafeEvidence("pg1", lines, at("21:19:22.940")); !slices.Equal(kept, want[:1]) {
		t.Errorf("up to 21:19:22.940: got %q, want %q", kept, want[:1])
	}
}

// The loops every member accepted are counted, a failed call and the
// demotion are kept: two loops of a passing run, then a failure written
// after Patroni 3.0.2's messages (ha.py call_failsafe_member).
func TestFailsafeEvidenceLoops(t *testing.T) {
	j := parseJournal(`1796419557.129870 pg2 patroni[713]: 2026-12-04 21:25:57,129 INFO: Got response from pg3 https://10.77.0.13:8008/patroni: Accepted
1796419557.138991 pg2 patroni[713]: 2026-12-04 21:25:57,133 INFO: Got response from pg1 https://10.77.0.11:8008/patroni: Accepted
1796419557.138991 pg2 patroni[713]: 2026-12-04 21:25:57,134 INFO: continue to run as a leader because failsafe mode is enabled and all members are accessible
1796419561.306202 pg2 patroni[713]: 2026-12-04 21:26:01,305 INFO: Got response from pg1 https://10.77.0.11:8008/patroni: Accepted
1796419561.306488 pg2 patroni[713]: 2026-12-04 21:26:01,306 INFO: Got response from pg3 https://10.77.0.13:8008/patroni: Accepted
1796419561.307412 pg2 patroni[713]: 2026-12-04 21:26:01,307 INFO: continue to run as a leader because failsafe mode is enabled and all members are accessible
1796419564.146911 pg2 patroni[713]: 2026-12-04 21:26:04,146 WARNING: Request failed to pg3: POST https://10.77.0.13:8008/patroni (read timeout=2)
1796419564.147000 pg2 patroni[713]: 2026-12-04 21:26:04,146 INFO: demoting self because DCS is not accessible and I was a leader
`, time.Time{})
	kept, accepted := failsafeEvidence("pg2", j, at("21:30:00.000"))
	want := []string{
		"pg2 21:26:04.146 Request failed to pg3: POST https://10.77.0.13:8008/patroni (read timeout=2)",
		"pg2 21:26:04.147 demoting self because DCS is not accessible and I was a leader",
	}
	if !slices.Equal(kept, want) || accepted != 2 {
		t.Errorf("got %q, %d accepted\nwant %q, 2 accepted", kept, accepted, want)
	}
}
