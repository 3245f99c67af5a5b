//go:build e2e

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	rowsTable  = "e2e_rows"
	probeTable = "e2e_probe"
	writers    = 4
	// commitWait is how long a writer waits for a commit's answer before it
	// gives up on the connection (never a cancel): the row is then in doubt.
	commitWait = 20 * time.Second
	// probeEvery paces each node's direct probe; probeWait bounds it.
	probeEvery = 150 * time.Millisecond
	probeWait  = 1500 * time.Millisecond
)

// connect opens a superuser session to addr (a node's PostgreSQL or a
// HAProxy port) from the test's namespace.
func (h *harness) connect(ctx context.Context, addr string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := Connect(ctx, h.dial, addr, h.pgUser, h.sec.SuperuserPassword, "postgres")
	if err != nil && h.oldSec != nil && authFailed(err) {
		// During a rotation: the leader learns the new password from the
		// first member upgraded.
		return Connect(ctx, h.dial, addr, h.pgUser, h.oldSec.SuperuserPassword, "postgres")
	}
	return c, err
}

// authFailed: PostgreSQL refused the password (SQLSTATE 28P01).
func authFailed(err error) bool {
	var pe *PGError
	return errors.As(err, &pe) && pe.Code == "28P01"
}

// sql runs one statement on addr and fails on any error.
func (h *harness) sql(ctx context.Context, addr, q string) ([][]string, error) {
	c, err := h.connect(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err := c.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Rows, nil
}

func pgAddr(n *node) string { return net.JoinHostPort(n.addr, strconv.Itoa(portPG)) }
func rwAddr(n *node) string { return net.JoinHostPort(n.addr, strconv.Itoa(portRW)) }
func roAddr(n *node) string { return net.JoinHostPort(n.addr, strconv.Itoa(portRO)) }

// checkRouting asks every node's HAProxy: its read-write port must reach
// the leader's PostgreSQL (not in recovery), its read-only port a replica's.
func (h *harness) checkRouting(ctx context.Context, topo topology) error {
	var errs []error
	for _, n := range h.nodes {
		for _, c := range []struct {
			addr, want string
			recovery   string
		}{{rwAddr(n), "the leader " + topo.leader.name, "f"}, {roAddr(n), "a replica", "t"}} {
			rows, err := h.sql(ctx, c.addr, "SELECT pg_is_in_recovery(), inet_server_addr()")
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", n.name, c.addr, err))
				continue
			}
			if len(rows) != 1 || rows[0][0] != c.recovery || (c.recovery == "f" && rows[0][1] != topo.leader.addr) {
				errs = append(errs, fmt.Errorf("%s: %s reached %v, want %s", n.name, c.addr, rows, c.want))
			}
		}
	}
	return errors.Join(errs...)
}

// load is a running workload: writers through HAProxy and a prober per node.
type load struct {
	h       *harness
	run     int
	ledger  *Ledger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []Sample
	recov   map[string]bool // last pg_is_in_recovery answer per node
	errs    map[string]int
}

// startLoad starts the writers (writer i through targets[i % len]) and the
// probers.
func (h *harness) startLoad(run int, targets []string) *load {
	ctx, cancel := context.WithCancel(h.ctx)
	l := &load{h: h, run: run, ledger: NewLedger(), ctx: ctx, cancel: cancel, recov: map[string]bool{}, errs: map[string]int{}}
	for i := 0; i < writers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.writer(ctx, i, targets[i%len(targets)])
		}()
	}
	for _, n := range h.nodes {
		l.probe(n)
	}
	return l
}

// probe starts the prober of n (a node that joins while the load runs).
func (l *load) probe(n *node) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.prober(l.ctx, n)
	}()
}

// stop ends the workload and waits for every writer's last answer.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) writer(ctx context.Context, w int, addr string) {
	var c *Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = l.h.connect(ctx, addr); err != nil {
				l.mu.Lock()
				l.errs[fmt.Sprintf("writer%d", w)]++
				l.mu.Unlock()
				sleep(ctx, 200*time.Millisecond)
				continue
			}
		}
		id := l.ledger.Next()
		// The commit's own deadline, not the workload's: stopping the load
		// never cuts a commit short.
		qctx, cancel := context.WithTimeout(context.Background(), commitWait)
		r, err := c.Query(qctx, fmt.Sprintf("INSERT INTO %s (run, id, writer) VALUES (%d, %d, %d)", rowsTable, l.run, id, w))
		cancel()
		o := Classify(r, err)
		l.ledger.Record(id, o)
		if o != Acked {
			l.mu.Lock()
			l.errs[fmt.Sprintf("writer%d", w)]++
			l.mu.Unlock()
		}
		if o == InDoubt || (r.Err != nil) {
			c.Close()
			c = nil
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

// prober asks n's PostgreSQL directly, every probeEvery, whether it is in
// recovery and whether a short write commits there.
func (l *load) prober(ctx context.Context, n *node) {
	var c *Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if c == nil {
			var err error
			if c, err = l.h.connect(ctx, pgAddr(n)); err != nil {
				l.sample(n.name, false)
				continue
			}
			// A backend whose client gave up is ended, not left waiting.
			qctx, cancel := context.WithTimeout(ctx, probeWait)
			_, _ = c.Query(qctx, "SET client_connection_check_interval = '1s'")
			cancel()
		}
		qctx, cancel := context.WithTimeout(ctx, probeWait)
		r, err := c.Query(qctx, fmt.Sprintf("SELECT pg_is_in_recovery(); INSERT INTO %s (node) VALUES ('%s')", probeTable, n.name))
		cancel()
		if err == nil && len(r.Rows) == 1 {
			l.mu.Lock()
			l.recov[n.name] = r.Rows[0][0] == "t"
			l.mu.Unlock()
		}
		wrote := Classify(r, err) == Acked
		l.sample(n.name, wrote)
		if err != nil || !r.Complete || (r.Err != nil && r.Err.Severity != "ERROR") {
			c.Close()
			c = nil
		}
	}
}

func (l *load) sample(node string, wrote bool) {
	l.mu.Lock()
	l.samples = append(l.samples, Sample{Node: node, At: time.Now(), Wrote: wrote})
	l.mu.Unlock()
}

func (l *load) probes() []Sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Sample(nil), l.samples...)
}

// firstWrite returns when node first acknowledged a probe write after t.
func (l *load) firstWrite(node string, t time.Time) (time.Time, bool) {
	for _, s := range l.probes() {
		if s.Node == node && s.Wrote && s.At.After(t) {
			return s.At, true
		}
	}
	return time.Time{}, false
}

// writable returns the nodes whose last probe committed.
func (l *load) writable() []string {
	last := map[string]bool{}
	for _, s := range l.probes() {
		last[s.Node] = s.Wrote
	}
	var out []string
	for n, w := range last {
		if w {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// longestGap is the longest time without an acknowledged row in [from, to].
func (l *load) longestGap(from, to time.Time) time.Duration {
	l.ledger.mu.Lock()
	acks := append([]time.Time(nil), l.ledger.ack...)
	l.ledger.mu.Unlock()
	prev := from
	var gap time.Duration
	for _, a := range acks {
		if a.Before(from) {
			continue
		}
		if a.After(to) {
			break
		}
		if d := a.Sub(prev); d > gap {
			gap = d
		}
		prev = a
	}
	if d := to.Sub(prev); d > gap {
		gap = d
	}
	return gap
}

// present reads back every row of the run from addr.
func (h *harness) present(ctx context.Context, addr string, run int) ([]int64, error) {
	rows, err := h.sql(ctx, addr, fmt.Sprintf("SELECT id FROM %s WHERE run = %d", rowsTable, run))
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		id, err := strconv.ParseInt(r[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("row id %q: %w", r[0], err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// createTables makes the workload's tables on the leader. No key on id:
// a row written twice must show up twice.
func (h *harness) createTables(ctx context.Context, leader *node) error {
	_, err := h.sql(ctx, pgAddr(leader), fmt.Sprintf(
		"CREATE TABLE IF NOT EXISTS %s (run int NOT NULL, id bigint NOT NULL, writer int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp()); "+
			"CREATE TABLE IF NOT EXISTS %s (node text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())", rowsTable, probeTable))
	return err
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

var errNoLeader = errors.New("no leader")

// leaderNow asks every reachable Patroni and returns the leader most agree on.
func (h *harness) leaderNow(ctx context.Context) (*node, error) {
	votes := map[string]int{}
	for _, n := range h.nodes {
		if n.pid == 0 {
			continue
		}
		ms, err := h.cluster(ctx, n)
		if err != nil {
			continue
		}
		for _, m := range ms {
			if m.Role == "leader" && m.State == "running" {
				votes[m.Name]++
			}
		}
	}
	best, bv := "", 0
	for n, v := range votes {
		if v > bv || (v == bv && n < best) {
			best, bv = n, v
		}
	}
	if best == "" {
		return nil, errNoLeader
	}
	return h.byName(best), nil
}

func joinNames(ns []*node) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.name)
	}
	return strings.Join(s, ",")
}

// untilAcked lets the load run on until a write is acknowledged after now
// (within 60s of what, e.g. "a healthy cluster"), then a second more, and
// stops it.
func (l *load) untilAcked(ctx context.Context, what string) error {
	from := time.Now()
	for {
		if _, ok := l.ledger.FirstAckAfter(from); ok {
			break
		}
		if time.Since(from) > 60*time.Second {
			l.stop()
			return fmt.Errorf("no write acknowledged within 60s of %s (writers: %v)", what, l.errs)
		}
		sleep(ctx, 200*time.Millisecond)
	}
	sleep(ctx, time.Second)
	l.stop()
	return nil
}

// startLoadAcked starts run h.runs of the load on targets and waits until
// it has written (before names what follows, e.g. "the fault"): a scenario
// whose load never got going would measure nothing.
func (h *harness) startLoadAcked(ctx context.Context, targets []string, before string) (*load, error) {
	l := h.startLoad(h.runs, targets)
	sleep(ctx, 2*time.Second)
	if _, ok := l.ledger.FirstAckAfter(time.Now().Add(-2 * time.Second)); !ok {
		l.stop()
		return nil, fmt.Errorf("no row acknowledged before %s (writers: %v)", before, l.errs)
	}
	return l, nil
}
