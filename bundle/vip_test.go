package bundle

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// vipInput is the test bundle of a cluster with a virtual IP: its facts
// (from the real renderer) name it, the payload carries keepalived's files
// and the sysctl file, and the keepalived package is in the set.
func vipInput(t *testing.T, dir string) Input {
	in := testInput(t, dir)
	in.Payload.Files = append([]payload.File(nil), in.Payload.Files...)
	spec := fixtureSpec(t, func(s *cluster.Spec) {
		s.VIP = &cluster.VIP{Address: "10.0.0.10", Prefix: 24, Interface: "eth0", VirtualRouterID: 10, Mode: cluster.VIPModeHAProxy}
	})
	in.Components.Keepalived = &rpm.KeepalivedComponent{Package: "keepalived-2.2.8-3.el9.x86_64", Version: "2.2.8", Bin: "/usr/sbin/keepalived"}
	setFactsFrom(t, &in, spec, in.Components, &secrets.Secrets{HAProxyStatsPassword: testStatsPassword, VRRPPassword: "vrrp-test-password-0123"})
	in.Payload.Add(payload.File{Path: layout.KeepalivedConfig, Mode: 0o600, Owner: "root", Group: "root", Secret: true, Content: []byte("vrrp_instance demo {\n}\n")})
	in.Payload.Add(payload.File{Path: layout.VIPCheck, Mode: 0o755, Owner: "root", Group: "root", Content: []byte("#!/bin/bash\nexit 0\n")})
	in.Payload.Add(payload.File{Path: layout.VIPSysctl, Mode: 0o644, Owner: "root", Group: "root", Content: []byte("net.ipv4.ip_nonlocal_bind = 1\n")})
	must(t, in.Payload.Sort())
	in.Packages = append(in.Packages, fakePackage(t, dir, "keepalived", "keepalived-2.2.8-3.el9.x86_64", 1500))
	return in
}

// install.sh sets the non-local bind, lets VRRP in from the other members
// only, installs keepalived and starts it after HAProxy's health gate; a
// second run changes nothing; uninstall.sh stops keepalived first, removes
// exactly the VRRP rules, its files and package, and turns the bind off.
func TestInstallVIP(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	writeFile(t, h.state+"/firewalld", "")
	h.extract(vipInput(t, h.dir))
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	calls := h.calls()
	if index(calls, "sysctl -q -p "+h.root+"/etc/sysctl.d/90-pgha-vip.conf") < 0 {
		t.Errorf("no sysctl -p of the VIP's sysctl file\n%s", strings.Join(calls, "\n"))
	}
	fw := firewallChanges(t, calls)
	for _, key := range []string{"--permanent --add-rich-rule", "--add-rich-rule"} {
		if !slices.Contains(fw[key], richRule("10.0.0.1", "vrrp")) {
			t.Errorf("firewall-cmd %s lacks VRRP from 10.0.0.1: %q", key, fw[key])
		}
		if slices.Contains(fw[key], richRule("10.0.0.2", "vrrp")) {
			t.Error("VRRP opened from the node's own address")
		}
	}
	for _, c := range calls {
		if strings.Contains(c, "vrrp") && !strings.Contains(c, "source address=") {
			t.Errorf("VRRP opened to everyone: %q", c)
		}
	}
	if b, err := os.ReadFile(h.state + "/rpmdb/keepalived"); err != nil || !strings.Contains(string(b), "keepalived-2.2.8") {
		t.Errorf("keepalived not installed: %v", err)
	}
	gate, start := index(calls, "curl -s -f --max-time 5 -K - http://10.0.0.2:7000/;csv"), index(calls, "systemctl start --no-block keepalived")
	if start < 0 || gate < 0 || start < gate || start < index(calls, "systemctl start --no-block haproxy") {
		t.Errorf("keepalived must start after HAProxy's health gate (gate %d, start %d)\n%s", gate, start, strings.Join(calls, "\n"))
	}
	if index(calls, "systemctl enable keepalived") < 0 {
		t.Error("keepalived not enabled")
	}
	if got := strings.TrimSpace(readFile(t, h.state+"/nonlocal_bind")); got != "1" {
		t.Errorf("ip_nonlocal_bind %q", got)
	}
	rec := readFile(t, h.root+layout.Receipt)
	if !strings.Contains(rec, "\nfirewall_rule 10.0.0.1 vrrp\n") {
		t.Errorf("receipt lacks the VRRP rule:\n%s", rec)
	}

	if out, code := h.run("install.sh"); code != 0 || len(mutating(h.calls())) > 0 {
		t.Errorf("second run: exit %d, changes %v\n%s", code, mutating(h.calls()), out)
	}

	out, code = h.run("uninstall.sh")
	if code != 0 {
		t.Fatalf("uninstall exit %d\n%s", code, out)
	}
	calls = h.calls()
	if k, hp := index(calls, "systemctl stop keepalived"), index(calls, "systemctl stop haproxy"); k < 0 || k > hp {
		t.Errorf("keepalived must stop first (the address leaves before HAProxy): %d, %d", k, hp)
	}
	for _, want := range []string{"systemctl disable keepalived", "sysctl -q -w net.ipv4.ip_nonlocal_bind=0"} {
		if index(calls, want) < 0 {
			t.Errorf("no call %q\n%s", want, strings.Join(calls, "\n"))
		}
	}
	fw = firewallChanges(t, calls)
	for _, key := range []string{"--permanent --remove-rich-rule", "--remove-rich-rule"} {
		if !slices.Contains(fw[key], richRule("10.0.0.1", "vrrp")) {
			t.Errorf("firewall-cmd %s lacks VRRP from 10.0.0.1: %q", key, fw[key])
		}
	}
	if i := index(calls, "rpm -e"); i < 0 || !strings.Contains(calls[i], "keepalived") {
		t.Errorf("keepalived package not removed")
	}
	for _, p := range []string{"/etc/keepalived/keepalived.conf", "/etc/keepalived/pgha-vip-check", "/etc/sysctl.d/90-pgha-vip.conf"} {
		if _, err := os.Stat(h.root + p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	ents, _ := os.ReadDir(h.state + "/ports")
	for _, e := range ents {
		t.Errorf("firewalld rule or port left behind: %s", e.Name())
	}
}

// A config-only upgrade that changes keepalived.conf restarts keepalived,
// and only then.
func TestUpgradeRestartsKeepalived(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	in := vipInput(t, h.dir)
	h.extract(in)
	if out, code := h.run("install.sh"); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setContent(n, "/etc/keepalived/keepalived.conf", "vrrp_instance demo {\n    priority 100\n}\n")
	})
	h.extract(v2)
	out, code := h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	if index(h.calls(), "systemctl restart keepalived") < 0 {
		t.Errorf("keepalived not restarted after its config changed:\n%s", strings.Join(h.calls(), "\n"))
	}
	v3 := newer(t, h, v2, "v3", func(n *Input) {
		setContent(n, "/etc/patroni/dcs.yml", "ttl: 40\nloop_wait: 10\n")
	})
	h.extract(v3)
	if out, code := h.run("upgrade.sh"); code != 0 {
		t.Fatalf("upgrade v3 exit %d\n%s", code, out)
	}
	if i := index(h.calls(), "systemctl restart keepalived"); i >= 0 {
		t.Error("keepalived restarted though its files did not change")
	}
}
