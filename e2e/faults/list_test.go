//go:build e2e

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"net/http"
	"strings"
	"sync"
	"time"
)

// hold is how long a partition, a frozen Patroni or a quorum loss lasts:
// longer than ttl (20 s) plus a loop (2 s), so the leader key expires and
// the cluster must act.
const hold = 25 * time.Second

// ackedWithin counts rows acknowledged in [from, to].
func (l *load) ackedWithin(from, to time.Time) int {
	l.ledger.mu.Lock()
	defer l.ledger.mu.Unlock()
	n := 0
	for _, a := range l.ledger.ack {
		if !a.Before(from) && !a.After(to) {
			n++
		}
	}
	return n
}

// faultList is every scenario, in the order they share one cluster: those
// that leave it healthy first, then the negative control, then the frozen
// Patroni (which, without a watchdog, may leave a member needing a reinit).
func (h *harness) faultList() []fault {
	list := []fault{
		{name: "sigkill-leader", sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			// Every daemon of the leader at once, through systemd; its
			// Restart=on-failure brings them back.
			err := topo.leader.systemctl(ctx, "kill", "--signal=SIGKILL", "etcd.service", "patroni.service", "haproxy.service")
			return "systemd restarted the units", err
		}},
		// The partitioned leader loses etcd too: when the partition heals,
		// Patroni before 3.0.3 may put its own name back into the leader
		// key the new leader holds (the etcd3 put after a new lease is
		// unconditional), and two histories both numbered with the next
		// timeline leave the replicas unable to stream.
		{name: "leader-partitioned", sync: true, syncAfter: true, leaderKeyRace: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			if err := topo.leader.block(ctx, h.others(topo.leader)); err != nil {
				return "", err
			}
			sleep(ctx, hold)
			return fmt.Sprintf("writable at the end of the partition: %v", l.writable()), topo.leader.unblock(ctx)
		}},
		{name: "leader-cut-from-etcd", sync: true, syncAfter: true, leaderKeyRace: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			if err := topo.leader.block(ctx, h.others(topo.leader), portEtcd, portPeer); err != nil {
				return "", err
			}
			sleep(ctx, hold)
			return fmt.Sprintf("writable at the end: %v", l.writable()), topo.leader.unblock(ctx)
		}},
		{name: "sync-replica-partitioned", sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			if err := topo.sync.block(ctx, h.others(topo.sync)); err != nil {
				return "", err
			}
			sleep(ctx, hold)
			return "", topo.sync.unblock(ctx)
		}},
		{name: "sync-standby-stopped", sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			if err := topo.sync.systemctl(ctx, "stop", "patroni.service"); err != nil {
				return "", err
			}
			sleep(ctx, 10*time.Second)
			return "", topo.sync.systemctl(ctx, "start", "patroni.service")
		}},
		{name: "leader-pgdata-full", sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			// Root fills the file system to the last block PostgreSQL (not
			// root: ext4 keeps reserved blocks) could use.
			if _, err := topo.leader.exec(ctx, "sh", "-c", `fallocate -l "$(df --output=avail -B1 /var/lib/pgsql/15 | tail -n1)" /var/lib/pgsql/15/fill`); err != nil {
				return "", err
			}
			sleep(ctx, 15*time.Second)
			w := l.writable()
			_, err := topo.leader.exec(ctx, "rm", "-f", "/var/lib/pgsql/15/fill")
			return fmt.Sprintf("writable while %s's PGDATA file system was full: %v", topo.leader.name, w), err
		}},
		h.replicasLost(false),
		h.replicasLost(true),
		h.quorumLost(false),
		h.quorumLost(true),
		{name: "switchover", sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			// The node's own patronictl, as upgrade.sh runs it: the facts'
			// command and leader option, the node's patroni.yml (etcd over
			// TLS with its certificate, the REST API over HTTPS).
			facts, err := readFacts(topo.leader.root)
			if err != nil {
				return "", err
			}
			cmd := []string{facts["patronictl_bin"], "-c", layout.PatroniConfig, "switchover", facts["patronictl_leader_flag"], topo.leader.name, "--candidate", topo.sync.name, "--force", facts["cluster"]}
			if out, err := topo.leader.exec(ctx, cmd...); err != nil {
				return "", fmt.Errorf("patronictl switchover: %w\n%s", err, out)
			}
			if err := h.waitNewLeader(ctx, 60*time.Second, topo.leader); err != nil {
				return "", err
			}
			lead, err := h.leaderNow(ctx)
			if err != nil {
				return "", err
			}
			if lead != topo.sync {
				return "", fmt.Errorf("leader after the switchover to %s is %s", topo.sync.name, lead.name)
			}
			return "with the node's patronictl", nil
		}},
		{name: "whole-cluster-restart", sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			if err := eachNode(h.nodes, func(n *node) error { return n.poweroff(ctx) }); err != nil {
				return "", err
			}
			sleep(ctx, 2*time.Second)
			return "all three powered off, then booted; the enabled units formed the cluster",
				eachNode(h.nodes, func(n *node) error { return n.boot() })
		}},
		h.negativeControl(),
		{name: "patroni-sigstop-leader", sync: true, syncAfter: true, leaderKeyRace: true,
			inject: func(ctx context.Context, topo topology, l *load) (string, error) {
				if err := topo.leader.systemctl(ctx, "kill", "--kill-who=main", "--signal=SIGSTOP", "patroni.service"); err != nil {
					return "", err
				}
				sleep(ctx, hold)
				note := fmt.Sprintf("PostgreSQL kept running; writable while frozen: %v", l.writable())
				return note, topo.leader.systemctl(ctx, "kill", "--kill-who=main", "--signal=SIGCONT", "patroni.service")
			}},
	}
	return list
}

func eachNode(ns []*node, f func(*node) error) error {
	errs := make([]error, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// replicasLost stops both replicas. With synchronous_mode_strict off the
// leader drops synchronous replication and goes on alone (Patroni's
// documented trade: availability over the second copy); with strict on,
// writes wait for a replica.
func (h *harness) replicasLost(strict bool) fault {
	name := "both-replicas-lost-strict-off"
	if strict {
		name = "both-replicas-lost-strict-on"
	}
	return fault{name: name, sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
		if strict {
			if err := h.setConfig(ctx, topo.leader, map[string]any{"synchronous_mode_strict": true}); err != nil {
				return "", err
			}
		}
		// The asynchronous replica first, then the synchronous standby.
		// Stopped at once, the standby's Patroni asks to lose its status
		// as it shuts down (nosync), the leader of Patroni 3.0.2 names the
		// other replica, still stopping, in synchronous_standby_names and
		// keeps naming it once it is gone (the synchronous key stays
		// empty, so it sees nothing to change): every commit then waits,
		// strict mode or not (seen: nothing acknowledged for 20 s).
		for _, n := range topo.others {
			if n != topo.sync {
				if err := n.systemctl(ctx, "stop", "patroni.service"); err != nil {
					return "", err
				}
			}
		}
		if err := topo.sync.systemctl(ctx, "stop", "patroni.service"); err != nil {
			return "", err
		}
		stopped := time.Now()
		sleep(ctx, 16*time.Second)
		acked := l.ackedWithin(stopped.Add(8*time.Second), time.Now())
		note := fmt.Sprintf("rows acknowledged from 8s after both replicas stopped until they came back: %d", acked)
		if err := eachNode(topo.others, func(n *node) error { return n.systemctl(ctx, "start", "patroni.service") }); err != nil {
			return "", err
		}
		switch {
		case strict && acked > 0:
			return note, fmt.Errorf("strict synchronous mode acknowledged %d rows with no replica", acked)
		case !strict && acked == 0:
			return note, errors.New("without strict mode the leader should go on alone, but acknowledged nothing")
		}
		if strict {
			if _, err := h.waitHealthy(ctx, 120*time.Second, true); err != nil {
				return note, err
			}
			return note, h.setConfig(ctx, topo.leader, map[string]any{"synchronous_mode_strict": false})
		}
		return note + " (the leader went on alone: documented for synchronous_mode without strict)", nil
	}}
}

// quorumLost stops etcd on both replicas' nodes: two of three members.
// failsafe_mode off: the leader cannot renew its key and demotes itself, so
// nothing is writable until etcd is back. On: the leader, reaching every
// member's Patroni, stays primary.
func (h *harness) quorumLost(failsafe bool) fault {
	name := "etcd-quorum-lost-failsafe-off"
	if failsafe {
		name = "etcd-quorum-lost-failsafe-on"
	}
	return fault{name: name, sync: true, syncAfter: true, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
		if failsafe {
			if err := h.setConfig(ctx, topo.leader, map[string]any{"failsafe_mode": true}); err != nil {
				return "", err
			}
			if err := h.waitFailsafe(ctx, topo.leader); err != nil {
				return "", err
			}
		}
		// The leader's Patroni may be using a replica's etcd member. That
		// member, stopped, still answers for some milliseconds, with the
		// gRPC errors of its HTTP gateway ("transport: missing
		// content-type field", "Error while dialing"), and Patroni 3.0.2
		// takes such an answer to its lease keepalive for a lost leader
		// lock: it demotes at once, failsafe_mode or not
		// (patroni/patroni#3118; testdata/failsafe-race). That race is
		// stopping a member, not losing the quorum: while the replicas'
		// members stop, the leader's node drops its traffic with their
		// client port, so its Patroni finds them unreachable, then
		// refusing connections.
		from := time.Now()
		if err := topo.leader.block(ctx, topo.others, portEtcd); err != nil {
			return "", err
		}
		stop := eachNode(topo.others, func(n *node) error { return n.systemctl(ctx, "stop", "etcd.service") })
		if err := errors.Join(stop, topo.leader.unblock(ctx)); err != nil {
			return "", err
		}
		stopped := time.Now()
		sleep(ctx, hold)
		end := time.Now()
		w := l.writable()
		acked := l.ackedWithin(stopped.Add(hold-5*time.Second), end)
		note := fmt.Sprintf("writable at the end of the quorum loss: %v; rows acknowledged in its last 5s: %d", w, acked)
		if err := eachNode(topo.others, func(n *node) error { return n.systemctl(ctx, "start", "etcd.service") }); err != nil {
			return note, err
		}
		if failsafe {
			if len(w) != 1 || w[0] != topo.leader.name || acked == 0 {
				err := fmt.Errorf("failsafe_mode on: the leader %s should have stayed the only writable node", topo.leader.name)
				return note, h.withFailsafeJournal(ctx, topo.leader, from, end, err)
			}
			if _, err := h.waitHealthy(ctx, 120*time.Second, true); err != nil {
				return note, err
			}
			return note + " (failsafe: leader kept)", h.setConfig(ctx, topo.leader, map[string]any{"failsafe_mode": false})
		}
		if len(w) != 0 || acked != 0 {
			err := errors.New("failsafe_mode off: the leader should have demoted itself without etcd's quorum")
			return note, h.withFailsafeJournal(ctx, topo.leader, from, end, err)
		}
		return note + " (leader demoted itself)", nil
	}}
}

// withFailsafeJournal adds to err the lines of the leader's Patroni journal
// from from to to that tell why it kept or dropped its role
// (failsafeEvidence), so that a CI failure explains itself without the
// artefacts.
func (h *harness) withFailsafeJournal(ctx context.Context, leader *node, from, to time.Time, err error) error {
	lines, jerr := leader.patroniJournal(ctx, from)
	if jerr != nil {
		return fmt.Errorf("%w (no journal: %v)", err, jerr)
	}
	kept, accepted := failsafeEvidence(leader.name, lines, to.Add(time.Second))
	return fmt.Errorf("%w; %s's Patroni from %s (%d loops kept by failsafe with every member accepting left out):\n    %s",
		err, leader.name, from.UTC().Format("15:04:05.000"), accepted, strings.Join(kept, "\n    "))
}

// waitFailsafe waits until the leader knows the /failsafe key with every
// member in it: without etcd, it stays primary only when each member listed
// there answers its POST /failsafe, and with no key it demotes itself. On a
// slow host the key may come a few loops after failsafe_mode is set.
func (h *harness) waitFailsafe(ctx context.Context, leader *node) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, out, err := h.apiDo(ctx, leader, http.MethodGet, "/failsafe", nil, h.sec.RestAPIPassword)
		var members map[string]string
		if err == nil && resp.StatusCode == http.StatusOK && json.Unmarshal(out, &members) == nil {
			missing := 0
			for _, n := range h.nodes {
				if _, ok := members[n.name]; !ok {
					missing++
				}
			}
			if missing == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the leader %s does not list every member in /failsafe 30s after failsafe_mode was set (last answer: %v %s)", leader.name, err, out)
		}
		sleep(ctx, time.Second)
	}
}

// negativeControl proves the checker can fail: synchronous mode off, a large
// maximum_lag_on_failover, the replicas' replication traffic blocked while
// the leader acknowledges rows, then the leader's node killed outright. The
// new leader lacks those rows: the checker must report them lost.
func (h *harness) negativeControl() fault {
	return fault{name: "negative-control", sync: true, lossExpected: true,
		targets: func(topo topology) []string { return []string{rwAddr(topo.leader)} },
		inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			// Set before the load starts would be cleaner; the writers only
			// ever reach the leader, so changing it now is the same.
			if err := h.setConfig(ctx, topo.leader, map[string]any{"synchronous_mode": false, "maximum_lag_on_failover": 1 << 30}); err != nil {
				return "", err
			}
			for i := 0; ; i++ {
				rows, err := h.sql(ctx, pgAddr(topo.leader), "SHOW synchronous_standby_names")
				if err == nil && len(rows) == 1 && strings.TrimSpace(rows[0][0]) == "" {
					break
				}
				if i > 60 {
					return "", fmt.Errorf("synchronous_standby_names still set on %s", topo.leader.name)
				}
				sleep(ctx, 500*time.Millisecond)
			}
			for _, r := range topo.others {
				if err := r.block(ctx, []*node{topo.leader}, portPG); err != nil {
					return "", err
				}
			}
			held := time.Now()
			sleep(ctx, 5*time.Second)
			acked := l.ackedWithin(held, time.Now())
			topo.leader.kill()
			for _, r := range topo.others {
				if err := r.unblock(ctx); err != nil {
					return "", err
				}
			}
			// The old node stays down until a replica has taken over:
			// back at once, it would find its own key still valid.
			if err := h.waitNewLeader(ctx, 90*time.Second, topo.leader); err != nil {
				return "", err
			}
			if err := topo.leader.boot(); err != nil {
				return "", err
			}
			if _, err := h.waitHealthy(ctx, 150*time.Second, false); err != nil {
				return "", err
			}
			lead, err := h.leaderNow(ctx)
			if err != nil {
				return "", err
			}
			if err := h.setConfig(ctx, lead, map[string]any{"synchronous_mode": true, "maximum_lag_on_failover": 1 << 20}); err != nil {
				return "", err
			}
			return fmt.Sprintf("rows acknowledged while the replicas were held back: %d; leader's node killed", acked), nil
		}}
}
