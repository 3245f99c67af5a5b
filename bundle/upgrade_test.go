package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
)

// TestUpgradeRemovesStaleFiles: a file the new bundle no longer carries is
// removed (kept as .pgha-modified when edited on the host), systemd reloads
// when it was a unit, and the receipt forgets it.
func TestUpgradeRemovesStaleFiles(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	writeFile(t, h.root+"/etc/patroni/dcs.yml", "ttl: 99 # edited by hand\n")
	v2 := newer(t, h, in, "v2", func(n *Input) {
		var kept = n.Payload.Files[:0]
		for _, f := range n.Payload.Files {
			if f.Path != "/etc/systemd/system/haproxy.service" && f.Path != "/etc/patroni/dcs.yml" {
				kept = append(kept, f)
			}
		}
		n.Payload.Files = kept
	})
	h.extract(v2)
	out, code := h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	for _, p := range []string{"/etc/systemd/system/haproxy.service", "/etc/patroni/dcs.yml"} {
		if _, err := os.Stat(h.root + p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if got := readFile(t, h.root+"/etc/patroni/dcs.yml.pgha-modified"); got != "ttl: 99 # edited by hand\n" {
		t.Errorf("the edited file was not kept: %q", got)
	}
	calls := h.calls()
	if i, j := index(calls, "systemctl daemon-reload"), index(calls, "systemctl reload haproxy"); i < 0 || j < i {
		t.Errorf("want daemon-reload then a HAProxy reload:\n%s", strings.Join(calls, "\n"))
	}
	r, _ := h.receipt()
	if len(r.Files) != len(v2.Payload.Files) {
		t.Errorf("receipt lists %d files, want %d", len(r.Files), len(v2.Payload.Files))
	}
	for _, f := range r.Files {
		if f.Path == "/etc/patroni/dcs.yml" {
			t.Error("receipt still lists dcs.yml")
		}
	}
}

// TestInstallRefusesAnotherBundle: install.sh of a newer bundle on a member
// running another one stops before any change and points to upgrade.sh.
// TestUpgradeRefusesTurningOnTLS: a node installed from a bundle without
// TLS files is not moved to TLS alone; nothing changes.
func TestUpgradeRefusesTurningOnTLS(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	withTLS := testInput(t, h.dir)
	plain := newer(t, h, withTLS, "v1", func(n *Input) {
		var keep []payload.File
		for _, f := range n.Payload.Files {
			if !strings.HasPrefix(f.Path, "/etc/pgha-bundle/pki/") {
				keep = append(keep, f)
			}
		}
		n.Payload.Files = keep
	})
	h.extract(plain)
	if out, code := h.run("install.sh"); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	h.extract(newer(t, h, withTLS, "v2", func(*Input) {}))
	out, code := h.run("upgrade.sh")
	if want := "this bundle turns on TLS between the members and pg2 runs without it"; code == 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want a failure saying %q\n%s", code, want, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("changed the host: %v", m)
	}
}

func TestInstallRefusesAnotherBundle(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	v2 := newer(t, h, in, "v2", func(n *Input) {
		n.Packages[1] = fakePackage(t, h.dir, "etcd", "etcd-3.5.13-1.el9.x86_64", 2000)
	})
	h.extract(v2)
	out, code := h.run("install.sh")
	if want := "this node runs bundle " + in.BuildID + "; apply this one (v2) with upgrade.sh"; code == 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want a failure saying %q\n%s", code, want, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("changed the host: %v", m)
	}
	if r, _ := h.receipt(); r.BundleID != in.BuildID {
		t.Errorf("receipt names %s, want %s", r.BundleID, in.BuildID)
	}
}

// TestInstallAcceptsSameContentUnderANewID: a rebuild that changes nothing the
// node receives (a new seed generation) gets a new bundle id; install.sh then
// changes nothing, says so, and records the new id.
func TestInstallAcceptsSameContentUnderANewID(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	v2 := newer(t, h, in, "v2", func(n *Input) {})
	h.extract(v2)
	out, code := h.run("install.sh")
	if code != 0 || !strings.Contains(out, "done: no changes") || !strings.Contains(out, "same files and packages as the installed "+in.BuildID) {
		t.Fatalf("exit %d, want a no-op naming the installed bundle\n%s", code, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("changed the host: %v", m)
	}
	if r, _ := h.receipt(); r.BundleID != "v2" {
		t.Errorf("receipt names %s, want v2", r.BundleID)
	}
}

// TestInstallRefusesChangedFilesUnderANewID: a new id with one changed file
// goes through upgrade.sh, never a re-install.
func TestInstallRefusesChangedFilesUnderANewID(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setContent(n, "/etc/patroni/dcs.yml", "ttl: 40\nloop_wait: 10\n")
	})
	h.extract(v2)
	out, code := h.run("install.sh")
	if want := "this node runs bundle " + in.BuildID + "; apply this one (v2) with upgrade.sh"; code == 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want a failure saying %q\n%s", code, want, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("changed the host: %v", m)
	}
}

// TestInstallRestartsEtcdWithoutBlocking: when a re-run restores etcd's
// configuration, etcd (Type=notify) is restarted with --no-block and the
// health gate bounds the wait.
func TestInstallRestartsEtcdWithoutBlocking(t *testing.T) {
	t.Parallel()
	h, _ := installed(t)
	writeFile(t, h.root+"/etc/etcd/etcd.conf.yml", "name: edited by hand\n")
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	calls := h.calls()
	restart, health := index(calls, "systemctl restart --no-block etcd"), index(calls, "etcdctl --endpoints=https://10.0.0.2:2379")
	if restart < 0 || health < restart {
		t.Errorf("want systemctl restart --no-block etcd then the health gate:\n%s", strings.Join(calls, "\n"))
	}
}

// TestInstallNarrowsMemberPorts: a member whose earlier install opened the
// etcd port to the whole zone gets it closed there on a re-run, open to the
// members only.
func TestInstallNarrowsMemberPorts(t *testing.T) {
	t.Parallel()
	h := installedWithFirewalld(t)
	rp := h.root + layout.Receipt
	writeFile(t, rp, readFile(t, rp)+"firewall_port 2379/tcp\n")
	writeFile(t, h.state+"/ports/perm-2379", "")
	writeFile(t, h.state+"/ports/rt-2379", "")
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("re-run exit %d\n%s", code, out)
	}
	fw := firewallChanges(t, h.calls())
	for _, key := range []string{"--permanent --remove-port", "--remove-port"} {
		if !slices.Equal(fw[key], []string{"2379/tcp"}) {
			t.Errorf("firewall-cmd %s: %q, want 2379/tcp", key, fw[key])
		}
	}
	r, _ := h.receipt()
	for _, p := range r.Ports {
		if p == "2379/tcp" {
			t.Error("the receipt still lists 2379/tcp as opened to the zone")
		}
	}
}

// TestInstallClosesRulesNoMemberNeeds: rich rules the receipt lists for an
// address that is no longer a member, for a member port that moved, and
// for VRRP in a cluster without a VIP are removed (at runtime and
// permanently) and forgotten; the members' rules stay.
func TestInstallClosesRulesNoMemberNeeds(t *testing.T) {
	t.Parallel()
	h := installedWithFirewalld(t)
	rp := h.root + layout.Receipt
	stale := [][2]string{{"10.0.0.9", "2380/tcp"}, {"10.0.0.1", "2390/tcp"}, {"10.0.0.1", "vrrp"}}
	extra := ""
	for _, r := range stale {
		extra += "firewall_rule " + r[0] + " " + r[1] + "\n"
	}
	writeFile(t, rp, readFile(t, rp)+extra)
	before, _ := h.receipt()
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("re-run exit %d\n%s", code, out)
	}
	// Exactly the stale rules are removed, in one call per mode.
	var rules []string
	for _, r := range stale {
		rules = append(rules, richRule(r[0], r[1]))
	}
	fw := firewallChanges(t, h.calls())
	for _, key := range []string{"--permanent --remove-rich-rule", "--remove-rich-rule"} {
		if !slices.Equal(fw[key], rules) {
			t.Errorf("firewall-cmd %s: %q, want %q", key, fw[key], rules)
		}
	}
	after, _ := h.receipt()
	if len(after.Rules) != len(before.Rules)-len(stale) {
		t.Errorf("receipt rules %v, want those of %v without %v", after.Rules, before.Rules, stale)
	}
	for _, r := range after.Rules {
		for _, s := range stale {
			if r.Address == s[0] && r.Port == s[1] {
				t.Errorf("the receipt still lists %v", s)
			}
		}
	}
}

// TestRPMVerCmp compares lib.sh's rpmvercmp with the real rpm's ordering.
func TestRPMVerCmp(t *testing.T) {
	t.Parallel()
	rpmBin := testutil.NeedTool(t, "rpm", "rpm")
	pairs := [][2]string{
		{"1.0", "1.0"}, {"1.0", "1.1"}, {"1.10", "1.9"}, {"1.0a", "1.0"}, {"1.0", "1.0.1"},
		{"1.0~rc1", "1.0"}, {"1.0~rc1", "1.0~rc2"}, {"1.0^git1", "1.0"}, {"1.0^git1", "1.0.1"},
		{"1.0^", "1.0"}, {"2.0", "2.0a"}, {"a", "1"}, {"1.01", "1.1"}, {"1.001", "1.0002"},
		{"16.2", "16.10"}, {"1PGDG.rhel9", "2PGDG.rhel9"}, {"1.el9", "1.el9_3"}, {"3.5.12", "3.5.9"},
		{"1.0_1", "1.0.1"}, {"xyz", "xyz10"}, {"10b2", "10a1"}, {"1~", "1"}, {"1.0", "1.0~"},
	}
	var script strings.Builder
	script.WriteString(". scripts/lib.sh\n")
	var lua strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&script, "rpmvercmp %q %q\n", p[0], p[1])
		fmt.Fprintf(&lua, "print(rpm.vercmp(%q, %q) .. \" \") ", p[0], p[1])
	}
	got, err := exec.Command("bash", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("rpmvercmp: %v\n%s", err, got)
	}
	want, err := exec.Command(rpmBin, "--eval", "%{lua: "+lua.String()+"}").CombinedOutput()
	if err != nil {
		t.Fatalf("rpm: %v\n%s", err, want)
	}
	g, w := strings.Fields(string(got)), strings.Fields(string(want))
	if len(g) != len(pairs) || len(w) != len(pairs) {
		t.Fatalf("got %q, rpm says %q", got, want)
	}
	for i, p := range pairs {
		if g[i] != w[i] {
			t.Errorf("rpmvercmp %s %s = %s, rpm says %s", p[0], p[1], g[i], w[i])
		}
	}
}

// TestInstallKeepsNewerPackage: a package installed at a newer version than
// the bundle's satisfies it; install.sh says so and a re-run changes nothing.
func TestInstallKeepsNewerPackage(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.extract(testInput(t, h.dir))
	writeFile(t, h.state+"/rpmdb/etcd", "etcd-3.5.20-1.el9.x86_64\n")
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "etcd: etcd-3.5.20-1.el9.x86_64 is installed, newer than the bundle's etcd-3.5.12-1.el9.x86_64: kept") {
		t.Errorf("install does not say the newer etcd is kept:\n%s", out)
	}
	for _, c := range h.calls() {
		if strings.HasPrefix(c, "dnf ") && strings.Contains(c, "etcd-3.5.12") {
			t.Errorf("downgrade attempted: %s", c)
		}
	}
	out, code = h.run("install.sh")
	if code != 0 || !strings.Contains(out, "no changes") || len(mutating(h.calls())) > 0 {
		t.Errorf("second run: exit %d, changes %v\n%s", code, mutating(h.calls()), out)
	}
}

// TestUpgradePendingRestart: cluster parameters that need a restart are
// detected after edit-config; the final message says so, and only
// --restart-pending restarts this member (then waits on its health). On the
// leader too, whose row in patronictl list has an empty lag before the
// Pending restart column.
func TestUpgradePendingRestart(t *testing.T) {
	t.Parallel()
	for _, leads := range []bool{false, true} {
		t.Run(map[bool]string{false: "replica", true: "leader"}[leads], func(t *testing.T) {
			t.Parallel()
			upgradePendingRestart(t, leads)
		})
	}
}

func upgradePendingRestart(t *testing.T, leads bool) {
	h, in := installed(t)
	if leads {
		writeFile(t, h.state+"/role", "master\n")
		writeFile(t, h.state+"/members.tsv", patronictlList(replica("pg1"), leader1("pg2")))
	}
	writeFile(t, h.state+"/dcs-needs-restart", "")
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setContent(n, "/etc/patroni/dcs.yml", "ttl: 30\nloop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 200\n")
	})
	h.extract(v2)
	out, code := h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "PostgreSQL on pg2 has parameters PENDING A RESTART") {
		t.Errorf("the final message does not state the pending restart:\n%s", out)
	}
	restart := "patronictl -c " + h.root + "/etc/patroni/patroni.yml restart --force demo pg2"
	if i := index(h.calls(), restart); i >= 0 {
		t.Error("restarted without --restart-pending")
	}

	v3 := newer(t, h, v2, "v3", func(n *Input) {
		setContent(n, "/etc/patroni/dcs.yml", "ttl: 30\nloop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 300\n")
	})
	h.extract(v3)
	out, code = h.run("upgrade.sh", "--restart-pending")
	if code != 0 {
		t.Fatalf("upgrade --restart-pending exit %d\n%s", code, out)
	}
	calls := h.calls()
	edit, rs := index(calls, "patronictl -c "+h.root+"/etc/patroni/patroni.yml edit-config"), index(calls, restart)
	if edit < 0 || rs < edit || index(calls[rs:], "curl -s -o /dev/null -w %{http_code} --max-time 5 --cacert "+h.root+"/etc/pgha-bundle/pki/ca.crt https://10.0.0.2:8008/health") < 0 {
		t.Errorf("want edit-config, restart, then the health gate:\n%s", strings.Join(calls, "\n"))
	}
	if strings.Contains(out, "PENDING A RESTART") {
		t.Errorf("still says a restart is pending after restarting:\n%s", out)
	}
}

// TestUpgradeRestartAskedAgainAfterReset: Patroni's REST API resets a
// request while it opens its listener anew (a new certificate): the
// restart of --restart-pending is asked again, up to five times; any other
// refusal stops upgrade.sh at once, as five resets do.
func TestUpgradeRestartAskedAgainAfterReset(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		resets   string
		refused  bool
		calls    int
		wantFail string
	}{
		{name: "one reset", resets: "1", calls: 2},
		{name: "reset five times", resets: "9", calls: 5, wantFail: "patronictl restart of pg2 failed"},
		{name: "refused", refused: true, calls: 1, wantFail: "restart already in progress"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, in := installed(t)
			writeFile(t, h.state+"/dcs-needs-restart", "")
			if c.resets != "" {
				writeFile(t, h.state+"/restart-resets", c.resets)
			}
			if c.refused {
				writeFile(t, h.state+"/fail-patronictl-restart", "")
			}
			v2 := newer(t, h, in, "v2", func(n *Input) {
				setContent(n, "/etc/patroni/dcs.yml", "ttl: 30\nloop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 200\n")
			})
			h.extract(v2)
			out, code := h.run("upgrade.sh", "--restart-pending")
			restart := "patronictl -c " + h.root + "/etc/patroni/patroni.yml restart --force demo pg2"
			n := 0
			for _, call := range h.calls() {
				if call == restart {
					n++
				}
			}
			if n != c.calls {
				t.Errorf("%d restart requests, want %d\n%s", n, c.calls, out)
			}
			switch {
			case c.wantFail == "" && code != 0:
				t.Errorf("exit %d\n%s", code, out)
			case c.wantFail != "" && (code == 0 || !strings.Contains(out, c.wantFail)):
				t.Errorf("exit %d without %q\n%s", code, c.wantFail, out)
			}
		})
	}
}

// TestUpgradeListenChangeRestarts: a patroni.yml whose postgresql.listen
// changes (the VIP's address joining it when vip.mode becomes leader)
// leaves PostgreSQL pending a restart after Patroni's reload, with no
// cluster configuration change: upgrade.sh watches for it, says so, and
// restarts with --restart-pending. A patroni.yml changed elsewhere is
// reloaded without watching.
func TestUpgradeListenChangeRestarts(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	writeFile(t, h.state+"/reload-needs-restart", "")
	withListen := func(id, listen string) Input {
		return newer(t, h, in, id, func(n *Input) {
			for _, f := range n.Payload.Files {
				if f.Path == "/etc/patroni/patroni.yml" {
					c := strings.Replace(string(f.Content), "\npostgresql:\n", "\npostgresql:\n  listen: \""+listen+"\"\n", 1)
					setContent(n, f.Path, strings.Replace(c, "# generation", "# "+id+", generation", 1))
				}
			}
		})
	}
	restart := "patronictl -c " + h.root + "/etc/patroni/patroni.yml restart --force demo pg2"
	reload := "systemctl reload patroni"
	for _, tc := range []struct {
		id, listen  string
		args        []string
		watch, rest bool
	}{
		{id: "v2", listen: "10.0.0.2:5432", watch: true},
		{id: "v3", listen: "10.0.0.2,10.0.0.100:5432", args: []string{"--restart-pending"}, watch: true, rest: true},
		{id: "v4", listen: "10.0.0.2,10.0.0.100:5432", args: []string{"--restart-pending"}},
	} {
		h.extract(withListen(tc.id, tc.listen))
		out, code := h.run("upgrade.sh", tc.args...)
		if code != 0 {
			t.Fatalf("%s: upgrade exit %d\n%s", tc.id, code, out)
		}
		calls := h.calls()
		rl, rs := index(calls, reload), index(calls, restart)
		if rl < 0 {
			t.Errorf("%s: patroni.yml changed but Patroni was not reloaded:\n%s", tc.id, strings.Join(calls, "\n"))
		}
		if watched := strings.Contains(out, "parameters pending a restart"); watched != tc.watch {
			t.Errorf("%s: watched for a pending restart %v, want %v:\n%s", tc.id, watched, tc.watch, out)
		}
		if pending := strings.Contains(out, "PENDING A RESTART"); pending != (tc.watch && !tc.rest) {
			t.Errorf("%s: final message states a pending restart %v, want %v:\n%s", tc.id, pending, tc.watch && !tc.rest, out)
		}
		if (rs >= 0) != tc.rest || (tc.rest && rs < rl) {
			t.Errorf("%s: restart at call %d after the reload at %d, want a restart %v:\n%s", tc.id, rs, rl, tc.rest, strings.Join(calls, "\n"))
		}
		if err := os.Remove(h.state + "/pending-restart"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// TestUpgradeRefusesMajorVersion: a bundle for another PostgreSQL major
// version is refused before any change, pointing to the documented
// major-upgrade procedure.
func TestUpgradeRefusesMajorVersion(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	v2 := newer(t, h, in, "v2", func(n *Input) {
		for i, f := range n.Payload.Files {
			if f.Path == layout.NodeFacts {
				c := strings.Replace(string(f.Content), "\npg_major 16\n", "\npg_major 17\n", 1)
				if c == string(f.Content) {
					t.Fatalf("node.facts has no pg_major 16:\n%s", f.Content)
				}
				n.Payload.Files[i].Content = []byte(c)
			}
		}
	})
	h.extract(v2)
	before := readFile(t, h.root+layout.Receipt)
	out, code := h.run("upgrade.sh")
	if want := "moves PostgreSQL from 16 to 17"; code == 0 || !strings.Contains(out, want) || !strings.Contains(out, "'Major version upgrade' in docs/operations.md") {
		t.Fatalf("exit %d, want a failure saying %q and pointing to docs/operations.md\n%s", code, want, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("changed the host: %v", m)
	}
	if got := readFile(t, h.root+layout.Receipt); got != before {
		t.Error("the refused upgrade rewrote the receipt")
	}
	if got := readFile(t, h.root+layout.NodeFacts); !strings.Contains(got, "\npg_major 16\n") {
		t.Errorf("the refused upgrade replaced node.facts:\n%s", got)
	}
}

// TestUninstallTwice: a second uninstall.sh changes nothing and succeeds;
// --purge --yes then deletes the data the first one kept, and only once.
func TestUninstallTwice(t *testing.T) {
	t.Parallel()
	h, _ := installed(t)
	writeFile(t, h.root+"/var/lib/pgsql/16/data/PG_VERSION", "16\n")
	writeFile(t, h.root+"/var/lib/etcd/demo/member/snap/db", "x")
	if out, code := h.run("uninstall.sh"); code != 0 {
		t.Fatalf("uninstall exit %d\n%s", code, out)
	}
	out, code := h.run("uninstall.sh")
	if code != 0 || !strings.Contains(out, "done: 0 change(s)") {
		t.Fatalf("second uninstall: exit %d, want 0 and no change\n%s", code, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("the second uninstall changed the host: %v", m)
	}
	for _, p := range []string{"/var/lib/pgsql/16/data/PG_VERSION", "/var/lib/etcd/demo/member/snap/db"} {
		if _, err := os.Stat(h.root + p); err != nil {
			t.Errorf("uninstall without --purge lost %s", p)
		}
	}
	if out, code := h.run("uninstall.sh", "--purge", "--yes"); code != 0 || !strings.Contains(out, "deleted /var/lib/pgsql/16/data") {
		t.Fatalf("--purge --yes after an uninstall: exit %d\n%s", code, out)
	}
	for _, p := range []string{"/var/lib/pgsql/16/data", "/var/lib/etcd/demo", "/var/lib/pgha-bundle/kept-data"} {
		if _, err := os.Stat(h.root + p); err == nil {
			t.Errorf("--purge --yes kept %s", p)
		}
	}
	// Data no uninstall kept is never purged without a receipt.
	writeFile(t, h.root+"/var/lib/pgsql/16/data/PG_VERSION", "16\n")
	if out, code := h.run("uninstall.sh", "--purge", "--yes"); code != 0 || !strings.Contains(out, "done: 0 change(s)") {
		t.Fatalf("a second --purge --yes: exit %d, want 0 and no change\n%s", code, out)
	}
	if _, err := os.Stat(h.root + "/var/lib/pgsql/16/data/PG_VERSION"); err != nil {
		t.Error("--purge --yes without a receipt deleted data no uninstall had kept")
	}
}

// TestUpgradeRerunRestartsPending: a member upgraded without
// --restart-pending (the leader, upgraded in place before its switchover)
// is restarted by a second run with the flag, although its files and
// packages already match; without the flag the second run changes nothing.
func TestUpgradeRerunRestartsPending(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	writeFile(t, h.state+"/dcs-needs-restart", "")
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setContent(n, "/etc/patroni/dcs.yml", "ttl: 30\nloop_wait: 10\npostgresql:\n  parameters:\n    max_connections: 200\n")
	})
	h.extract(v2)
	if out, code := h.run("upgrade.sh"); code != 0 || !strings.Contains(out, "PENDING A RESTART") {
		t.Fatalf("upgrade exit %d, want a pending restart\n%s", code, out)
	}
	restart := "patronictl -c " + h.root + "/etc/patroni/patroni.yml restart --force demo pg2"
	if out, code := h.run("upgrade.sh"); code != 0 || index(h.calls(), restart) >= 0 {
		t.Fatalf("a second run without --restart-pending: exit %d, restarted %v\n%s", code, index(h.calls(), restart) >= 0, out)
	}
	out, code := h.run("upgrade.sh", "--restart-pending")
	if code != 0 || index(h.calls(), restart) < 0 {
		t.Fatalf("a second run with --restart-pending: exit %d, want the restart\n%s\n%s", code, out, strings.Join(h.calls(), "\n"))
	}
}

// TestUpgradeResumesAfterFailedPackageStep: a package upgrade whose package
// tool fails leaves Patroni stopped on the member, and its state says
// "re-run upgrade.sh". The re-run must not be refused because that very
// member is stopped: with every other member healthy and one leader
// elsewhere it resumes (no switchover, Patroni not stopped again),
// upgrades the packages, starts Patroni and waits until the member
// streams. Another member unhealthy still refuses it.
func TestUpgradeResumesAfterFailedPackageStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fail    string
		othersHealthy bool
	}{
		{"resumes", "rpm", true},
		// rpm failed after it had upgraded etcd: the re-run has no package
		// left to install, and must still restart etcd on its new files.
		{"resumes after a partial transaction", "rpm-after-install", true},
		{"refused", "rpm", false},
	} {
		othersHealthy := tc.othersHealthy
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, in := installed(t)
			writeFile(t, h.state+"/fail-"+tc.fail, "")
			v2 := newer(t, h, in, "v2", func(n *Input) {
				n.Packages[1] = fakePackage(t, h.dir, "etcd", "etcd-3.5.13-1.el9.x86_64", 2000)
			})
			h.extract(v2)
			out, code := h.run("upgrade.sh", "--pkg-tool", "rpm")
			if want := "is in this state: Patroni stopped on pg2, packages being upgraded (recover: re-run upgrade.sh)"; code == 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d, want a failure saying %q\n%s", code, want, out)
			}
			if _, err := os.Stat(h.state + "/active/patroni"); err == nil {
				t.Fatal("Patroni still active after the failed package step")
			}
			// What etcd lists now: this member stopped.
			leader := leader1("pg1")
			if !othersHealthy {
				leader.state = "stopped"
			}
			writeFile(t, h.state+"/members.tsv", patronictlList(leader, member{name: "pg2", role: "Replica", state: "stopped"}))
			writeFile(t, h.state+"/members-after-start.tsv", healthyCluster)
			must(t, os.Remove(h.state+"/fail-"+tc.fail))

			out, code = h.run("upgrade.sh", "--pkg-tool", "rpm")
			calls := h.calls()
			if !othersHealthy {
				if code == 0 || !strings.Contains(out, "the cluster is not healthy") {
					t.Fatalf("exit %d, want the re-run refused on an unhealthy cluster\n%s", code, out)
				}
				if m := mutating(calls); len(m) > 0 {
					t.Errorf("the refused re-run changed the host: %v", m)
				}
				return
			}
			if code != 0 {
				t.Fatalf("re-run exit %d\n%s\n%s", code, out, strings.Join(calls, "\n"))
			}
			if i := index(calls, "patronictl -c "+h.root+"/etc/patroni/patroni.yml switchover"); i >= 0 {
				t.Error("the re-run switched over")
			}
			if i := index(calls, "systemctl stop patroni"); i >= 0 {
				t.Error("the re-run stopped Patroni again")
			}
			install := index(calls, "rpm -Uvh --root "+h.root+" "+h.bd+"/packages/etcd-3.5.13-1.el9.x86_64.rpm")
			restartEtcd := index(calls, "systemctl restart --no-block etcd")
			start := index(calls, "systemctl start patroni")
			if tc.fail == "rpm-after-install" {
				if install >= 0 {
					t.Error("the re-run installed etcd again")
				}
				install = 0
			}
			if install < 0 || restartEtcd < install || start < restartEtcd {
				t.Errorf("want rpm -Uvh, restart etcd, then start patroni; got %d %d %d\n%s", install, restartEtcd, start, strings.Join(calls, "\n"))
			}
			if r, _ := h.receipt(); !hasPackage(r, "etcd", "etcd-3.5.13-1.el9.x86_64") {
				t.Errorf("the receipt does not record etcd-3.5.13-1.el9.x86_64: %v", r.Packages)
			}
			if !strings.Contains(out, "pg2 streams from the leader again") {
				t.Errorf("the re-run did not wait for the member to stream:\n%s", out)
			}
			if _, err := os.Stat(h.root + "/var/lib/pgha-bundle/upgrade.state"); err == nil {
				t.Error("upgrade.state left after the resumed upgrade")
			}
		})
	}
}

// hasPackage: the receipt records package name at nevra.
func hasPackage(r receipt, name, nevra string) bool {
	for _, p := range r.Packages {
		if p.Name == name && p.NEVRA == nevra {
			return true
		}
	}
	return false
}
