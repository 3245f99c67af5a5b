//go:build e2e

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// The virtual IP scenario (make e2e-vip): the fault harness's cluster with
// a vip section, in one bring-up for both modes; keepalived's Debian
// packages are layered over the cached tree (downloaded once into debCache
// with apt-get download) and every node runs firewalld (firewall_test.go).
// A client in a network namespace of its own, on the bridge, writes through
// the VIP only. In the haproxy mode it writes to <vip>:<haproxy_rw> across a
// leader failover (its node killed), a dead HAProxy on the VIP's holder, the
// holder partitioned away and a switchover. A rolling upgrade under load
// then moves the cluster to vip.mode leader, and the client writes to
// PostgreSQL on <vip>:<postgresql port>: after a switchover and the
// leader's node killed the VIP must follow the new leader. Every 200 ms a
// probe asks each node the client can reach whether it holds the address,
// and reads the client's neighbour entry.

const (
	vipAddr    = subnet + ".100"
	clientAddr = subnet + ".50"
	vipProbe   = 200 * time.Millisecond
	// vipFollow bounds, in leader mode, how long after a new leader is
	// elected the VIP may still be elsewhere: keepalived's check runs every
	// second, fails 3 times on the old holder and passes twice on the new
	// one before the priorities change (templates/vip.go).
	vipFollow = 10 * time.Second
	// vipHAProxyDead and vipHold are how long the holder's HAProxy is
	// dead and the holder cut off: the address moves after about 6 s and
	// 3.6 s (docs/design.md); the hold stays under Patroni's ttl (20 s).
	vipHAProxyDead = 9 * time.Second
	vipHold        = 12 * time.Second
	// vipOverall bounds the scenario, bring-up included.
	vipOverall = 12 * time.Minute
	// vipSpecHAProxy is the vip section of the first build; the mode
	// switch replaces its mode line.
	vipSpecHAProxy = "vip:\n  address: " + vipAddr + "\n  interface: host0\n  mode: haproxy\n"
)

// keepalivedDebs are keepalived 2.2 and what it needs beyond the tree.
var keepalivedDebs = []string{"keepalived", "libglib2.0-0", "libnftnl11", "libnl-3-200", "libnl-genl-3-200",
	"libsnmp40", "libsnmp-base", "libsensors5", "libsensors-config", "libpci3", "pci.ids", "libwrap0"}

const debCache = "/var/cache/pgha-bundle-e2e-debs"

// TestVIP brings the cluster up with the VIP held by a member whose
// HAProxy reaches the primary (vip.mode haproxy), runs that mode's faults,
// switches the running cluster to vip.mode leader with upgrade.sh under
// load and runs the leader mode's faults, judging each fault and, over the
// whole run, the VIP's probes.
func TestVIP(t *testing.T) {
	ctx := testContext(t, vipOverall)

	specExtra = vipSpecHAProxy
	extraPackages = []fixture.Package{fixture.KeepalivedPackage("el9", "x86_64")}
	// Debian's keepalived is /usr/sbin/keepalived too: the component path
	// the build derives is the one the tree runs.
	start := time.Now()
	h := newHarness(t, ctx)
	h.firewall = true
	step(t, "build the bundles with pgha-bundle (vip "+vipAddr+", mode haproxy)", h.build)
	step(t, "keepalived's Debian packages layered over the tree", h.keepalivedLayer)
	step(t, "network namespace with the bridge", h.network)
	step(t, "three containers booted with systemd and firewalld", func() error {
		for i := range memberNames {
			if _, err := h.newNode(i); err != nil {
				return err
			}
		}
		return eachNode(h.nodes, func(n *node) error { return n.boot() })
	})
	if h.fromSeeds {
		step(t, "cloud-init runs each seed's install.sh", h.waitSeedInstall)
	} else {
		step(t, "install.sh on every node", h.install)
	}
	var topo topology
	step(t, "a healthy cluster", func() error {
		var err error
		topo, err = h.waitHealthy(ctx, 120*time.Second, true)
		return err
	})
	step(t, "the workload's tables", func() error { return h.createTables(ctx, topo.leader) })
	var v *vipWatch
	step(t, "the client's network namespace on the bridge", func() error {
		var err error
		v, err = h.vipClient()
		return err
	})
	go v.run(ctx)
	step(t, "exactly one node holds the VIP", func() error { return v.waitOne(ctx, 30*time.Second) })
	step(t, "firewalld lets members, clients and VRRP in, and no one else", func() error { return h.firewallAfterInstall(ctx) })
	t.Logf("FIGURE vip bring-up %.0fs: leader %s, VIP on %s", time.Since(start).Seconds(), topo.leader.name, v.holder())

	var table []string
	runFaults := func(mode string, faults []fault) {
		for _, f := range faults {
			if ctx.Err() != nil {
				t.Fatalf("out of time before %s", f.name)
			}
			t.Logf("==> fault %s (vip.mode %s)", f.name, mode)
			began := time.Now()
			fig, err := h.runFault(f)
			if err != nil {
				h.saveJournals(".vip-" + mode + "-" + f.name)
				t.Fatalf("fault %s: %v", f.name, err)
			}
			move, arpFollowed := v.moveSince(f.name)
			line := fmt.Sprintf("%s; %s; %.0fs in all", fig, move, time.Since(began).Seconds())
			table = append(table, line)
			t.Logf("FIGURE %s", line)
			h.judge(t, f, fig)
			if !arpFollowed {
				t.Errorf("%s: the VIP moved and the client's neighbour entry never followed (gratuitous ARP): %s", f.name, move)
			}
			// Outside a move exactly one node holds the address.
			if err := v.waitOne(ctx, vipFollow); err != nil {
				t.Errorf("after %s, with the cluster healthy: %v", f.name, err)
			}
		}
	}
	runFaults("haproxy", h.vipFaults(v))

	var leaderBundles map[string]string
	step(t, "second build: vip.mode leader, copied to every node", func() error {
		var err error
		if leaderBundles, err = h.rebuild("  mode: haproxy\n", "  mode: leader\n", "leader"); err != nil {
			return err
		}
		return eachNode(h.nodes, func(n *node) error { return n.copyBundle(leaderBundles[n.name], "leader") })
	})
	runFaults("leader", append([]fault{h.vipModeSwitch(v, "leader")}, h.vipLeaderFaults(v)...))

	if bad := v.violations(); len(bad) > 0 {
		t.Errorf("probes where two reachable nodes held %s: %s", vipAddr, strings.Join(bad, "; "))
	}
	t.Logf("vip probes: %d, each %v apart", v.count(), vipProbe)
	step(t, "uninstall.sh on every node leaves only the operator's firewall rules", func() error { return h.uninstallFirewalled(ctx) })
	t.Logf("figures (wall time %.0fs):", time.Since(start).Seconds())
	for _, l := range table {
		t.Logf("FIGURE %s", l)
	}
}

// keepalivedLayer installs keepalived's packages once into a layer that
// every node mounts between its own upper directory and the cached tree.
func (h *harness) keepalivedLayer() error {
	if err := os.MkdirAll(debCache, 0o755); err != nil {
		return err
	}
	var missing []string
	for _, p := range keepalivedDebs {
		if m, _ := filepath.Glob(filepath.Join(debCache, strings.ReplaceAll(p, "+", "?")+"_*.deb")); len(m) == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		c := []string{"sh", "-c", `cd "$0" && apt-get download "$@"`, debCache}
		if _, err := run(h.ctx, c[0], append(c[1:], missing...)...); err != nil {
			return fmt.Errorf("keepalived's packages: %w", err)
		}
	}
	dir := filepath.Join(h.work, "keepalived-layer")
	upper, wk, root := filepath.Join(dir, "upper"), filepath.Join(dir, "wk"), filepath.Join(dir, "root")
	for _, d := range []string{upper, wk, root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if _, err := run(h.ctx, "mount", "-t", "overlay", "overlay", "-o", "lowerdir="+h.base+",upperdir="+upper+",workdir="+wk, root); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(debCache, "*.deb"))
	args := []string{root, "dpkg", "-i"}
	for _, d := range debs {
		b, err := os.ReadFile(d)
		if err != nil {
			return err
		}
		p := filepath.Join("/tmp", filepath.Base(d))
		if err := os.WriteFile(filepath.Join(root, p), b, 0o644); err != nil {
			return err
		}
		args = append(args, p)
	}
	_, err := run(h.ctx, "chroot", args...)
	_, _ = run(h.ctx, "sh", "-c", `rm -f "$0"/tmp/*.deb`, root)
	if uerr := func() error { _, e := run(h.ctx, "umount", root); return e }(); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	h.extraLower = upper
	return nil
}

// vipWatch probes who holds the VIP and where the client's neighbour entry
// points.
type vipWatch struct {
	h       *harness
	ns      string
	macs    map[string]string // node → host0's MAC
	mu      sync.Mutex
	samples []vipSample
	away    map[string]bool // nodes the client cannot reach (killed, partitioned)
	marks   map[string]time.Time
}

type vipSample struct {
	at      time.Time
	holders []string
	lladdr  string
}

// vipClient makes the client's namespace: a veth on the bridge, the
// client's address, and the workload dialling from there.
func (h *harness) vipClient() (*vipWatch, error) {
	name := "pghav-" + h.id
	cmds := [][]string{
		{"ip", "netns", "add", name},
		{"ip", "-n", name, "link", "set", "lo", "up"},
		{"ip", "-n", h.netns, "link", "add", "vclient", "type", "veth", "peer", "name", "eth0", "netns", name},
		{"ip", "-n", h.netns, "link", "set", "vclient", "master", "br0", "up"},
		{"ip", "-n", name, "addr", "add", clientAddr + "/24", "dev", "eth0"},
		{"ip", "-n", name, "link", "set", "eth0", "up"},
	}
	h.t.Cleanup(func() { _, _ = run(context.Background(), "ip", "netns", "del", name) })
	for _, c := range cmds {
		if _, err := run(h.ctx, c[0], c[1:]...); err != nil {
			return nil, err
		}
	}
	h.clientNS = "/run/netns/" + name
	v := &vipWatch{h: h, ns: name, macs: map[string]string{}, away: map[string]bool{}, marks: map[string]time.Time{}}
	for _, n := range h.nodes {
		out, err := n.netExec(h.ctx, "", "ip", "-o", "link", "show", "dev", "host0")
		if err != nil {
			return nil, err
		}
		f := strings.Fields(string(out))
		for i := range f {
			if f[i] == "link/ether" && i+1 < len(f) {
				v.macs[n.name] = f[i+1]
			}
		}
		if v.macs[n.name] == "" {
			return nil, fmt.Errorf("%s: no MAC address in %q", n.name, out)
		}
	}
	return v, nil
}

func (v *vipWatch) run(ctx context.Context) {
	t := time.NewTicker(vipProbe)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := vipSample{at: time.Now()}
		var wg sync.WaitGroup
		var mu sync.Mutex
		v.mu.Lock()
		away := map[string]bool{}
		for k, b := range v.away {
			away[k] = b
		}
		v.mu.Unlock()
		for _, n := range v.h.nodes {
			if n.pid == 0 || away[n.name] {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				out, err := n.netExec(pctx, "", "ip", "-4", "-o", "addr", "show", "dev", "host0")
				if err == nil && strings.Contains(string(out), " "+vipAddr+"/") {
					mu.Lock()
					s.holders = append(s.holders, n.name)
					mu.Unlock()
				}
			}()
		}
		if out, err := run(ctx, "ip", "-n", v.ns, "neigh", "show", vipAddr); err == nil {
			if f := strings.Fields(string(out)); len(f) >= 5 && f[3] == "lladdr" {
				s.lladdr = f[4]
			}
		}
		wg.Wait()
		v.mu.Lock()
		v.samples = append(v.samples, s)
		v.mu.Unlock()
	}
}

func (v *vipWatch) setAway(node string, away bool) {
	v.mu.Lock()
	v.away[node] = away
	v.mu.Unlock()
}

func (v *vipWatch) mark(fault string) {
	v.mu.Lock()
	v.marks[fault] = time.Now()
	v.mu.Unlock()
}

func (v *vipWatch) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.samples)
}

// holder is the one node holding the VIP at the last probe, "" when none
// or several do.
func (v *vipWatch) holder() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.samples) == 0 || len(v.samples[len(v.samples)-1].holders) != 1 {
		return ""
	}
	return v.samples[len(v.samples)-1].holders[0]
}

func (v *vipWatch) waitOne(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if v.holder() != "" {
			return nil
		}
		sleep(ctx, vipProbe)
	}
	return fmt.Errorf("no single holder of %s within %v", vipAddr, d)
}

// violations are the probes where two nodes the client can reach held the
// address at once.
func (v *vipWatch) violations() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for _, s := range v.samples {
		if len(s.holders) > 1 {
			out = append(out, s.at.Format("15:04:05.000")+" "+strings.Join(s.holders, "+"))
		}
	}
	return out
}

// moveSince describes the VIP around the fault marked under name: the
// holder before, when another single node held it, and when the client's
// neighbour entry pointed at that node's MAC; and whether that entry
// followed a move (true when the address did not move).
func (v *vipWatch) moveSince(name string) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t0, ok := v.marks[name]
	if !ok {
		return "vip: no mark", true
	}
	before := ""
	for _, s := range v.samples {
		if s.at.After(t0) {
			break
		}
		if len(s.holders) == 1 {
			before = s.holders[0]
		}
	}
	none := time.Duration(0) // longest stretch without a holder after t0
	var gapStart time.Time
	moved, arp := time.Duration(-1), time.Duration(-1)
	after := before
	for _, s := range v.samples {
		if !s.at.After(t0) {
			continue
		}
		if len(s.holders) == 0 {
			if gapStart.IsZero() {
				gapStart = s.at
			}
		} else if !gapStart.IsZero() {
			if d := s.at.Sub(gapStart); d > none {
				none = d
			}
			gapStart = time.Time{}
		}
		if moved < 0 && len(s.holders) == 1 && s.holders[0] != before {
			moved, after = s.at.Sub(t0), s.holders[0]
		}
		if moved >= 0 && arp < 0 && s.lladdr != "" && s.lladdr == v.macs[after] {
			arp = s.at.Sub(t0)
		}
	}
	if moved < 0 {
		return fmt.Sprintf("vip stayed on %s (longest without holder %.1fs)", before, none.Seconds()), true
	}
	arpText := "client's neighbour entry never followed"
	if arp >= 0 {
		arpText = fmt.Sprintf("client's neighbour entry followed at %.1fs", arp.Seconds())
	}
	return fmt.Sprintf("vip %s -> %s after %.1fs, %s (longest without holder %.1fs)", before, after, moved.Seconds(), arpText, none.Seconds()), arp >= 0
}

// viaVIP makes every writer dial the VIP's port.
func viaVIP(port int) func(topology) []string {
	return func(topology) []string {
		return []string{fmt.Sprintf("%s:%d", vipAddr, port), fmt.Sprintf("%s:%d", vipAddr, port)}
	}
}

// follows waits until the one holder of the VIP is the leader named,
// for at most vipFollow.
func (v *vipWatch) follows(ctx context.Context, leader string) error {
	deadline := time.Now().Add(vipFollow)
	for v.holder() != leader {
		if time.Now().After(deadline) {
			return fmt.Errorf("the VIP is on %q, not on the leader %s, %v after it led", v.holder(), leader, vipFollow)
		}
		sleep(ctx, vipProbe)
	}
	return nil
}

// vipFaults are the haproxy mode's faults; every writer dials the VIP's
// read-write HAProxy port.
func (h *harness) vipFaults(v *vipWatch) []fault {
	viaVIP := viaVIP(portRW)
	holder := func() (*node, error) {
		name := v.holder()
		if name == "" {
			return nil, errors.New("no single holder of the VIP before the fault")
		}
		return h.byName(name), nil
	}
	return []fault{
		{name: "leader-node-killed", sync: true, syncAfter: true, targets: viaVIP, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			before := v.holder()
			v.mark("leader-node-killed")
			v.setAway(topo.leader.name, true)
			topo.leader.kill()
			if err := h.waitNewLeader(ctx, 60*time.Second, topo.leader); err != nil {
				return "", err
			}
			v.setAway(topo.leader.name, false)
			return fmt.Sprintf("VIP was on %s; %s killed, then booted", before, topo.leader.name), topo.leader.boot()
		}},
		{name: "holder-haproxy-stopped", sync: true, syncAfter: true, targets: viaVIP, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			n, err := holder()
			if err != nil {
				return "", err
			}
			v.mark("holder-haproxy-stopped")
			if err := n.systemctl(ctx, "kill", "--signal=SIGKILL", "haproxy.service"); err != nil {
				return "", err
			}
			_ = n.systemctl(ctx, "stop", "haproxy.service")
			sleep(ctx, vipHAProxyDead)
			return fmt.Sprintf("HAProxy of %s dead for %v", n.name, vipHAProxyDead), n.systemctl(ctx, "start", "haproxy.service")
		}},
		// The holder is often the leader too. Cut off for less than
		// Patroni's ttl, a leader demotes itself and leads again once the
		// link is back (the partition outlasting ttl, with its failover,
		// is TestFaults' partitioned leader).
		{name: "holder-partitioned", sync: true, syncAfter: true, leaderKeyRace: true, targets: viaVIP, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			n, err := holder()
			if err != nil {
				return "", err
			}
			v.mark("holder-partitioned")
			v.setAway(n.name, true)
			if _, err := run(ctx, "ip", "-n", h.netns, "link", "set", "vb-"+n.name, "down"); err != nil {
				return "", err
			}
			sleep(ctx, vipHold)
			_, err = run(ctx, "ip", "-n", h.netns, "link", "set", "vb-"+n.name, "up")
			v.setAway(n.name, false)
			return fmt.Sprintf("%s (leader %s) cut off from the bridge for %v", n.name, topo.leader.name, vipHold), err
		}},
		{name: "switchover", sync: true, syncAfter: true, targets: viaVIP, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			v.mark("switchover")
			_, err := h.apiCall(ctx, topo.leader, "POST", "/switchover", map[string]any{"leader": topo.leader.name, "candidate": topo.sync.name})
			return "", err
		}},
	}
}

// vipLeaderFaults are the faults of the leader mode: the writers connect
// to PostgreSQL on the VIP, and after each fault the VIP must be on the new
// leader, and nowhere else, within vipFollow.
func (h *harness) vipLeaderFaults(v *vipWatch) []fault {
	viaVIP := viaVIP(portPG)
	// follows waits until the one holder of the VIP is the new leader.
	follows := func(ctx context.Context, old *node) (string, error) {
		if err := h.waitNewLeader(ctx, 60*time.Second, old); err != nil {
			return "", err
		}
		leader, err := h.leaderNow(ctx)
		if err != nil {
			return "", err
		}
		if err := v.follows(ctx, leader.name); err != nil {
			return "", err
		}
		return "VIP on the new leader " + leader.name, nil
	}
	return []fault{
		{name: "leader-switchover", sync: true, syncAfter: true, targets: viaVIP, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			v.mark("leader-switchover")
			if _, err := h.apiCall(ctx, topo.leader, "POST", "/switchover", map[string]any{"leader": topo.leader.name, "candidate": topo.sync.name}); err != nil {
				return "", err
			}
			return follows(ctx, topo.leader)
		}},
		{name: "leader-mode-node-killed", sync: true, syncAfter: true, targets: viaVIP, inject: func(ctx context.Context, topo topology, l *load) (string, error) {
			v.mark("leader-mode-node-killed")
			v.setAway(topo.leader.name, true)
			topo.leader.kill()
			note, err := follows(ctx, topo.leader)
			if err != nil {
				return "", err
			}
			v.setAway(topo.leader.name, false)
			return note + "; " + topo.leader.name + " killed, then booted", topo.leader.boot()
		}},
	}
}

// vipModeSwitch moves the running cluster to the tag's build (vip.mode
// leader) with each node's upgrade.sh, replicas first and the leader last,
// while the client writes through <vip>:<haproxy_rw>: HAProxy binds the VIP
// in both modes. PostgreSQL's new listen addresses (the VIP's too) wait for
// a restart, which --restart-pending makes. Then the VIP must be on the
// leader, and stay there.
func (h *harness) vipModeSwitch(v *vipWatch, tag string) fault {
	const name = "mode-switch-to-leader"
	return fault{name: name, sync: true, syncAfter: true, targets: viaVIP(portRW), inject: func(ctx context.Context, topo topology, l *load) (string, error) {
		v.mark(name)
		order := append(append([]*node{}, topo.others...), topo.leader)
		var done []string
		for _, n := range order {
			out, err := n.script(ctx, tag, "upgrade.sh", "upgrade-"+tag, "--skip-os-check", "--no-packages", "--restart-pending")
			if err != nil {
				return "", fmt.Errorf("%v\n%s", err, out)
			}
			done = append(done, n.name)
		}
		leader, err := h.leaderNow(ctx)
		if err != nil {
			return "", err
		}
		if err := v.follows(ctx, leader.name); err != nil {
			return "", err
		}
		return fmt.Sprintf("upgrade.sh --restart-pending on %s; VIP on the leader %s", strings.Join(done, ", "), leader.name), nil
	}}
}
