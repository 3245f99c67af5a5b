package faults

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	base := map[int64]Outcome{1: Acked, 2: Acked, 3: InDoubt, 4: Failed, 5: Acked}
	tests := []struct {
		name    string
		present []int64
		wantErr string // "" means the verdict must pass
		lost    int
		dup     int
	}{
		{"all acknowledged present", []int64{1, 2, 5}, "", 0, 0},
		{"in doubt present is fine", []int64{1, 2, 3, 5}, "", 0, 0},
		{"a lost row", []int64{1, 5}, "1 acknowledged rows lost (2)", 1, 0},
		{"every row lost", nil, "3 acknowledged rows lost (1 2 5)", 3, 0},
		{"a duplicate", []int64{1, 2, 2, 5}, "1 rows present twice (2)", 0, 1},
		{"a duplicate in doubt", []int64{1, 2, 3, 3, 5}, "1 rows present twice (3)", 0, 1},
		{"a failed row committed", []int64{1, 2, 4, 5}, "rows that failed are present (4)", 0, 0},
		{"a row never sent", []int64{1, 2, 5, 9}, "rows never sent are present (9)", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Check(base, tc.present)
			err := v.Err()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want a pass, got %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
			}
			if len(v.Lost) != tc.lost || len(v.Duplicates) != tc.dup {
				t.Errorf("lost %v duplicates %v, want %d and %d", v.Lost, v.Duplicates, tc.lost, tc.dup)
			}
			if v.Acked != 3 || v.Failed != 1 || v.InDoubt != 1 || v.Sent != 5 {
				t.Errorf("counts %s", v)
			}
		})
	}
}

func TestLedger(t *testing.T) {
	l := NewLedger()
	a, b, c := l.Next(), l.Next(), l.Next()
	if a != 1 || b != 2 || c != 3 {
		t.Fatalf("numbers %d %d %d", a, b, c)
	}
	before := time.Now()
	l.Record(a, Acked)
	l.Record(b, Failed)
	o := l.Outcomes()
	if o[1] != Acked || o[2] != Failed || o[3] != InDoubt {
		t.Errorf("outcomes %v", o)
	}
	if at, ok := l.FirstAckAfter(before.Add(-time.Second)); !ok || at.Before(before) {
		t.Errorf("first ack %v %v", at, ok)
	}
	if _, ok := l.FirstAckAfter(time.Now().Add(time.Second)); ok {
		t.Error("an acknowledgement in the future")
	}
}

func TestLedgerAckedOutside(t *testing.T) {
	l := NewLedger()
	early, late, failed, never := l.Next(), l.Next(), l.Next(), l.Next()
	l.Record(early, Acked)
	time.Sleep(20 * time.Millisecond)
	from := time.Now()
	l.Record(late, Acked)
	l.Record(failed, Failed)
	to := time.Now()
	tests := []struct {
		name     string
		ids      []int64
		from, to time.Time
		want     []int64
	}{
		{"acknowledged inside", []int64{late}, from, to, nil},
		{"acknowledged before the window", []int64{early, late}, from, to, []int64{early}},
		{"acknowledged after the window", []int64{late}, from.Add(-time.Hour), from.Add(-time.Minute), []int64{late}},
		{"never acknowledged", []int64{failed, never}, from.Add(-time.Hour), to, []int64{failed, never}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := l.AckedOutside(tc.ids, tc.from, tc.to)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("AckedOutside(%v) = %v, want %v", tc.ids, got, tc.want)
			}
		})
	}
}

func TestLongestOverlap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// probes: node, ms, wrote
	type p struct {
		node  string
		ms    int
		wrote bool
	}
	mk := func(ps ...p) []Sample {
		var s []Sample
		for _, x := range ps {
			s = append(s, Sample{Node: x.node, At: at(x.ms), Wrote: x.wrote})
		}
		return s
	}
	tests := []struct {
		name  string
		s     []Sample
		count int
		dur   time.Duration
	}{
		{"one primary", mk(p{"a", 0, true}, p{"a", 150, true}, p{"b", 70, false}, p{"b", 220, false}), 0, 0},
		{"clean handover", mk(p{"a", 0, true}, p{"a", 150, true}, p{"a", 300, false}, p{"b", 200, false}, p{"b", 350, true}, p{"b", 500, true}), 0, 0},
		{"handover through a failed probe", mk(p{"a", 0, true}, p{"a", 150, false}, p{"a", 300, true}, p{"b", 200, true}, p{"b", 250, false}), 0, 0},
		{"two primaries for 300 ms", mk(p{"a", 0, true}, p{"a", 150, true}, p{"a", 300, true}, p{"a", 450, true}, p{"b", 100, false}, p{"b", 150, true}, p{"b", 300, true}, p{"b", 450, true}), 1, 300 * time.Millisecond},
		{"one write inside the other's run", mk(p{"a", 0, true}, p{"a", 300, true}, p{"b", 100, false}, p{"b", 200, true}, p{"b", 250, false}), 1, 0},
		{"three nodes, longest wins", mk(p{"a", 0, true}, p{"a", 1000, true}, p{"b", 100, true}, p{"b", 200, true}, p{"c", 300, true}, p{"c", 900, true}), 2, 600 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := LongestOverlap(tc.s)
			if o.Count != tc.count || o.Duration() != tc.dur {
				t.Fatalf("overlap count %d duration %v (%v), want %d and %v", o.Count, o.Duration(), o.Nodes, tc.count, tc.dur)
			}
		})
	}
}

// TestSCRAM checks the client's proof and the server signature against
// RFC 7677's example exchange.
func TestSCRAM(t *testing.T) {
	s := &scram{user: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO"}
	s.firstBare = "n=user,r=" + s.nonce
	final, err := s.clientFinal("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
	if err != nil {
		t.Fatal(err)
	}
	want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	if final != want {
		t.Errorf("client final\n got %s\nwant %s", final, want)
	}
	if !s.verifyServer("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") {
		t.Error("the RFC's server signature is refused")
	}
	if s.verifyServer("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") {
		t.Error("a wrong server signature is accepted")
	}
	if _, err := s.clientFinal("r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"); err == nil {
		t.Error("a server nonce not extending the client's is accepted")
	}
}

func TestDebianVersionBefore(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"3.0.2-1", true}, {"3.0.3-1", false}, {"3.0.4", false}, {"2.1.6-1", true},
		{"3.1.0-2", false}, {"4.0.0", false}, {"1:3.0.2-1", true}, {"3.0.2+dfsg-1", true}, {"junk", false},
		{"3.0.10-1", false}, {"3.0.2-1-1~bpo12", true}, {"", false},
	} {
		if got := debianVersionBefore(tc.v, "3.0.3"); got != tc.want {
			t.Errorf("debianVersionBefore(%q, 3.0.3) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	warn := Notice{Severity: "WARNING", Code: "01000", Message: "canceling wait for synchronous replication due to user request"}
	tests := []struct {
		name string
		r    Result
		err  error
		want Outcome
	}{
		{"committed", Result{Tag: "INSERT 0 1", Complete: true}, nil, Acked},
		{"committed with a notice", Result{Tag: "INSERT 0 1", Complete: true, Notices: []Notice{{Severity: "NOTICE"}}}, nil, Acked},
		{"sync wait cancelled", Result{Tag: "INSERT 0 1", Complete: true, Notices: []Notice{warn}}, nil, InDoubt},
		{"read-only", Result{Complete: true, Err: &PGError{Severity: "ERROR", Code: "25006"}}, nil, Failed},
		{"terminated", Result{Err: &PGError{Severity: "FATAL", Code: "57P01"}}, io.ErrUnexpectedEOF, InDoubt},
		{"fatal then ready", Result{Complete: true, Err: &PGError{Severity: "FATAL", Code: "57P01"}}, nil, InDoubt},
		{"no answer", Result{}, io.EOF, InDoubt},
		{"answer cut short", Result{Tag: "INSERT 0 1"}, nil, InDoubt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.r, tc.err); got != tc.want {
				t.Errorf("Classify = %v, want %v", got, tc.want)
			}
		})
	}
}
