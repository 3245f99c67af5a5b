package plan

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the install plan for people, node by node, in
// install.sh's order.
func (p *Install) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "install plan of %s (cluster %s): what install.sh does on each node, in order\n", p.Source, p.Cluster)
	for _, n := range p.Nodes {
		step := 0
		num := func() int { step++; return step }
		fmt.Fprintf(&b, "\nnode %s (%s, %s)\n", n.Node, n.Address, n.OS)
		fmt.Fprintf(&b, "  %2d. checks, before any change:\n", num())
		for _, c := range n.Checks {
			fmt.Fprintf(&b, "       %s\n", c)
		}
		fmt.Fprintf(&b, "  %2d. packages (yum/dnf, from the bundle; skipped with --no-packages):\n", num())
		for _, pk := range n.Packages {
			fmt.Fprintf(&b, "       %s\n", pk.NEVRA)
		}
		if len(n.Packages) == 0 {
			fmt.Fprintf(&b, "       none: the image carries them\n")
		}
		fmt.Fprintf(&b, "  %2d. accounts, created (system, no login) when the packages did not: %s\n", num(), strings.Join(n.Accounts, " "))
		fmt.Fprintf(&b, "  %2d. directories:\n", num())
		for _, d := range n.Directories {
			fmt.Fprintf(&b, "       %s %-18s %s  (%s)\n", d.Mode, d.Owner+":"+d.Group, d.Path, d.Note)
		}
		fmt.Fprintf(&b, "  %2d. files (an existing file that is not ours is kept as FILE.pgha-orig):\n", num())
		for _, f := range n.Files {
			secret := ""
			if f.Secret {
				secret = "  (secret)"
			}
			fmt.Fprintf(&b, "       %s %-18s %s%s\n", f.Mode, f.Owner+":"+f.Group, f.Path, secret)
		}
		if n.HostsBlock != "" {
			fmt.Fprintf(&b, "  %2d. /etc/hosts: the members' lines from %s, in a marked block\n", num(), n.HostsBlock)
		}
		fmt.Fprintf(&b, "  %2d. masked units: %s\n", num(), strings.Join(n.MaskUnits, " "))
		fmt.Fprintf(&b, "  %2d. firewalld (when it runs): open to the zone %s\n", num(), strings.Join(n.Firewall.ZonePorts, " "))
		for _, r := range n.Firewall.MemberRules {
			fmt.Fprintf(&b, "       open %s to %s only (rich rule)\n", r.Port, r.Address)
		}
		fmt.Fprintf(&b, "  %2d. SELinux (when enforcing): data directories moved from EL's defaults get the default's file context\n", num())
		if n.Watchdog {
			fmt.Fprintf(&b, "  %2d. watchdog: softdog loaded, /dev/watchdog given to postgres\n", num())
		}
		fmt.Fprintf(&b, "  %2d. receipt: %s\n", num(), n.Receipt)
		fmt.Fprintf(&b, "  %2d. start, each gated on its health:\n", num())
		for _, u := range n.Start {
			fmt.Fprintf(&b, "       %s: %s\n", u.Name, u.Gate)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteText writes the upgrade plan for people: the order, then each node.
func (u *Upgrade) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "upgrade plan of cluster %s: %s -> %s\n\norder (%s):\n", u.Cluster, u.From, u.To, u.LeaderCheck)
	for i, o := range u.Order {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, o)
	}
	for _, n := range u.Nodes {
		fmt.Fprintf(&b, "\nnode %s: %s\n", n.Node, n.Mode)
		for _, pk := range n.Packages {
			fmt.Fprintf(&b, "  package %s: %s -> %s\n", pk.Name, orNone(pk.From), orNone(pk.To))
		}
		for _, f := range n.Files {
			fmt.Fprintf(&b, "  file %s: %s\n", f.Path, f.Change)
		}
		for _, a := range n.Actions {
			fmt.Fprintf(&b, "  - %s\n", a)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
