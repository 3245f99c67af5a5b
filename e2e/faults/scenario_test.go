//go:build e2e

package faults

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// figures are what one fault run measured.
type figures struct {
	name              string
	oldLeader, leader string
	toLeader          time.Duration // fault → first write committed on the new leader (probe); -1: same leader
	outage            time.Duration // longest time without an acknowledged row
	verdict           Verdict
	overlap           Overlap
	note              string
	// retake: the journals show the old leader writing the leader key
	// again after another member had promoted (patroni/patroni#2689).
	retake retake
	// unexplained says what of a loss or overlap the retake does not
	// explain (empty when it explains everything, or there is none).
	unexplained []string
}

func (f figures) String() string {
	lead := "same leader " + f.leader
	if f.toLeader >= 0 {
		lead = fmt.Sprintf("new leader %s after %.1fs", f.leader, f.toLeader.Seconds())
	}
	ov := f.overlapString()
	s := fmt.Sprintf("%-26s old leader %s, %s, writes back after %.1fs; rows acked %d lost %d in doubt %d (present %d) failed %d dup %d; %s",
		f.name, f.oldLeader, lead, f.outage.Seconds(), f.verdict.Acked, len(f.verdict.Lost), f.verdict.InDoubt,
		f.verdict.InDoubtPresent, f.verdict.Failed, len(f.verdict.Duplicates), ov)
	if f.note != "" {
		s += "; " + f.note
	}
	return s
}

// overlapString says whether two nodes acknowledged writes at once.
func (f figures) overlapString() string {
	if f.overlap.Count == 0 {
		return "no overlap"
	}
	return fmt.Sprintf("OVERLAP %v of %s (%d)", f.overlap.Duration().Round(time.Millisecond), strings.Join(f.overlap.Nodes[:], "+"), f.overlap.Count)
}

// fault is one scenario on the shared cluster.
type fault struct {
	name string
	// targets are the addresses the writers use (default: every node's
	// HAProxy read-write port).
	targets func(topology) []string
	// inject breaks something, waits, and heals it; it may add a note.
	inject func(ctx context.Context, topo topology, l *load) (note string, err error)
	// lossExpected: the negative control, whose checker must fail.
	lossExpected bool
	sync         bool // a synchronous standby is expected before the fault
	// syncAfter: a synchronous standby is expected after the fault too.
	syncAfter bool
	// leaderKeyRace: the fault can make an old leader that missed its
	// key's expiry write the key again (Patroni before 3.0.3 with etcd3,
	// fixed by patroni/patroni#2689); with such a Patroni the run measures
	// the loss and repairs the cluster instead of failing.
	leaderKeyRace bool
}

// runFault runs the load, injects the fault, waits for the cluster to heal
// and judges the run.
func (h *harness) runFault(f fault) (figures, error) {
	ctx := h.ctx
	fig := figures{name: f.name, toLeader: -1}
	topo, err := h.waitHealthy(ctx, 120*time.Second, f.sync)
	if err != nil {
		return fig, fmt.Errorf("before the fault: %w", err)
	}
	fig.oldLeader = topo.leader.name
	h.runs++
	targets := []string{}
	if f.targets != nil {
		targets = f.targets(topo)
	} else {
		for _, n := range h.nodes {
			targets = append(targets, rwAddr(n))
		}
	}
	l, err := h.startLoadAcked(ctx, targets, "the fault")
	if err != nil {
		return fig, err
	}
	defer l.stop()
	t0 := time.Now()
	fig.note, err = f.inject(ctx, topo, l)
	if err != nil {
		// What the fault observed (writable nodes, rows acknowledged) is
		// half of the failure: a CI log must show it without artefacts.
		if fig.note != "" {
			return fig, fmt.Errorf("inject: %w (observed: %s)", err, fig.note)
		}
		return fig, fmt.Errorf("inject: %w", err)
	}
	if f.leaderKeyRace && h.patroniBefore303 {
		reinit, err := h.repair(ctx)
		if err != nil {
			return fig, fmt.Errorf("repair: %w", err)
		}
		if len(reinit) > 0 {
			fig.note += fmt.Sprintf("; reinitialised %v (on another history, or not replaying from the leader for 40s)", reinit)
		}
	}
	var after topology
	if f.leaderKeyRace && h.patroniBefore303 && f.syncAfter {
		// A leader that took the key back finds the synchronous
		// replication key written by the member it took it from, and
		// Patroni 3.0.2 never overwrites it ("Synchronous replication key
		// updated by someone else", every loop): no synchronous standby
		// is ever named again. Seen in its journal, the remedy is to turn
		// synchronous_mode off (the leader deletes the key) and on.
		if after, err = h.waitHealthy(ctx, 60*time.Second, true); err != nil {
			lead, lerr := h.leaderNow(ctx)
			if lerr != nil {
				return fig, fmt.Errorf("after the fault: %w", err)
			}
			stuck, serr := h.syncKeyStuck(ctx, lead)
			if serr != nil {
				return fig, fmt.Errorf("after the fault: %w (%v)", err, serr)
			}
			if stuck == "" {
				return fig, fmt.Errorf("after the fault: %w", err)
			}
			if err := h.resetSyncMode(ctx, lead); err != nil {
				return fig, fmt.Errorf("after the fault: %s: %w", stuck, err)
			}
			fig.note += fmt.Sprintf("; synchronous_mode turned off and on (%s)", stuck)
		}
	}
	after, err = h.waitHealthy(ctx, 150*time.Second, f.syncAfter)
	if err != nil {
		return fig, fmt.Errorf("after the fault: %w", err)
	}
	fig.leader = after.leader.name
	if f.leaderKeyRace && h.patroniBefore303 {
		// The old leader takes the key back, if it does, a few seconds
		// after the heal: read the journals once the cluster is whole.
		if fig.retake, err = h.leaderKeyRetaken(ctx, topo.leader, t0); err != nil {
			return fig, err
		}
		if fig.retake.found {
			fig.note += "; " + fig.retake.String()
		}
	}
	// The load runs on until writes are acknowledged again.
	if err := l.untilAcked(ctx, "a healthy cluster"); err != nil {
		return fig, err
	}
	end := time.Now()
	fig.outage = l.longestGap(t0, end)
	if fig.leader != fig.oldLeader {
		if at, ok := l.firstWrite(fig.leader, t0); ok {
			fig.toLeader = at.Sub(t0)
		}
	}
	present, err := h.present(ctx, pgAddr(after.leader), h.runs)
	if err != nil {
		return fig, fmt.Errorf("read back: %w", err)
	}
	fig.verdict = Check(l.ledger.Outcomes(), present)
	fig.overlap = LongestOverlap(l.probes())
	if fig.retake.found {
		fig.unexplained = fig.retake.explains(fig.verdict, fig.overlap, l.ledger)
	}
	return fig, nil
}

// block drops n's traffic with peers: everything, or only the given TCP
// ports (either end), both ways. The test's own address is never blocked.
func (n *node) block(ctx context.Context, peers []*node, ports ...int) error {
	var addrs []string
	for _, p := range peers {
		addrs = append(addrs, p.addr)
	}
	set := "{ " + strings.Join(addrs, ", ") + " }"
	match := ""
	var rules []string
	if len(ports) > 0 {
		var ps []string
		for _, p := range ports {
			ps = append(ps, fmt.Sprint(p))
		}
		pset := "{ " + strings.Join(ps, ", ") + " }"
		for _, dir := range []string{"dport", "sport"} {
			match = " tcp " + dir + " " + pset
			rules = append(rules, "ip saddr "+set+match+" drop", "ip daddr "+set+match+" drop")
		}
	} else {
		rules = []string{"ip saddr " + set + " drop", "ip daddr " + set + " drop"}
	}
	script := "table inet pghafault {\n" +
		"  chain in { type filter hook input priority 0; policy accept;\n    " + strings.Join(rules, "\n    ") + "\n  }\n" +
		"  chain out { type filter hook output priority 0; policy accept;\n    " + strings.Join(rules, "\n    ") + "\n  }\n}\n"
	_, err := n.netExec(ctx, script, "nft", "-f", "-")
	return err
}

// unblock removes n's fault rules.
func (n *node) unblock(ctx context.Context) error {
	_, err := n.netExec(ctx, "", "nft", "delete", "table", "inet", "pghafault")
	return err
}

func (h *harness) others(n *node) []*node {
	var out []*node
	for _, m := range h.nodes {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// systemctl runs systemctl in n.
func (n *node) systemctl(ctx context.Context, args ...string) error {
	_, err := n.exec(ctx, append([]string{"systemctl"}, args...)...)
	return err
}

// setConfig changes Patroni's dynamic configuration and waits until the
// leader applied it.
func (h *harness) setConfig(ctx context.Context, leader *node, cfg map[string]any) error {
	if _, err := h.apiCall(ctx, leader, "PATCH", "/config", cfg); err != nil {
		return err
	}
	sleep(ctx, 4*time.Second) // two loop_waits: every member reads it
	return nil
}

// waitLeader waits until the members agree on a running leader.
func (h *harness) waitLeader(ctx context.Context, timeout time.Duration, topo *topology) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := h.leaderNow(ctx)
		if err == nil {
			topo.leader = n
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no leader within %v: %w", timeout, err)
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// waitNewLeader waits until the members agree on a running leader other
// than old.
func (h *harness) waitNewLeader(ctx context.Context, timeout time.Duration, old *node) error {
	deadline := time.Now().Add(timeout)
	for {
		n, err := h.leaderNow(ctx)
		if err == nil && n != old {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no leader other than %s within %v (%v)", old.name, timeout, err)
		}
		sleep(ctx, 500*time.Millisecond)
	}
}

// poweroff shuts the container down cleanly and waits for it to be gone.
func (n *node) poweroff(ctx context.Context) error {
	if _, err := n.exec(ctx, "systemctl", "poweroff"); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", n.pid)); err != nil {
			n.kill() // nothing left but the cgroups
			return nil
		}
		sleep(ctx, 200*time.Millisecond)
	}
	n.kill()
	return fmt.Errorf("%s did not power off within 60s (killed)", n.name)
}
