package cluster

import (
	"strings"
	"testing"
)

// vipBadSpecs join badSpecs (TestBadSpecs, TestEveryRuleHasABadSpec): one
// case at least for every rule of vip.go.
var vipBadSpecs = []struct {
	name string
	yaml string
	want []string
}{
	{"vip address missing", base + "vip:\n  prefix: 24\n", []string{
		`c.yaml:12:1: vip.address is required: the virtual IP clients connect to`}},
	{"vip address invalid", base + "vip:\n  address: 10.0.0.300\n", []string{
		`c.yaml:13:12: vip.address "10.0.0.300" is not a valid IPv4 address`}},
	{"vip address IPv6", base + "vip:\n  address: fd00::10\n", []string{
		`c.yaml:13:12: vip.address fd00::10 is an IPv6 address: only IPv4 virtual IPs are supported (VRRP version 2 and net.ipv4.ip_nonlocal_bind); give an IPv4 address or drop vip and use the multi-host connection strings`}},
	{"vip address multicast", base + "vip:\n  address: 224.0.0.18\n", []string{
		`c.yaml:13:12: vip.address 224.0.0.18 is not a unicast host address (loopback, multicast, link-local or unspecified); give a free address of the nodes' subnet`}},
	{"vip address is a member's", base + "vip:\n  address: 10.0.0.2\n", []string{
		`c.yaml:13:12: vip.address 10.0.0.2 is node "n2"'s own address; give a free address of the nodes' subnet`}},
	{"vip address is the gateway", base + "network:\n  gateway: 10.0.0.254\nvip:\n  address: 10.0.0.254\n", []string{
		`c.yaml:15:12: vip.address 10.0.0.254 is network.gateway; give a free address of the nodes' subnet`}},
	{"vip address is the broadcast address", base + "vip:\n  address: 10.0.0.255\n", []string{
		`c.yaml:13:12: vip.address 10.0.0.255 is the broadcast address of 10.0.0.0/24; give a host address`}},
	{"vip address outside the subnet", base + "vip:\n  address: 10.0.1.10\n", []string{
		`c.yaml:13:12: vip.address 10.0.1.10 is not in node "n1"'s subnet 10.0.0.0/24: VRRP moves an address within one layer-2 segment only; fix vip.address or vip.prefix`,
		`c.yaml:13:12: vip.address 10.0.1.10 is not in node "n2"'s subnet 10.0.0.0/24: VRRP moves an address within one layer-2 segment only; fix vip.address or vip.prefix`,
		`c.yaml:13:12: vip.address 10.0.1.10 is not in node "n3"'s subnet 10.0.0.0/24: VRRP moves an address within one layer-2 segment only; fix vip.address or vip.prefix`}},
	{"vip prefix out of range", base + "vip:\n  address: 10.0.0.10\n  prefix: 33\n", []string{
		`c.yaml:14:11: vip.prefix 33 is out of range for IPv4 (1-32)`}},
	{"vip interface bad", base + "vip:\n  address: 10.0.0.10\n  interface: eth0/1\n", []string{
		`c.yaml:14:14: vip.interface "eth0/1" is not a valid interface name`}},
	{"node vip interface bad", strings.Replace(base, "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    vip_interface: a-very-long-interface\n", 1) +
		"vip:\n  address: 10.0.0.10\n", []string{
		`c.yaml:10:20: nodes[1].vip_interface "a-very-long-interface" is not a valid interface name`}},
	{"node vip interface without vip", strings.Replace(base, "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    vip_interface: ens224\n", 1), []string{
		`c.yaml:10:20: nodes[1].vip_interface is set but the spec has no vip section; remove it, or add vip`}},
	{"vip router id out of range", base + "vip:\n  address: 10.0.0.10\n  virtual_router_id: 256\n", []string{
		`c.yaml:14:22: vip.virtual_router_id 256 is out of range 1-255`}},
	{"vip router id zero", base + "vip:\n  address: 10.0.0.10\n  virtual_router_id: 0\n", []string{
		`c.yaml:14:22: vip.virtual_router_id 0 is out of range 1-255`}},
	{"vip mode unknown", base + "vip:\n  address: 10.0.0.10\n  mode: vip-manager\n", []string{
		`c.yaml:14:9: vip.mode "vip-manager" is not supported; use haproxy (the address is held by a member whose HAProxy reaches the primary) or leader (held by the Patroni leader itself)`}},
	{"vip mode leader without clients", base + "vip:\n  address: 10.0.0.10\n  mode: leader\n", []string{
		`warning: c.yaml:14:9: vip.mode leader: clients connect to PostgreSQL directly on the virtual IP; network.clients must list their networks (none is set)`}},
	{"vip key typo", base + "vip:\n  adress: 10.0.0.10\n", []string{
		`c.yaml:12:1: vip.address is required: the virtual IP clients connect to`,
		`c.yaml:13:3: unknown key "adress", did you mean "address"?`}},
}

func init() { badSpecs = append(badSpecs, vipBadSpecs...) }

func TestVIPDefaults(t *testing.T) {
	s, ps, err := Parse("c.yaml", []byte(base+"network:\n  interface: ens192\nvip:\n  address: 10.0.0.10\n"))
	if err != nil {
		t.Fatalf("%v\n%s", err, ps)
	}
	want := VIP{Address: "10.0.0.10", Prefix: 24, Interface: "ens192", VirtualRouterID: VirtualRouterIDFor("pg"), Mode: VIPModeHAProxy}
	if *s.VIP != want {
		t.Errorf("vip = %+v, want %+v", *s.VIP, want)
	}
	if got := s.VIPInterface(s.Nodes[0]); got != "ens192" {
		t.Errorf("VIPInterface = %q", got)
	}
	s, ps, err = Parse("c.yaml", []byte(strings.Replace(base, "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    vip_interface: bond0\n", 1)+
		"network:\n  clients: [10.1.0.0/16]\nvip:\n  address: 10.0.0.10\n  virtual_router_id: 7\n  mode: leader\n"))
	if ps = withoutNICGuess(ps); err != nil || len(ps) != 0 {
		t.Fatalf("%v\n%s", err, ps)
	}
	if s.VIP.VirtualRouterID != 7 || s.VIP.Mode != VIPModeLeader {
		t.Errorf("vip = %+v", *s.VIP)
	}
	if a, b := s.VIPInterface(s.Nodes[0]), s.VIPInterface(s.Nodes[1]); a != "eth0" || b != "bond0" {
		t.Errorf("interfaces %q %q, want eth0 bond0", a, b)
	}
}

func TestVIPAbsent(t *testing.T) {
	s, _, err := Parse("c.yaml", []byte(base))
	if err != nil || s.VIP != nil {
		t.Fatalf("vip = %+v, err %v", s.VIP, err)
	}
}

// The id depends on the name only, stays in 1-255, and spreads.
func TestVirtualRouterIDFor(t *testing.T) {
	seen := map[int]bool{}
	for _, name := range []string{"pg", "pg2", "orders", "billing", "a", "pgcluster"} {
		id := VirtualRouterIDFor(name)
		if id < 1 || id > 255 || id != VirtualRouterIDFor(name) {
			t.Errorf("%s: id %d", name, id)
		}
		seen[id] = true
	}
	if len(seen) < 5 {
		t.Errorf("ids collide too often: %v", seen)
	}
	if got := VirtualRouterIDFor("pg"); got != 1+int(fnv32a("pg")%255) {
		t.Errorf("pg: %d", got)
	}
}

func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
