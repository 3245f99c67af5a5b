//go:build e2e

package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The second build of the lifecycle test: against specYAML's parameters
// (max_connections 200, shared_buffers 32MB), max_connections is changed
// (a parameter needing a restart), work_mem added and shared_buffers
// removed (back to its default, 128MB, also after a restart).
const (
	paramsV1 = "    max_connections: 200\n    shared_buffers: 32MB\n"
	paramsV2 = "    max_connections: 250\n    work_mem: 8MB\n"
)

// wantV2 is what every node's SHOW must answer after the upgrade.
var wantV2 = map[string]string{"max_connections": "250", "work_mem": "8MB", "shared_buffers": "128MB"}

// TestLifecycle runs the day-two operations on the harness's cluster (make
// e2e-lifecycle), installed with its packages (RPMs of Debian's files,
// packages_test.go) by install.sh's package step: an upgrade refused on an
// unhealthy cluster, a config-only rolling upgrade under load (replicas
// first, the leader last after a switchover to the synchronous standby)
// that also rotates every password, a rolling upgrade of every package to
// a newer release under load (replicas first, the leader last, its
// upgrade.sh switching over itself), then uninstall.sh on every node,
// again, and with --purge --yes.
func TestLifecycle(t *testing.T) {
	ctx := testContext(t, overall)
	start := time.Now()
	h, _ := bringUp(t, ctx, func(h *harness) { h.debianRPMs = true })
	t.Logf("FIGURE bring-up %.0fs", time.Since(start).Seconds())
	step(t, "install.sh's package step put every package in rpm's database (release "+releaseA+")", func() error {
		for _, n := range h.nodes {
			v, err := n.wantRelease(ctx, releaseA)
			if err != nil {
				return err
			}
			t.Logf("FIGURE rpm -q on %s after install.sh: %s", n.name, v)
		}
		return nil
	})

	var v2 map[string]string
	step(t, "every password and node certificate rotated into the secrets file (pgha-bundle secrets rotate)", h.rotatePasswords)
	step(t, "second build: max_connections 200 -> 250, work_mem added, shared_buffers removed, new passwords", func() error {
		var err error
		v2, err = h.rebuild(paramsV1, paramsV2, "v2")
		return err
	})
	step(t, "the new bundle copied to every node", func() error {
		return eachNode(h.nodes, func(n *node) error { return n.copyBundle(v2[n.name], "v2") })
	})

	step(t, "before the upgrade every member serves its old certificate", func() error {
		return h.checkServedCerts(ctx, h.oldSec, h.sec)
	})

	step(t, "upgrade.sh refuses an unhealthy cluster and changes nothing", func() error {
		return h.refusedUpgrade(ctx)
	})

	var figs []string
	step(t, "config-only rolling upgrade under load", func() error {
		var err error
		figs, err = h.rollingUpgrade(ctx)
		return err
	})
	for _, f := range figs {
		t.Logf("FIGURE %s", f)
	}
	step(t, "Patroni's dynamic configuration and every node's SHOW agree with the new spec, no restart pending", func() error {
		return h.checkParams(ctx)
	})

	step(t, "the rotated passwords: replicas streaming, new passwords taken and old ones refused everywhere", func() error {
		return h.checkRotated(ctx)
	})
	step(t, "the reissued node certificates: served by PostgreSQL, Patroni's REST API and etcd on every member", func() error {
		return h.checkServedCerts(ctx, h.sec, h.oldSec)
	})

	var v3 map[string]string
	step(t, "third build: the same spec, every package at release "+releaseB+" (Debian's files again, Patroni's script changed)", func() error {
		dir, err := h.writeDebianRPMs(releaseB)
		if err != nil {
			return err
		}
		v3, err = h.rebuildWith("v3", paramsV1, paramsV2,
			"  dir: "+filepath.Join(h.work, "build", "rpms")+"\n", "  dir: "+dir+"\n")
		return err
	})
	step(t, "the third bundle copied to every node", func() error {
		return eachNode(h.nodes, func(n *node) error { return n.copyBundle(v3[n.name], "v3") })
	})
	step(t, "rolling package upgrade under load: each node's upgrade.sh with its package step, replicas first, the leader last", func() error {
		var err error
		figs, err = h.packageUpgrade(ctx, "v3")
		return err
	})
	for _, f := range figs {
		t.Logf("FIGURE %s", f)
	}

	step(t, "uninstall.sh on every node, again, then --purge --yes twice", func() error {
		var err error
		figs, err = h.uninstallAll(ctx, "v3")
		return err
	})
	for _, f := range figs {
		t.Logf("FIGURE %s", f)
	}
	t.Logf("FIGURE lifecycle wall time %.0fs", time.Since(start).Seconds())
}

// rebuild builds the spec again with from replaced by to, into out-<tag>,
// with the same secrets, and returns each node's bundle.
func (h *harness) rebuild(from, to, tag string) (map[string]string, error) {
	return h.rebuildWith(tag, from, to)
}

// rebuildWith is rebuild with several replacements of the harness's spec,
// pairs of from and to, each made once in that order.
func (h *harness) rebuildWith(tag string, pairs ...string) (map[string]string, error) {
	dir := filepath.Join(h.work, "build")
	b, err := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	if err != nil {
		return nil, err
	}
	text := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		from, to := pairs[i], pairs[i+1]
		if !strings.Contains(text, from) {
			return nil, fmt.Errorf("the harness's spec has no %q", from)
		}
		text = strings.Replace(text, from, to, 1)
	}
	spec := filepath.Join(dir, "cluster-"+tag+".yaml")
	if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "out-"+tag)
	if _, err := run(h.ctx, e2eBin(dir), append([]string{"build", "-f", spec, "--out", out, "--secrets", filepath.Join(dir, "secrets.yaml")}, h.buildArgs()...)...); err != nil {
		return nil, err
	}
	bundles := map[string]string{}
	for _, n := range memberNames {
		bundles[n] = filepath.Join(out, clusterName, "bundles", n+".tar.gz")
		if _, err := os.Stat(bundles[n]); err != nil {
			return nil, err
		}
	}
	return bundles, nil
}

// copyBundle unpacks a bundle under /root/<tag> on the node.
func (n *node) copyBundle(bundle, tag string) error {
	data, err := os.ReadFile(bundle)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.root, "root", tag+".tar.gz"), data, 0o600); err != nil {
		return err
	}
	if out, err := n.exec(n.h.ctx, "bash", "-c", "rm -rf /root/"+tag+" && mkdir /root/"+tag+" && tar -xzf /root/"+tag+".tar.gz -C /root/"+tag); err != nil {
		return fmt.Errorf("%s: unpack: %v: %s", n.name, err, out)
	}
	return nil
}

// script runs one of the unpacked bundle's scripts on the node; the output
// is kept as an artefact, secrets redacted.
func (n *node) script(ctx context.Context, tag, name, logName string, args ...string) (string, error) {
	argv := append([]string{"bash", "/root/" + tag + "/" + clusterName + "-" + n.name + "/" + name}, args...)
	out, err := n.exec(ctx, argv...)
	n.h.saveLog(n.name+"."+logName+".log", out)
	if err != nil {
		return n.h.redact.Replace(string(out)), fmt.Errorf("%s: %s: %v", n.name, name, errors.New(n.h.redact.Replace(err.Error())))
	}
	return n.h.redact.Replace(string(out)), nil
}

// stateOf is what an upgrade may change on a node: the files of the
// bundle's directories and the receipt, as sha256 sums.
func (n *node) stateOf(ctx context.Context) (string, error) {
	out, err := n.exec(ctx, "bash", "-c", "find /etc/patroni /etc/pgha-bundle /etc/etcd /etc/haproxy /etc/systemd/system /var/lib/pgha-bundle -type f -not -name '*.log' -print0 2>/dev/null | sort -z | xargs -0 sha256sum")
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", n.name, err, out)
	}
	return string(out), nil
}

// dynamicConfig is Patroni's GET /config.
func (h *harness) dynamicConfig(ctx context.Context, n *node) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://%s:%d/config", n.addr, portAPI), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.api().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s GET /config: %s", n.name, resp.Status)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s GET /config: %w", n.name, err)
	}
	return cfg, nil
}

// refusedUpgrade stops Patroni on a replica that is not the synchronous
// standby, runs the new bundle's upgrade.sh on the leader, wants it refused,
// and compares the leader's files and the dynamic configuration before and
// after. The replica's Patroni is started again.
func (h *harness) refusedUpgrade(ctx context.Context) error {
	topo, err := h.waitHealthy(ctx, 150*time.Second, true)
	if err != nil {
		return err
	}
	var down *node
	for _, n := range topo.others {
		if n != topo.sync {
			down = n
		}
	}
	if down == nil {
		return errors.New("no asynchronous replica to stop")
	}
	before, err := topo.leader.stateOf(ctx)
	if err != nil {
		return err
	}
	cfgBefore, err := h.dynamicConfig(ctx, topo.leader)
	if err != nil {
		return err
	}
	if err := down.systemctl(ctx, "stop", "patroni"); err != nil {
		return err
	}
	defer func() {
		_ = down.systemctl(ctx, "start", "patroni")
	}()
	t0 := time.Now()
	out, err := topo.leader.script(ctx, "v2", "upgrade.sh", "upgrade-refused", append(append([]string{"--skip-os-check"}, h.noPackages()...), "--restart-pending")...)
	if err == nil {
		return fmt.Errorf("upgrade.sh on %s with Patroni stopped on %s succeeded:\n%s", topo.leader.name, down.name, out)
	}
	if want := "the cluster is not healthy"; !strings.Contains(out, want) {
		return fmt.Errorf("upgrade.sh on %s failed without saying %q: %v\n%s", topo.leader.name, want, err, out)
	}
	h.t.Logf("FIGURE upgrade refused on an unhealthy cluster (Patroni stopped on %s) in %.1fs", down.name, time.Since(t0).Seconds())
	after, err := topo.leader.stateOf(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("the refused upgrade changed %s's files:\nbefore:\n%s\nafter:\n%s", topo.leader.name, before, after)
	}
	cfgAfter, err := h.dynamicConfig(ctx, topo.leader)
	if err != nil {
		return err
	}
	if fmt.Sprint(cfgAfter) != fmt.Sprint(cfgBefore) {
		return fmt.Errorf("the refused upgrade changed the dynamic configuration: %v -> %v", cfgBefore, cfgAfter)
	}
	if err := down.systemctl(ctx, "start", "patroni"); err != nil {
		return err
	}
	_, err = h.waitHealthy(ctx, 150*time.Second, true)
	return err
}

// rollingUpgrade applies the new bundle with each node's upgrade.sh under
// the harness's load: the asynchronous replica, the synchronous standby,
// the leader in place (restart left pending), then a switchover to the
// synchronous standby of the moment and upgrade.sh --restart-pending again
// on the old leader, which restarts it as a replica. The checker must find no acknowledged row lost and no two
// writable primaries at once.
func (h *harness) rollingUpgrade(ctx context.Context) ([]string, error) {
	topo, err := h.waitHealthy(ctx, 150*time.Second, true)
	if err != nil {
		return nil, err
	}
	h.runs++
	var targets []string
	for _, n := range h.nodes {
		targets = append(targets, rwAddr(n))
	}
	l, err := h.startLoadAcked(ctx, targets, "the upgrade")
	if err != nil {
		return nil, err
	}
	defer l.stop()
	t0 := time.Now()
	var figs []string
	op := func(name string, f func() error) error {
		s := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		e := time.Now()
		figs = append(figs, fmt.Sprintf("%s: %.1fs, longest write pause %.1fs", name, e.Sub(s).Seconds(), l.longestGap(s, e).Seconds()))
		return nil
	}
	upgradeWith := func(n *node, logName string, args ...string) func() error {
		return func() error {
			out, err := n.script(ctx, "v2", "upgrade.sh", logName, append(append([]string{"--skip-os-check"}, h.noPackages()...), args...)...)
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			_, err = h.waitHealthy(ctx, 150*time.Second, true)
			return err
		}
	}
	upgrade := func(n *node) func() error { return upgradeWith(n, "upgrade", "--restart-pending") }
	var async *node
	for _, n := range topo.others {
		if n != topo.sync {
			async = n
		}
	}
	oldLeader := topo.leader
	if err := op("upgrade.sh on replica "+async.name, upgrade(async)); err != nil {
		return figs, err
	}
	if err := op("upgrade.sh on sync standby "+topo.sync.name, upgrade(topo.sync)); err != nil {
		return figs, err
	}
	// The leader takes the new files in place, without a restart: a
	// leader demoted with the old passwords could not stream from the new
	// one, which already has the new passwords.
	if err := op("upgrade.sh on the leader "+oldLeader.name+" in place, restart left pending", upgradeWith(oldLeader, "upgrade")); err != nil {
		return figs, err
	}
	var cand *node
	if err := op("switchover from "+oldLeader.name+" to the sync standby", func() error {
		now, err := h.waitHealthy(ctx, 150*time.Second, true)
		if err != nil {
			return err
		}
		if now.leader != oldLeader {
			return fmt.Errorf("the leader moved from %s to %s during the replicas' upgrade", oldLeader.name, now.leader.name)
		}
		cand = now.sync
		if _, err := h.apiCall(ctx, oldLeader, http.MethodPost, "/switchover", map[string]string{"leader": oldLeader.name, "candidate": cand.name}); err != nil {
			return err
		}
		deadline := time.Now().Add(150 * time.Second)
		for {
			after, err := h.waitHealthy(ctx, time.Until(deadline), true)
			if err != nil {
				return err
			}
			if after.leader == cand {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not lead after the switchover (leader %s)", cand.name, after.leader.name)
			}
			sleep(ctx, time.Second)
		}
	}); err != nil {
		return figs, err
	}
	if err := op("upgrade.sh --restart-pending again on the old leader "+oldLeader.name, upgradeWith(oldLeader, "upgrade-restart", "--restart-pending")); err != nil {
		return figs, err
	}
	if err := l.untilAcked(ctx, "the upgraded cluster"); err != nil {
		return figs, err
	}
	end := time.Now()
	leader, err := h.leaderNow(ctx)
	if err != nil {
		return figs, err
	}
	present, err := h.present(ctx, pgAddr(leader), h.runs)
	if err != nil {
		return figs, fmt.Errorf("read back: %w", err)
	}
	v := Check(l.ledger.Outcomes(), present)
	ov := LongestOverlap(l.probes())
	figs = append(figs, fmt.Sprintf("rolling upgrade: %.1fs, %s, longest write pause %.1fs, writable primaries overlapping %d times", end.Sub(t0).Seconds(), v, l.longestGap(t0, end).Seconds(), ov.Count))
	if err := v.Err(); err != nil {
		return figs, err
	}
	if ov.Count > 0 {
		return figs, fmt.Errorf("two nodes acknowledged writes at once: %s for %v", ov.Nodes, ov.Duration())
	}
	return figs, nil
}

// checkParams compares Patroni's dynamic configuration and every node's
// SHOW with the second spec, and wants no restart pending anywhere.
func (h *harness) checkParams(ctx context.Context) error {
	var errs []error
	for _, n := range h.nodes {
		cfg, err := h.dynamicConfig(ctx, n)
		if err != nil {
			return err
		}
		pg, _ := cfg["postgresql"].(map[string]any)
		params, _ := pg["parameters"].(map[string]any)
		if got := fmt.Sprint(params["max_connections"]); got != "250" {
			errs = append(errs, fmt.Errorf("%s GET /config: max_connections %s, want 250", n.name, got))
		}
		if got := fmt.Sprint(params["work_mem"]); got != "8MB" {
			errs = append(errs, fmt.Errorf("%s GET /config: work_mem %s, want 8MB", n.name, got))
		}
		if v, ok := params["shared_buffers"]; ok {
			errs = append(errs, fmt.Errorf("%s GET /config: shared_buffers still set (%v) though the spec removed it", n.name, v))
		}
		rows, err := h.sql(ctx, pgAddr(n), "SELECT name, current_setting(name), pending_restart FROM pg_settings WHERE name IN ('max_connections', 'work_mem', 'shared_buffers') ORDER BY name")
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		if len(rows) != len(wantV2) {
			return fmt.Errorf("%s: pg_settings: %v", n.name, rows)
		}
		for _, r := range rows {
			if r[1] != wantV2[r[0]] {
				errs = append(errs, fmt.Errorf("%s: SHOW %s is %s, want %s", n.name, r[0], r[1], wantV2[r[0]]))
			}
			if r[2] != "f" && r[2] != "false" {
				errs = append(errs, fmt.Errorf("%s: %s pending a restart", n.name, r[0]))
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://%s:%d/patroni", n.addr, portAPI), nil)
		if err != nil {
			return err
		}
		resp, err := h.api().Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if regexp.MustCompile(`"pending_restart":\s*true`).Match(b) {
			errs = append(errs, fmt.Errorf("%s: Patroni reports a restart pending", n.name))
		}
	}
	if len(errs) == 0 {
		h.t.Logf("FIGURE parameters after the upgrade, on every node and in GET /config: max_connections 250, work_mem 8MB, shared_buffers 128MB (default), none pending a restart")
	}
	return errors.Join(errs...)
}

// receipt is what the lifecycle test reads of the line-based receipt.
type receipt struct {
	Files   []struct{ Path string }
	Backups []struct{ Path, Backup string }
}

// readReceipt reads a node's receipt (layout.Receipt: "file PATH …" and
// "backup PATH BACKUP" lines among others).
func readReceipt(root string) (receipt, error) {
	var rc receipt
	b, err := os.ReadFile(filepath.Join(root, layout.Receipt))
	if err != nil {
		return rc, err
	}
	lines, err := layout.ParseFacts(b)
	if err != nil {
		return rc, fmt.Errorf("receipt: %w", err)
	}
	for _, l := range lines {
		switch {
		case l[0] == "file" && len(l) > 1:
			rc.Files = append(rc.Files, struct{ Path string }{l[1]})
		case l[0] == "backup" && len(l) > 2:
			rc.Backups = append(rc.Backups, struct{ Path, Backup string }{l[1], l[2]})
		}
	}
	return rc, nil
}

// readFacts reads a node's installed facts (layout.NodeFacts): the first
// field of each single-valued key.
func readFacts(root string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(root, layout.NodeFacts))
	if err != nil {
		return nil, err
	}
	lines, err := layout.ParseFacts(b)
	if err != nil {
		return nil, fmt.Errorf("node.facts: %w", err)
	}
	facts := map[string]string{}
	for _, l := range lines {
		if len(l) > 1 {
			facts[l[0]] = l[1]
		}
	}
	return facts, nil
}

// harnessFiles are the harness's own additions to each node's tree.
var harnessFiles = map[string]bool{
	"etc/systemd/system/pgha-e2e-net.service":                      true,
	"etc/systemd/system/sysinit.target.wants/pgha-e2e-net.service": true,
	"usr/local/sbin/pgha-e2e-net":                                  true,
	"etc/cloud/cloud.cfg.d/90_pgha_e2e.cfg":                        true,
	// newNode removes the Debian packages' own enablement (whiteouts).
	"etc/systemd/system/multi-user.target.wants/etcd.service":       true,
	"etc/systemd/system/multi-user.target.wants/haproxy.service":    true,
	"etc/systemd/system/multi-user.target.wants/patroni.service":    true,
	"etc/systemd/system/multi-user.target.wants/postgresql.service": true,
	// cloud-init's locale module (the harness's cloud.cfg.d sets C.UTF-8).
	"etc/default/locale": true,
	// Debian's etcd package enables its unit with an alias, etcd2.service;
	// uninstall.sh's systemctl disable etcd removes it. EL's etcd unit has
	// no alias: a difference of the harness's Debian tree, reported.
	"etc/systemd/system/etcd2.service": true,
}

// uninstallAll runs uninstall.sh on every node and checks what is left,
// runs it again (nothing to change), then with --purge --yes (the kept data
// deleted) and once more.
func (h *harness) uninstallAll(ctx context.Context, tag string) ([]string, error) {
	var figs []string
	for _, n := range h.nodes {
		rc, err := readReceipt(n.root)
		if err != nil {
			return figs, fmt.Errorf("%s: %w", n.name, err)
		}
		facts, err := readFacts(n.root)
		if err != nil {
			return figs, fmt.Errorf("%s: %w", n.name, err)
		}
		data := map[string]string{"PGHA_PGDATA": facts["pgdata"], "PGHA_ETCD_DATA_DIR": facts["etcd_data_dir"]}
		if data["PGHA_PGDATA"] == "" || data["PGHA_ETCD_DATA_DIR"] == "" {
			return figs, fmt.Errorf("%s node.facts: no pgdata or etcd_data_dir", n.name)
		}
		s := time.Now()
		if out, err := n.script(ctx, tag, "uninstall.sh", "uninstall", "--skip-os-check"); err != nil {
			return figs, fmt.Errorf("%v\n%s", err, out)
		}
		figs = append(figs, fmt.Sprintf("uninstall.sh on %s: %.1fs", n.name, time.Since(s).Seconds()))
		var errs []error
		if h.debianRPMs {
			if err := n.packagesRemoved(ctx); err != nil {
				errs = append(errs, err)
			} else {
				figs = append(figs, fmt.Sprintf("uninstall.sh on %s removed the %d packages it installed (rpm -e): rpm -q says not installed, their files are gone (on this Debian tree dpkg's files at those paths)", n.name, len(debianRPMList)))
			}
		}
		restored := map[string]bool{}
		for _, b := range rc.Backups {
			restored[b.Path] = true
			if _, err := os.Lstat(filepath.Join(n.root, b.Backup)); err == nil {
				errs = append(errs, fmt.Errorf("%s: backup %s left after uninstall", n.name, b.Backup))
			}
		}
		for _, f := range rc.Files {
			if restored[f.Path] {
				// The package's own file, put back: unexplained()
				// compares it with the base tree's.
				continue
			}
			for _, p := range []string{f.Path, f.Path + ".pgha-modified"} {
				if _, err := os.Lstat(filepath.Join(n.root, p)); err == nil {
					errs = append(errs, fmt.Errorf("%s: %s left after uninstall", n.name, p))
				}
			}
		}
		for _, u := range []string{"patroni", "etcd", "haproxy"} {
			if out, err := n.exec(ctx, "systemctl", "is-active", u); err == nil {
				errs = append(errs, fmt.Errorf("%s: %s still active (%s)", n.name, u, strings.TrimSpace(string(out))))
			}
			if out, _ := n.exec(ctx, "systemctl", "is-enabled", u); strings.TrimSpace(string(out)) == "enabled" {
				errs = append(errs, fmt.Errorf("%s: %s still enabled", n.name, u))
			}
		}
		left, err := n.unexplained(rc)
		if err != nil {
			return figs, err
		}
		for _, p := range left {
			errs = append(errs, fmt.Errorf("%s: %s left by the installation, not in its receipt", n.name, p))
		}
		// PGDATA's parent is a file system mounted inside the container:
		// looked at from there.
		for _, d := range data {
			if out, err := n.exec(ctx, "test", "-d", d); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s gone after an uninstall without --purge: %v %s", n.name, d, err, out))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return figs, err
		}

		out, err := n.script(ctx, tag, "uninstall.sh", "uninstall-again", "--skip-os-check")
		if err != nil {
			return figs, fmt.Errorf("a second uninstall.sh: %v\n%s", err, out)
		}
		if !strings.Contains(out, "done: 0 change(s)") {
			return figs, fmt.Errorf("%s: a second uninstall.sh reported changes:\n%s", n.name, out)
		}
		s = time.Now()
		if out, err := n.script(ctx, tag, "uninstall.sh", "uninstall-purge", "--skip-os-check", "--purge", "--yes"); err != nil {
			return figs, fmt.Errorf("uninstall.sh --purge --yes: %v\n%s", err, out)
		}
		figs = append(figs, fmt.Sprintf("uninstall.sh --purge --yes on %s (after an uninstall): %.1fs", n.name, time.Since(s).Seconds()))
		for _, d := range data {
			if _, err := n.exec(ctx, "test", "-e", d); err == nil {
				return figs, fmt.Errorf("%s: %s still there after --purge --yes", n.name, d)
			}
		}
		out, err = n.script(ctx, tag, "uninstall.sh", "uninstall-purge-again", "--skip-os-check", "--purge", "--yes")
		if err != nil {
			return figs, fmt.Errorf("a second uninstall.sh --purge --yes: %v\n%s", err, out)
		}
		if !strings.Contains(out, "done: 0 change(s)") {
			return figs, fmt.Errorf("%s: a second uninstall.sh --purge --yes reported changes:\n%s", n.name, out)
		}
	}
	return figs, nil
}

// unexplained lists, in the node's overlay upper layer, the unit files and
// configuration the installation left: files under the bundle's
// directories and systemd's that are new (not in the base tree, not the
// harness's own) or differ from the base tree's, and base files deleted.
// The receipt's backups are restored copies of base files: equal to them.
func (n *node) unexplained(rc receipt) ([]string, error) {
	upper := filepath.Join(n.dir, "upper")
	var left []string
	for _, top := range []string{"etc/systemd", "etc/patroni", "etc/etcd", "etc/haproxy", "etc/pgha-bundle", "usr/lib/systemd", "lib/systemd", "etc/sysconfig", "etc/default", "usr/local"} {
		root := filepath.Join(upper, top)
		if _, err := os.Lstat(root); err != nil {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(upper, p)
			if harnessFiles[rel] {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Mode()&fs.ModeCharDevice != 0 {
				left = append(left, "/"+rel+" (a base file deleted)")
				return nil
			}
			base := filepath.Join(n.h.base, rel)
			if _, err := os.Lstat(base); err != nil {
				left = append(left, "/"+rel)
				return nil
			}
			if info.Mode().IsRegular() {
				a, _ := os.ReadFile(p)
				b, _ := os.ReadFile(base)
				if string(a) != string(b) {
					left = append(left, "/"+rel+" (differs from the base tree's)")
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(left)
	return left, nil
}
