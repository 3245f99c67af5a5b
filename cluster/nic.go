package cluster

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// macRe is the one MAC address form every network-config reader takes.
var macRe = regexp.MustCompile(`^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$`)

// NormalMAC is a valid MAC address in the form network-config carries it:
// lowercase, colon-separated.
func NormalMAC(mac string) string { return strings.ToLower(mac) }

// nics checks each node's mac_address, and, with static addressing, warns
// once (at the first such node) on the nodes whose NIC is only guessed: no MAC
// address, and network.interface left at its default.
func (c *checker) nics() {
	s := c.s
	seen := map[string]string{}
	for i, n := range s.Nodes {
		p := fmt.Sprintf("nodes[%d].mac_address", i)
		if n.MACAddress == "" {
			continue
		}
		if s.Network.Mode == "dhcp" {
			c.warnf(p, msgMACDHCP)
		}
		if !macRe.MatchString(n.MACAddress) {
			c.errorf(p, msgMACBad, n.MACAddress)
			continue
		}
		mac := NormalMAC(n.MACAddress)
		first, _ := strconv.ParseUint(mac[:2], 16, 8)
		switch {
		case mac == "00:00:00:00:00:00":
			c.errorf(p, msgMACZero, n.MACAddress)
		case first&1 == 1:
			c.errorf(p, msgMACMulticast, n.MACAddress)
		default:
			if other, dup := seen[mac]; dup {
				c.errorf(p, msgMACDup, n.MACAddress, other)
			} else {
				seen[mac] = n.Name
			}
		}
	}
	if s.Network.Mode != "static" || c.set["network.interface"] {
		return
	}
	first, names := -1, []string{}
	for i, n := range s.Nodes {
		if n.MACAddress == "" {
			if first < 0 {
				first = i
			}
			names = append(names, n.Name)
		}
	}
	if first >= 0 {
		c.warnf(fmt.Sprintf("nodes[%d]", first), msgNICGuessed, strings.Join(names, ", "))
	}
}
