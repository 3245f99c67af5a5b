package cluster

// With network.mode dhcp no network-config is written: the DHCP server
// addresses the nodes, and the static addressing fields have no effect.

// dhcpIgnored are the network fields only static addressing uses.
var dhcpIgnored = []string{"interface", "prefix", "gateway", "dns", "search"}

const (
	msgDHCPIgnored     = "network.%s is ignored with network.mode dhcp (no network-config is written; the DHCP server sets it): remove it, or use mode static"
	msgDHCPReservation = "network.mode dhcp: every nodes[].address must be a DHCP reservation, the address the DHCP server always gives that node: etcd, Patroni and HAProxy reach each member there, so a changed lease cuts it off"
)

// dhcp warns, in DHCP mode, on each static addressing field that was written.
func (c *checker) dhcp() {
	if c.s.Network.Mode != "dhcp" {
		return
	}
	for _, f := range dhcpIgnored {
		if p := "network." + f; c.set[p] {
			c.warnf(p, msgDHCPIgnored, f)
		}
	}
}

// Notes are what a reader of the spec must know that is not a problem (it
// neither fails validation nor counts as a warning): in DHCP mode, that the
// node addresses must be DHCP reservations. Each carries its position.
func (s *Spec) Notes() Problems {
	if s.Network.Mode != "dhcp" {
		return nil
	}
	return Problems{s.ProblemAt("network.mode", false, msgDHCPReservation)}
}
