package bundle

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// richRule is lib.sh's rich_rule for an IPv4 address: the rule letting
// PORT/tcp, or VRRP ("vrrp"), in from it.
func richRule(addr, what string) string {
	if what == "vrrp" {
		return `rule family="ipv4" source address="` + addr + `/32" protocol value="vrrp" accept`
	}
	return `rule family="ipv4" source address="` + addr + `/32" port port="` + strings.TrimSuffix(what, "/tcp") + `" protocol="tcp" accept`
}

// firewallChanges maps each firewall-cmd call of calls that adds or removes
// to its items, keyed by what it does ("--permanent --add-port",
// "--remove-rich-rule"), and fails t when two calls do the same thing (a
// pass gives firewalld all its items of a kind at once) or one call mixes
// kinds. The stub logs the arguments space-separated; no item holds " --".
func firewallChanges(t *testing.T, calls []string) map[string][]string {
	t.Helper()
	ch, twice := map[string][]string{}, map[string]bool{}
	for _, c := range calls {
		args, ok := strings.CutPrefix(c, "firewall-cmd ")
		if !ok || !strings.Contains(args, "--add-") && !strings.Contains(args, "--remove-") {
			continue
		}
		mode, opts, items := "", map[string]bool{}, []string(nil)
		for _, a := range strings.Split(" "+args, " --")[1:] {
			if a == "permanent" {
				mode = "--permanent "
				continue
			}
			opt, item, _ := strings.Cut(a, "=")
			opts["--"+opt] = true
			items = append(items, item)
		}
		if len(opts) != 1 {
			t.Errorf("one call, %d kinds of option (firewall-cmd acts on one): %s", len(opts), c)
		}
		for opt := range opts {
			key := mode + opt
			if _, dup := ch[key]; dup && !twice[key] {
				t.Errorf("several calls %s, want one with every item:\n%s", key, strings.Join(calls, "\n"))
				twice[key] = true
			}
			ch[key] = append(ch[key], items...)
		}
	}
	return ch
}

// firewallCalls counts the firewall-cmd calls of calls.
func firewallCalls(calls []string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, "firewall-cmd ") {
			n++
		}
	}
	return n
}

// TestFirewallBatched: install.sh gives firewalld the ports and rules one
// pass needs with one firewall-cmd per kind, at runtime and permanently,
// whatever the cluster's size; what firewalld has already (an operator's
// own port or rule) is neither added nor recorded, so uninstall.sh, which
// removes what the receipt lists in one call per kind too, leaves it; a
// second install changes nothing.
func TestFirewallBatched(t *testing.T) {
	t.Parallel()
	const (
		firstCalls  = 9 // --state, four lists, four adds
		secondCalls = 5
	)
	zone := []string{"5432/tcp", "5000/tcp", "5001/tcp", "7000/tcp"}
	cases := []struct {
		name    string
		members int
		vip     bool
		present []string // ports and rules firewalld has before the install (both modes)
		open    []string // the zone ports present opens
	}{
		{name: "3 members", members: 3},
		{name: "5 members", members: 5},
		{name: "5 members and a VIP", members: 5, vip: true},
		{name: "the operator's ports and rules", members: 3, vip: true,
			present: []string{"5432/tcp", "4999-5000/tcp", "5001-5010/tcp", richRule("10.0.0.3", "2379/tcp"), richRule("10.0.0.1", "vrrp")},
			open:    []string{"5432/tcp", "5000/tcp", "5001/tcp"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			writeFile(t, h.state+"/firewalld", "")
			in := testInput(t, h.dir)
			sec := &secrets.Secrets{HAProxyStatsPassword: testStatsPassword}
			if tc.vip {
				in = vipInput(t, h.dir)
				sec.VRRPPassword = "vrrp-test-password-0123"
			}
			var addrs []string
			spec := fixtureSpec(t, func(s *cluster.Spec) {
				for i := 3; i <= tc.members; i++ {
					s.Nodes = append(s.Nodes, cluster.Node{Name: fmt.Sprintf("pg%d", i), Address: fmt.Sprintf("10.0.0.%d", i)})
				}
				if tc.vip {
					s.VIP = &cluster.VIP{Address: "10.0.0.10", Prefix: 24, Interface: "eth0", VirtualRouterID: 10, Mode: cluster.VIPModeHAProxy}
				}
				for _, n := range s.Nodes {
					addrs = append(addrs, n.Address)
				}
			})
			setFactsFrom(t, &in, spec, in.Components, sec)
			h.extract(in)
			for _, p := range tc.present {
				out, code := runCode(t, h.command("firewall-cmd", "--permanent", "--add-"+kind(p)+"="+p))
				if code != 0 {
					t.Fatalf("adding the operator's %s: %s", p, out)
				}
				out, code = runCode(t, h.command("firewall-cmd", "--add-"+kind(p)+"="+p))
				if code != 0 {
					t.Fatalf("adding the operator's %s: %s", p, out)
				}
			}

			out, code := h.run("install.sh")
			if code != 0 {
				t.Fatalf("install exit %d\n%s", code, out)
			}
			calls := h.calls()
			var ports, rules []string
			for _, p := range zone {
				if !slices.Contains(tc.open, p) {
					ports = append(ports, p)
				}
			}
			var recorded []struct{ Address, Port string }
			for _, what := range []string{"8008/tcp", "2379/tcp", "2380/tcp"} {
				for _, a := range addrs {
					if r := richRule(a, what); !slices.Contains(tc.present, r) {
						rules = append(rules, r)
						recorded = append(recorded, struct{ Address, Port string }{a, what})
					}
				}
			}
			for _, a := range addrs {
				if r := richRule(a, "vrrp"); tc.vip && a != "10.0.0.2" && !slices.Contains(tc.present, r) {
					rules = append(rules, r)
					recorded = append(recorded, struct{ Address, Port string }{a, "vrrp"})
				}
			}
			want := map[string][]string{
				"--permanent --add-port": ports, "--add-port": ports,
				"--permanent --add-rich-rule": rules, "--add-rich-rule": rules,
			}
			if got := firewallChanges(t, calls); !equalChanges(got, want) {
				t.Errorf("firewall-cmd changes:\n%s\nwant:\n%s", fmtChanges(got), fmtChanges(want))
			}
			if n := firewallCalls(calls); n != firstCalls {
				t.Errorf("%d firewall-cmd calls, want %d:\n%s", n, firstCalls, strings.Join(calls, "\n"))
			}
			r, _ := h.receipt()
			if !slices.Equal(r.Ports, ports) || !slices.Equal(r.Rules, recorded) {
				t.Errorf("receipt ports %v rules %v, want %v and %v", r.Ports, r.Rules, ports, recorded)
			}

			out, code = h.run("install.sh")
			if m := mutating(h.calls()); code != 0 || len(m) > 0 {
				t.Errorf("second install: exit %d, changes %v\n%s", code, m, out)
			}
			if n := firewallCalls(h.calls()); n != secondCalls {
				t.Errorf("second install: %d firewall-cmd calls, want %d", n, secondCalls)
			}

			out, code = h.run("uninstall.sh")
			if code != 0 {
				t.Fatalf("uninstall exit %d\n%s", code, out)
			}
			want = map[string][]string{
				"--permanent --remove-port": ports, "--remove-port": ports,
				"--permanent --remove-rich-rule": rules, "--remove-rich-rule": rules,
			}
			if got := firewallChanges(t, h.calls()); !equalChanges(got, want) {
				t.Errorf("uninstall's firewall-cmd changes:\n%s\nwant:\n%s", fmtChanges(got), fmtChanges(want))
			}
			ents, _ := os.ReadDir(h.state + "/ports")
			if len(ents) != 2*len(tc.present) {
				var left []string
				for _, e := range ents {
					left = append(left, e.Name())
				}
				t.Errorf("after uninstall firewalld has %v, want the operator's %d in both modes", left, len(tc.present))
			}
		})
	}
}

// TestFirewallHasPort: fw_has_port finds a port open alone or in a range,
// for its protocol only, as firewall-cmd --query-port.
func TestFirewallHasPort(t *testing.T) {
	t.Parallel()
	const list = "5432/tcp 5000-5010/tcp 7000/udp 80-90/tcp"
	for port, want := range map[string]bool{
		"5432/tcp": true, "5000/tcp": true, "5005/tcp": true, "5010/tcp": true, "5011/tcp": false,
		"4999/tcp": false, "7000/tcp": false, "543/tcp": false, "54321/tcp": false, "8008/tcp": false,
	} {
		for _, l := range []string{list, ""} {
			cmd := exec.Command("bash", "-c", `. scripts/lib.sh && FW_PORTS_RT=$1 && fw_has_port rt "$2"`, "-", l, port)
			if _, code := runCode(t, cmd); (code == 0) != (want && l != "") {
				t.Errorf("fw_has_port %s in %q: exit %d, want open %v", port, l, code, want && l != "")
			}
		}
	}
}

// TestFirewallRefusedItem: firewall-cmd given several items succeeds when
// one of them is done; an item firewalld refuses still stops the install,
// as its own call did.
func TestFirewallRefusedItem(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	writeFile(t, h.state+"/firewalld", "")
	writeFile(t, h.state+"/firewall-refuse", richRule("10.0.0.1", "2380/tcp")+"\n")
	h.extract(testInput(t, h.dir))
	out, code := h.run("install.sh")
	if code == 0 || !strings.Contains(out, "firewalld refused some of 6 --add-rich-rule items (permanent") ||
		!strings.Contains(out, "Warning: INVALID_RULE: "+richRule("10.0.0.1", "2380/tcp")) {
		t.Fatalf("exit %d, want a failure naming firewalld's refusal:\n%s", code, out)
	}
	if i := index(h.calls(), "systemctl start --no-block etcd"); i >= 0 {
		t.Error("etcd started after firewalld refused a member's rule")
	}
}

// kind is the firewall-cmd option a port ("5432/tcp") or a rich rule takes.
func kind(item string) string {
	if strings.HasPrefix(item, "rule ") {
		return "rich-rule"
	}
	return "port"
}

// command is a host command run with the host's stand-ins.
func (h *host) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(h.bin, name), args...)
	cmd.Env = h.env
	return cmd
}

// equalChanges compares firewallChanges' result with want, whose empty
// entries stand for no call.
func equalChanges(got, want map[string][]string) bool {
	want = maps.Clone(want)
	maps.DeleteFunc(want, func(_ string, v []string) bool { return len(v) == 0 })
	return maps.EqualFunc(got, want, slices.Equal[[]string])
}

func fmtChanges(ch map[string][]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(ch)) {
		fmt.Fprintf(&b, "  %s\n", k)
		for _, it := range ch[k] {
			fmt.Fprintf(&b, "    %s\n", it)
		}
	}
	return b.String()
}
