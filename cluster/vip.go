package cluster

import (
	"fmt"
	"hash/fnv"
	"net/netip"
)

// VIP is a virtual IP address that always reaches the primary: keepalived
// (VRRP, unicast between the members) moves it between the nodes.
type VIP struct {
	// Address is the virtual IPv4 address, a free address of the nodes' subnet.
	Address string `yaml:"address"`
	// Prefix is the address's prefix length on the interface; network.prefix
	// by default.
	Prefix int `yaml:"prefix"`
	// Interface carries the address; network.interface by default, and
	// nodes[].vip_interface where a node differs.
	Interface string `yaml:"interface"`
	// VirtualRouterID is VRRP's router id, unique on the segment; derived
	// from cluster.name by default (VirtualRouterIDFor).
	VirtualRouterID int `yaml:"virtual_router_id"`
	// Mode says who holds the address: "haproxy" (a member whose HAProxy is
	// alive and reaches the primary) or "leader" (the Patroni leader).
	Mode string `yaml:"mode"`
}

// VIP modes.
const (
	VIPModeHAProxy = "haproxy"
	VIPModeLeader  = "leader"
)

// Messages of the vip section (TestEveryRuleHasABadSpec reads this file too).
const (
	msgVIPAddressReq   = "vip.address is required: the virtual IP clients connect to"
	msgVIPAddressBad   = "vip.address %q is not a valid IPv4 address"
	msgVIPIPv6         = "vip.address %s is an IPv6 address: only IPv4 virtual IPs are supported (VRRP version 2 and net.ipv4.ip_nonlocal_bind); give an IPv4 address or drop vip and use the multi-host connection strings"
	msgVIPNotUnicast   = "vip.address %s is not a unicast host address (loopback, multicast, link-local or unspecified); give a free address of the nodes' subnet"
	msgVIPIsNode       = "vip.address %s is node %q's own address; give a free address of the nodes' subnet"
	msgVIPIsGateway    = "vip.address %s is network.gateway; give a free address of the nodes' subnet"
	msgVIPNotHost      = "vip.address %s is %s %s; give a host address"
	msgVIPSubnet       = "vip.address %s is not in node %q's subnet %s: VRRP moves an address within one layer-2 segment only; fix vip.address or vip.prefix"
	msgVIPPrefix       = "vip.prefix %d is out of range for IPv4 (1-32)"
	msgVIPInterface    = "%s %q is not a valid interface name"
	msgVIPRouterID     = "vip.virtual_router_id %d is out of range 1-255"
	msgVIPMode         = "vip.mode %q is not supported; use haproxy (the address is held by a member whose HAProxy reaches the primary) or leader (held by the Patroni leader itself)"
	msgVIPIfaceNoVIP   = "nodes[%d].vip_interface is set but the spec has no vip section; remove it, or add vip"
	msgVIPClientsCIDRs = "vip.mode leader: clients connect to PostgreSQL directly on the virtual IP; network.clients must list their networks (none is set)"
)

// VirtualRouterIDFor derives a VRRP virtual_router_id (1-255) from a
// cluster name: FNV-1a, so the same name always gives the same id and two
// clusters on one segment rarely collide (set vip.virtual_router_id when
// they do).
func VirtualRouterIDFor(cluster string) int {
	h := fnv.New32a()
	h.Write([]byte(cluster))
	return int(h.Sum32()%255) + 1
}

// applyVIPDefaults fills the vip section's unset keys.
func (s *Spec) applyVIPDefaults(set map[string]bool) {
	if s.VIP == nil {
		return
	}
	if !set["vip.prefix"] {
		s.VIP.Prefix = s.Network.Prefix
	}
	if !set["vip.interface"] {
		s.VIP.Interface = s.Network.Interface
	}
	if !set["vip.virtual_router_id"] {
		s.VIP.VirtualRouterID = VirtualRouterIDFor(s.Cluster.Name)
	}
	if !set["vip.mode"] {
		s.VIP.Mode = VIPModeHAProxy
	}
}

// VIPInterface is the interface that carries the virtual IP on node n.
func (s *Spec) VIPInterface(n Node) string {
	if n.VIPInterface != "" {
		return n.VIPInterface
	}
	if s.VIP == nil {
		return ""
	}
	return s.VIP.Interface
}

func validIface(name string) bool {
	return ifaceRe.MatchString(name) && name != "." && name != ".."
}

// vip checks the vip section and nodes[].vip_interface.
func (c *checker) vip() {
	s := c.s
	v := s.VIP
	for i, n := range s.Nodes {
		p := fmt.Sprintf("nodes[%d].vip_interface", i)
		if !c.set[p] {
			continue
		}
		switch {
		case v == nil:
			c.errorf(p, msgVIPIfaceNoVIP, i)
		case !validIface(n.VIPInterface):
			c.errorf(p, msgVIPInterface, p, n.VIPInterface)
		}
	}
	if v == nil {
		return
	}
	if !validIface(v.Interface) {
		c.errorf("vip.interface", msgVIPInterface, "vip.interface", v.Interface)
	}
	if v.VirtualRouterID < 1 || v.VirtualRouterID > 255 {
		c.errorf("vip.virtual_router_id", msgVIPRouterID, v.VirtualRouterID)
	}
	switch v.Mode {
	case VIPModeHAProxy:
	case VIPModeLeader:
		if len(s.Network.Clients) == 0 {
			c.warnf("vip.mode", msgVIPClientsCIDRs)
		}
	default:
		c.errorf("vip.mode", msgVIPMode, v.Mode)
	}
	prefixOK := v.Prefix >= 1 && v.Prefix <= 32
	if !prefixOK {
		c.errorf("vip.prefix", msgVIPPrefix, v.Prefix)
	}
	if v.Address == "" {
		c.errorf("vip.address", msgVIPAddressReq)
		return
	}
	a, err := netip.ParseAddr(v.Address)
	switch {
	case err != nil || a.Zone() != "" || a.Is4In6():
		c.errorf("vip.address", msgVIPAddressBad, v.Address)
		return
	case a.Is6():
		c.errorf("vip.address", msgVIPIPv6, v.Address)
		return
	case a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		c.errorf("vip.address", msgVIPNotUnicast, v.Address)
		return
	}
	for _, n := range s.Nodes {
		if na, err := netip.ParseAddr(n.Address); err == nil && na == a {
			c.errorf("vip.address", msgVIPIsNode, v.Address, n.Name)
			return
		}
	}
	if gw, err := netip.ParseAddr(s.Network.Gateway); err == nil && gw == a {
		c.errorf("vip.address", msgVIPIsGateway, v.Address)
		return
	}
	if !prefixOK {
		return
	}
	if why := notAHost(a, v.Prefix); why != "" {
		c.errorf("vip.address", msgVIPNotHost, v.Address, why, netip.PrefixFrom(a, v.Prefix).Masked())
		return
	}
	for _, n := range s.Nodes {
		na, ok := usableAddr(n.Address)
		if !ok {
			continue // reported by nodes
		}
		if subnet := netip.PrefixFrom(na, v.Prefix).Masked(); !subnet.Contains(a) {
			c.errorf("vip.address", msgVIPSubnet, v.Address, n.Name, subnet)
		}
	}
}
