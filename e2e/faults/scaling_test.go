//go:build e2e

package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestScaling grows the harness's cluster from 3 to 5 members and back
// under load (make e2e-scaling), then replaces a destroyed member: the
// running members get each build by upgrade.sh, a joining member's
// install.sh adds it to etcd itself, a leaving member's uninstall.sh
// removes it. The checker must find no acknowledged row lost and no two
// writable primaries at once. The nodes run firewalld: each build's
// upgrade.sh lets the members of that build, and only them, in on the
// members' ports.
func TestScaling(t *testing.T) {
	ctx := testContext(t, overall)
	start := time.Now()
	h, _ := bringUp(t, ctx, withFirewall)
	t.Logf("FIGURE bring-up %.0fs", time.Since(start).Seconds())
	// Nodes made from here on are installed by the test, not from seeds.
	h.fromSeeds = false

	base, err := os.ReadFile(filepath.Join(h.work, "build", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var grown, shrunk, replaced map[string]string
	step(t, "builds: 5 members (pg4, pg5 join), 3 members again, pg3 replaced (joins)", func() error {
		var spare strings.Builder
		for i, n := range spareNames {
			fmt.Fprintf(&spare, "  - name: %s\n    address: %s\n    joins: true\n", n, memberAddr(len(memberNames)+i))
		}
		var err error
		five := strings.Replace(string(base), "network:\n", spare.String()+"network:\n", 1)
		if grown, err = h.buildSpec(five, "v5", append(append([]string{}, memberNames...), spareNames...)); err != nil {
			return err
		}
		if shrunk, err = h.buildSpec(string(base), "v3", memberNames); err != nil {
			return err
		}
		last := memberNames[len(memberNames)-1]
		a := fmt.Sprintf("  - name: %s\n    address: %s\n", last, memberAddr(len(memberNames)-1))
		if !strings.Contains(string(base), a) {
			return fmt.Errorf("the spec has no %q", a)
		}
		replaced, err = h.buildSpec(strings.Replace(string(base), a, a+"    joins: true\n", 1), "vr", memberNames)
		return err
	})
	step(t, "the new bundles copied to the running members", func() error {
		return eachNode(h.nodes, func(n *node) error {
			return errors.Join(n.copyBundle(grown[n.name], "v5"), n.copyBundle(shrunk[n.name], "v3"))
		})
	})

	h.runs++
	var targets []string
	for _, n := range h.nodes {
		targets = append(targets, rwAddr(n))
	}
	l, err := h.startLoadAcked(ctx, targets, "scaling")
	if err != nil {
		t.Fatal(err)
	}
	defer l.stop()
	t0 := time.Now()
	op := func(name string, f func() error) {
		t.Helper()
		t.Logf("==> %s", name)
		s := time.Now()
		if err := f(); err != nil {
			h.saveJournals(".scaling")
			t.Fatalf("%s: %v", name, err)
		}
		e := time.Now()
		t.Logf("FIGURE %s: %.1fs, longest write pause %.1fs", name, e.Sub(s).Seconds(), l.longestGap(s, e).Seconds())
	}

	addrs := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, memberAddr(i))
		}
		return out
	}
	op("upgrade.sh of the 5-member build on the 3 running members", func() error { return h.upgradeMembers(ctx, "v5") })
	op("firewalld on the 3 members lets the 5 members in", func() error { return memberRulesExactly(ctx, h.nodes, addrs(5)) })
	for i, name := range spareNames {
		op("install.sh on joining member "+name, func() error {
			n, err := h.newNode(len(memberNames) + i)
			if err != nil {
				return err
			}
			n.out = true
			if err := n.boot(); err != nil {
				return err
			}
			if err := n.copyBundle(grown[name], "v5"); err != nil {
				return err
			}
			if out, err := n.script(ctx, "v5", "install.sh", "install", "--skip-os-check", "--no-packages"); err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			} else if !strings.Contains(out, "added "+name+" to etcd") {
				return fmt.Errorf("install.sh on %s did not say it added the member to etcd:\n%s", name, out)
			}
			n.out = false
			l.probe(n)
			_, err = h.waitHealthy(ctx, 300*time.Second, true)
			return err
		})
	}
	op("5 members: etcd voters, Patroni streaming replicas, 5 HAProxy backends on every node", func() error {
		return errors.Join(h.checkSize(ctx, 5), memberRulesExactly(ctx, h.nodes, addrs(5)))
	})

	for i := len(spareNames) - 1; i >= 0; i-- {
		n := h.byName(spareNames[i])
		op("uninstall.sh on leaving member "+n.name, func() error {
			if err := h.notLeader(ctx, n); err != nil {
				return err
			}
			out, err := n.script(ctx, "v5", "uninstall.sh", "uninstall", "--skip-os-check")
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "removed "+n.name+" from etcd") {
				return fmt.Errorf("uninstall.sh on %s did not remove it from etcd:\n%s", n.name, out)
			}
			n.out = true
			facts, err := readFacts(filepath.Join(n.h.work, "build", "out-v5", clusterName, "nodes", n.name))
			if err == nil && facts["pgdata"] != "" {
				if o, err := n.exec(ctx, "test", "-f", facts["pgdata"]+"/PG_VERSION"); err != nil {
					return fmt.Errorf("%s: PGDATA gone after an uninstall without --purge: %v %s", n.name, err, o)
				}
			}
			// Patroni forgets a stopped member when its key expires (ttl).
			_, err = h.waitHealthy(ctx, 120*time.Second, true)
			return err
		})
	}
	op("upgrade.sh of the 3-member build on the remaining members", func() error { return h.upgradeMembers(ctx, "v3") })
	op("3 members: etcd, Patroni and HAProxy; firewalld lets the 2 that left in no more", func() error {
		return errors.Join(h.checkSize(ctx, 3), memberRulesExactly(ctx, h.nodes[:len(memberNames)], addrs(3)))
	})

	victim := h.byName(memberNames[len(memberNames)-1])
	op("replace "+victim.name+": container destroyed, a fresh one installed from the replacement bundle", func() error {
		if err := h.notLeader(ctx, victim); err != nil {
			return err
		}
		fresh, err := h.destroy(ctx, victim)
		if err != nil {
			return err
		}
		if err := fresh.copyBundle(replaced[fresh.name], "vr"); err != nil {
			return err
		}
		out, err := fresh.script(ctx, "vr", "install.sh", "install-replacement", "--skip-os-check", "--no-packages")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		for _, want := range []string{"removed the dead etcd member", "added " + fresh.name + " to etcd"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("install.sh of the replacement did not say %q:\n%s", want, out)
			}
		}
		// The destroyed node's prober goes on probing the address.
		fresh.out = false
		_, err = h.waitHealthy(ctx, 300*time.Second, true)
		return err
	})
	op("3 members after the replacement", func() error {
		return errors.Join(h.checkSize(ctx, 3), memberRulesExactly(ctx, h.nodes[:len(memberNames)], addrs(3)))
	})

	if err := l.untilAcked(ctx, "the scaled cluster"); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	leader, err := h.leaderNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	present, err := h.present(ctx, pgAddr(leader), h.runs)
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	v := Check(l.ledger.Outcomes(), present)
	ov := LongestOverlap(l.probes())
	t.Logf("FIGURE scaling 3->5->3 and a replacement: %.1fs, %s, longest write pause %.1fs, writable primaries overlapping %d times",
		end.Sub(t0).Seconds(), v, l.longestGap(t0, end).Seconds(), ov.Count)
	if err := v.Err(); err != nil {
		t.Error(err)
	}
	if ov.Count > 0 {
		t.Errorf("two nodes acknowledged writes at once: %s for %v", ov.Nodes, ov.Duration())
	}
	t.Logf("FIGURE scaling wall time %.0fs", time.Since(start).Seconds())
}

// buildSpec builds spec (the harness's spec edited) into out-<tag> with
// the harness's secrets file and returns the bundles of names.
func (h *harness) buildSpec(spec, tag string, names []string) (map[string]string, error) {
	dir := filepath.Join(h.work, "build")
	path := filepath.Join(dir, "cluster-"+tag+".yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		return nil, err
	}
	bin := os.Getenv("PGHA_E2E_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "pgha-bundle")
	}
	out := filepath.Join(dir, "out-"+tag)
	if _, err := run(h.ctx, bin, "build", "-f", path, "--out", out, "--secrets", filepath.Join(dir, "secrets.yaml"),
		"--seed-without-packages", "--install-arg", "--skip-os-check", "--install-arg", "--no-packages"); err != nil {
		return nil, err
	}
	bundles := map[string]string{}
	for _, n := range names {
		bundles[n] = filepath.Join(out, clusterName, "bundles", n+".tar.gz")
		if _, err := os.Stat(bundles[n]); err != nil {
			return nil, err
		}
	}
	return bundles, nil
}

// upgradeMembers runs the tag's upgrade.sh on every member, replicas first
// and the leader last, and wants configuration reloads only: no etcd
// restarted, no Patroni stopped, no PostgreSQL restarted.
func (h *harness) upgradeMembers(ctx context.Context, tag string) error {
	topo, err := h.waitHealthy(ctx, 150*time.Second, true)
	if err != nil {
		return err
	}
	order := append(append([]*node{}, topo.others...), topo.leader)
	for _, n := range order {
		out, err := n.script(ctx, tag, "upgrade.sh", "upgrade-"+tag, "--skip-os-check", "--no-packages")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		for _, bad := range []string{"restarted etcd", "stopped patroni", "restarted PostgreSQL"} {
			if strings.Contains(out, bad) {
				return fmt.Errorf("upgrade.sh on %s %s; only reloads were needed:\n%s", n.name, bad, out)
			}
		}
		if _, err := h.waitHealthy(ctx, 150*time.Second, true); err != nil {
			return err
		}
	}
	return nil
}

// notLeader switches the leadership away from n (to the synchronous
// standby) when n leads.
func (h *harness) notLeader(ctx context.Context, n *node) error {
	topo, err := h.waitHealthy(ctx, 150*time.Second, true)
	if err != nil {
		return err
	}
	if topo.leader != n {
		return nil
	}
	if _, err := h.apiCall(ctx, n, http.MethodPost, "/switchover", map[string]string{"leader": n.name, "candidate": topo.sync.name}); err != nil {
		return err
	}
	deadline := time.Now().Add(150 * time.Second)
	for {
		after, err := h.waitHealthy(ctx, time.Until(deadline), true)
		if err != nil {
			return err
		}
		if after.leader != n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still leads after a switchover", n.name)
		}
		sleep(ctx, time.Second)
	}
}

// etcdMembers lists etcd's members as n's etcd sees them: "name started
// learner" lines, sorted.
func (n *node) etcdMembers(ctx context.Context) ([]string, error) {
	out, err := n.exec(ctx, "env", "ETCDCTL_API=3", "etcdctl", fmt.Sprintf("--endpoints=https://%s:%d", n.addr, portEtcd),
		"--cacert=/etc/pgha-bundle/pki/ca.crt", "--cert=/etc/pgha-bundle/pki/node.crt", "--key=/etc/pgha-bundle/pki/etcd.key",
		"member", "list", "-w", "simple")
	if err != nil {
		return nil, fmt.Errorf("%s: etcdctl member list: %v %s", n.name, err, out)
	}
	var ms []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ", ")
		if len(f) < 6 {
			return nil, fmt.Errorf("%s: etcdctl member list: %q", n.name, line)
		}
		ms = append(ms, f[2]+" "+f[1]+" learner="+f[5])
	}
	sort.Strings(ms)
	return ms, nil
}

// haproxyServers counts the servers behind the read-write proxy of n's
// running HAProxy (its stats, read with the facts' URL and credentials).
func (n *node) haproxyServers(ctx context.Context) (int, error) {
	script := `f=/etc/pgha-bundle/node.facts
u=$(awk '$1 == "haproxy_stats_url" { print $2 }' "$f")
a=$(awk '$1 == "haproxy_stats_auth" { print $2 }' "$f")
p=$(awk '$1 == "haproxy_rw_proxy" { print $2 }' "$f")
printf 'user = "%s"\n' "$a" | curl -s -f --max-time 5 -K - "$u" | awk -F, -v p="$p" '$1 == p && $2 != "FRONTEND" && $2 != "BACKEND" { n++ } END { print n + 0 }'`
	out, err := n.exec(ctx, "bash", "-c", script)
	if err != nil {
		return 0, fmt.Errorf("%s: HAProxy stats: %v %s", n.name, err, out)
	}
	var c int
	if _, err := fmt.Sscan(string(out), &c); err != nil {
		return 0, fmt.Errorf("%s: HAProxy stats: %q", n.name, out)
	}
	return c, nil
}

// checkSize wants size members everywhere: etcd's started voting members
// as every member's etcd lists them, Patroni's healthy members, and as
// many servers behind every member's HAProxy read-write port.
func (h *harness) checkSize(ctx context.Context, size int) error {
	ms := h.members()
	if len(ms) != size {
		return fmt.Errorf("the harness counts %d members, want %d", len(ms), size)
	}
	var want []string
	for _, n := range ms {
		want = append(want, n.name+" started learner=false")
	}
	sort.Strings(want)
	if _, err := h.waitHealthy(ctx, 120*time.Second, true); err != nil {
		return err
	}
	var errs []error
	for _, n := range ms {
		got, err := n.etcdMembers(ctx)
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			errs = append(errs, fmt.Errorf("%s: etcd members %v, want %v", n.name, got, want))
		}
		c, err := n.haproxyServers(ctx)
		if err != nil {
			return err
		}
		if c != size {
			errs = append(errs, fmt.Errorf("%s: HAProxy has %d read-write servers, want %d", n.name, c, size))
		}
	}
	if len(errs) == 0 {
		h.t.Logf("FIGURE %d members: every member's etcd lists %d started voters, Patroni %d running members streaming, HAProxy %d servers on each", size, size, size, size)
	}
	return errors.Join(errs...)
}

// destroy kills n's container as a dead host would be, throws its overlay
// and file system away, and boots a fresh container with the same name
// and address in its place (out of the cluster until installed).
func (h *harness) destroy(ctx context.Context, n *node) (*node, error) {
	idx := -1
	for i, m := range h.nodes {
		if m == n {
			idx = i
		}
	}
	pos := -1
	for i := range len(memberNames) + len(spareNames) {
		if nodeName(i) == n.name {
			pos = i
		}
	}
	if idx < 0 || pos < 0 {
		return nil, fmt.Errorf("%s is not a harness node", n.name)
	}
	n.kill()
	n.out = true
	for _, m := range []string{n.pgfs, n.root} {
		for try := 0; try < 20; try++ {
			if _, err := run(ctx, "umount", m); err == nil || !isMounted(m) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if isMounted(m) {
			return nil, fmt.Errorf("%s still mounted", m)
		}
	}
	if err := os.RemoveAll(n.dir); err != nil {
		return nil, err
	}
	// The surviving members see a dead member for a while.
	sleep(ctx, 5*time.Second)
	fresh, err := h.newNode(pos)
	if err != nil {
		return nil, err
	}
	// newNode appended it: it takes the dead node's place.
	h.nodes = h.nodes[:len(h.nodes)-1]
	h.nodes[idx] = fresh
	fresh.out = true
	if err := fresh.boot(); err != nil {
		return nil, err
	}
	return fresh, nil
}
