//go:build e2e

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgha-bundle/pgha-bundle/layout"
)

// firewalld for real (TestVIP): Debian's firewalld, nftables backend,
// runs in every node before install.sh, with two rules of the operator's
// own: the harness's address trusted (its probes and REST calls) and
// PostgreSQL's port already open to the zone. After install.sh, the members'
// ports (etcd, Patroni's REST API) answer the other members and refuse the
// client, a host in another namespace on the bridge; PostgreSQL's and
// HAProxy's ports answer it; VRRP is let in from each member. uninstall.sh
// then removes exactly what install.sh added: the operator's rules stay.

var (
	operatorRule = fmt.Sprintf(`rule family="ipv4" source address="%s" accept`, bridgeAddr)
	operatorPort = strconv.Itoa(portPG) + "/tcp"
	zonePorts    = []int{portPG, portRW, portRO}
	memberPorts  = []int{portEtcd, portPeer, portAPI}
)

// withFirewall makes bringUp's nodes (and every node made later) run
// firewalld.
func withFirewall(h *harness) { h.firewall = true }

// firewallOn enables firewalld in the node's tree and gives it the
// operator's rules, before the node boots.
func (n *node) firewallOn(ctx context.Context) error {
	for _, c := range [][]string{
		{"systemctl", "enable", "firewalld.service"},
		{"firewall-offline-cmd", "--add-rich-rule=" + operatorRule},
		{"firewall-offline-cmd", "--add-port=" + operatorPort},
	} {
		if _, err := run(ctx, "chroot", append([]string{n.root}, c...)...); err != nil {
			return fmt.Errorf("%s: firewalld: %w", n.name, err)
		}
	}
	return nil
}

// firewallRules are the zone's open ports and rich rules, at runtime or
// in the permanent configuration.
type firewallRules struct{ ports, rules []string }

func (n *node) firewallRules(ctx context.Context, permanent bool) (firewallRules, error) {
	var r firewallRules
	for _, q := range []struct {
		flag string
		into *[]string
	}{{"--list-ports", &r.ports}, {"--list-rich-rules", &r.rules}} {
		argv := []string{"firewall-cmd", q.flag}
		if permanent {
			argv = []string{"firewall-cmd", "--permanent", q.flag}
		}
		out, err := n.exec(ctx, argv...)
		if err != nil {
			return r, fmt.Errorf("%s: %s: %v: %s", n.name, strings.Join(argv, " "), err, out)
		}
		for _, l := range strings.FieldsFunc(string(out), func(c rune) bool { return c == '\n' || (q.flag == "--list-ports" && c == ' ') }) {
			if l = strings.TrimSpace(l); l != "" {
				*q.into = append(*q.into, l)
			}
		}
		slices.Sort(*q.into)
	}
	return r, nil
}

// firewallAfterInstall checks what firewalld lets through once every node
// is installed.
func (h *harness) firewallAfterInstall(ctx context.Context) error {
	var errs []error
	for _, n := range h.nodes {
		for _, permanent := range []bool{false, true} {
			r, err := n.firewallRules(ctx, permanent)
			if err != nil {
				return err
			}
			want := []string{operatorRule}
			for _, m := range h.others(n) {
				want = append(want, fmt.Sprintf(`rule family="ipv4" source address="%s/32" protocol value="vrrp" accept`, m.addr))
				for _, p := range memberPorts {
					want = append(want, fmt.Sprintf(`rule family="ipv4" source address="%s/32" port port="%d" protocol="tcp" accept`, m.addr, p))
				}
			}
			for _, w := range want {
				if !slices.Contains(r.rules, w) {
					errs = append(errs, fmt.Errorf("%s (permanent %v): no rich rule %s in %q", n.name, permanent, w, r.rules))
				}
			}
			for _, p := range zonePorts {
				if !slices.Contains(r.ports, strconv.Itoa(p)+"/tcp") {
					errs = append(errs, fmt.Errorf("%s (permanent %v): %d/tcp not open to the zone: %q", n.name, permanent, p, r.ports))
				}
			}
			for _, p := range memberPorts {
				if slices.Contains(r.ports, strconv.Itoa(p)+"/tcp") {
					errs = append(errs, fmt.Errorf("%s (permanent %v): the member port %d/tcp is open to the whole zone", n.name, permanent, p))
				}
			}
		}
		for _, p := range zonePorts {
			addr := net.JoinHostPort(n.addr, strconv.Itoa(p))
			if err := tcpOpen(ctx, h.clientNS, addr); err != nil {
				errs = append(errs, fmt.Errorf("the client cannot reach %s: %v", addr, err))
			}
		}
		for _, p := range memberPorts {
			addr := net.JoinHostPort(n.addr, strconv.Itoa(p))
			if err := tcpOpen(ctx, h.clientNS, addr); err == nil {
				errs = append(errs, fmt.Errorf("the client, not a member, reaches %s", addr))
			}
			m := h.others(n)[0]
			if out, err := m.netExec(ctx, "", "timeout", "3", "bash", "-c", `exec 3<>"/dev/tcp/$0/$1"`, n.addr, strconv.Itoa(p)); err != nil {
				errs = append(errs, fmt.Errorf("the member %s cannot reach %s: %v %s", m.name, addr, err, out))
			}
		}
	}
	return errors.Join(errs...)
}

// memberRulesExactly checks that each of nodes lets exactly the members at
// addrs in on the member ports, at runtime and permanently: a joining
// member's rules are there before it installs, a departed member's are
// gone, and the operator's own rule stays. (No VIP here: no VRRP rules.)
func memberRulesExactly(ctx context.Context, nodes []*node, addrs []string) error {
	want := []string{operatorRule}
	for _, a := range addrs {
		for _, p := range memberPorts {
			want = append(want, fmt.Sprintf(`rule family="ipv4" source address="%s/32" port port="%d" protocol="tcp" accept`, a, p))
		}
	}
	slices.Sort(want)
	var errs []error
	for _, n := range nodes {
		for _, permanent := range []bool{false, true} {
			r, err := n.firewallRules(ctx, permanent)
			if err != nil {
				return err
			}
			if !slices.Equal(r.rules, want) {
				errs = append(errs, fmt.Errorf("%s (permanent %v): rich rules\n  %s\nwant\n  %s",
					n.name, permanent, strings.Join(r.rules, "\n  "), strings.Join(want, "\n  ")))
			}
		}
	}
	return errors.Join(errs...)
}

// tcpOpen reports whether a TCP connection to addr opens from namespace ns.
func tcpOpen(ctx context.Context, ns, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := dialIn(ctx, ns, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// uninstallFirewalled runs every node's uninstall.sh and checks that the
// operator's rules, and only they, are left, at runtime and permanently,
// with firewalld still running. The whole cluster goes at once, so every
// member keeps its etcd membership: members leaving one by one is
// TestScaling's and TestLifecycle's.
func (h *harness) uninstallFirewalled(ctx context.Context) error {
	return eachNode(h.nodes, func(n *node) error {
		top := clusterName + "-" + n.name
		script := path.Join(layout.SeedBundleDir, top, "uninstall.sh")
		if _, err := n.exec(ctx, "test", "-f", script); err != nil {
			script = path.Join("/root", top, "uninstall.sh") // installed by the test
		}
		out, err := n.exec(ctx, "bash", script, "--skip-os-check", "--keep-membership")
		h.saveLog(n.name+".uninstall.log", out)
		if err != nil {
			return fmt.Errorf("%s: uninstall.sh: %v: %s", n.name, err, h.redact.Replace(string(out)))
		}
		if out, err := n.exec(ctx, "firewall-cmd", "--state"); err != nil {
			return fmt.Errorf("%s: firewalld not running after uninstall.sh: %v %s", n.name, err, out)
		}
		for _, permanent := range []bool{false, true} {
			r, err := n.firewallRules(ctx, permanent)
			if err != nil {
				return err
			}
			if !slices.Equal(r.ports, []string{operatorPort}) || !slices.Equal(r.rules, []string{operatorRule}) {
				return fmt.Errorf("%s (permanent %v): after uninstall.sh ports %q and rich rules %q, want only the operator's %s and %s",
					n.name, permanent, r.ports, r.rules, operatorPort, operatorRule)
			}
		}
		return nil
	})
}
