package cluster

import (
	"crypto/rsa"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zone names are checked against the embedded database too

	"golang.org/x/crypto/ssh"
)

// checker collects every problem of one validation run.
type checker struct {
	s   *Spec
	set map[string]bool
	ps  Problems
}

func (c *checker) errorf(path, format string, args ...interface{}) {
	c.ps = append(c.ps, c.s.ProblemAt(path, false, format, args...))
}

func (c *checker) warnf(path, format string, args ...interface{}) {
	c.ps = append(c.ps, c.s.ProblemAt(path, true, format, args...))
}

// absPath reports a node path that is set but not absolute, not clean, or
// holding characters the node's configs cannot carry.
func (c *checker) absPath(path, value string) { c.checkPath(path, value) }

// validate checks the decoded spec with defaults applied; set holds the
// paths that were written.
func (s *Spec) validate(set map[string]bool) Problems {
	c := &checker{s: s, set: set}
	c.top()
	c.nodes()
	c.network()
	c.dhcp() // dhcp.go
	c.nics() // nic.go
	c.ports()
	c.postgresql()
	c.patroni()
	c.archive()
	c.haproxyEtcd()
	c.usersPackages()
	c.vip()       // vip.go
	c.backup()    // backup.go
	c.bootstrap() // bootstrap.go
	pgdata := s.PostgreSQL.DataDir
	if pgdata != "" && (path.Clean(pgdata) != pgdata || !nodePathRe.MatchString(pgdata)) {
		pgdata = "" // reported above
	}
	c.ps = append(c.ps, s.dirChecks(pgdata, false)...)
	return c.ps
}

var (
	dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	userNameRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	ifaceRe    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	timezoneRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
	haTimeRe   = regexp.MustCompile(`^[0-9]+(us|ms|s|m|h|d)?$`)
	sizeRe     = regexp.MustCompile(`^[0-9]+(B|kB|MB|GB|TB)?$`)
)

// Limits the consumers enforce, checked here first.
const (
	// MaxHAProxyMillis is HAProxy's largest time (its timers are signed 32-bit
	// milliseconds, about 24.8 days); `haproxy -c` refuses more ("timer
	// overflow"), and 0 as a check interval ("invalid value 0 for 'inter'").
	MaxHAProxyMillis = 2147483647
	// MaxHAProxyMaxConn bounds haproxy.maxconn: HAProxy needs two file
	// descriptors per connection, and Linux gives a process at most 1048576.
	MaxHAProxyMaxConn = 500000
	// MaxArchiveTimeout is PostgreSQL's maximum archive_timeout (INT_MAX/2 s).
	MaxArchiveTimeout = 1073741823
)

// haproxyUnits are HAProxy's time units in microseconds; a bare number is
// milliseconds.
var haproxyUnits = map[string]int64{"us": 1, "ms": 1000, "": 1000, "s": 1e6, "m": 60e6, "h": 3600e6, "d": 86400e6}

// HAProxyMillis converts an HAProxy time (4s, 500ms, 30m, 1500) to
// milliseconds as HAProxy does, rounding microseconds up; ok is false when v
// is not an HAProxy time. Values past MaxHAProxyMillis are clamped to
// MaxHAProxyMillis+1 rather than overflowing.
func HAProxyMillis(v string) (ms int64, ok bool) {
	m := haTimeRe.FindStringSubmatch(v)
	if m == nil {
		return 0, false
	}
	digits := strings.TrimLeft(strings.TrimSuffix(v, m[1]), "0")
	if len(digits) > 12 {
		return MaxHAProxyMillis + 1, true
	}
	var n int64
	for _, d := range digits {
		n = n*10 + int64(d-'0')
	}
	us := n * haproxyUnits[m[1]]
	if us/haproxyUnits[m[1]] != n || us > (MaxHAProxyMillis+1)*1000 {
		return MaxHAProxyMillis + 1, true
	}
	return (us + 999) / 1000, true
}

// isDomain reports whether s is a DNS name made of DNS labels.
func isDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.ToLower(s), ".") {
		if !dnsLabelRe.MatchString(l) {
			return false
		}
	}
	return true
}

func (c *checker) top() {
	s := c.s
	switch {
	case !c.set["apiVersion"]:
		c.errorf("", msgAPIVersionMissing)
	case s.APIVersion != APIVersion:
		c.errorf("apiVersion", msgAPIVersionBad, s.APIVersion, APIVersion)
	}
	switch {
	case s.Cluster.Name == "":
		c.errorf("cluster.name", msgClusterNameReq)
	case !dnsLabelRe.MatchString(s.Cluster.Name):
		c.errorf("cluster.name", msgClusterName, s.Cluster.Name)
	}
	switch s.Cluster.OS {
	case "el7", "el8", "el9":
	case "":
		c.errorf("cluster.os", msgOSRequired)
	default:
		c.errorf("cluster.os", msgOSBad, s.Cluster.OS)
	}
	switch s.Cluster.Arch {
	case "x86_64", "aarch64":
	default:
		c.errorf("cluster.arch", msgArchBad, s.Cluster.Arch)
	}
	if c.set["cluster.domain"] && !isDomain(s.Cluster.Domain) {
		c.errorf("cluster.domain", msgDomainBad, s.Cluster.Domain)
	}
	if s.Cluster.Generation < 1 {
		c.errorf("cluster.generation", msgGenerationLow, s.Cluster.Generation)
	}
}

func (c *checker) nodes() {
	s := c.s
	if len(s.Nodes) == 0 {
		c.errorf("nodes", msgNoNodes)
		return
	}
	names := map[string]int{}
	addrs := map[netip.Addr]string{}
	leaders := 0
	for i, n := range s.Nodes {
		p := fmt.Sprintf("nodes[%d]", i)
		switch {
		case n.Name == "":
			c.errorf(p+".name", msgRequired, p+".name")
		case !dnsLabelRe.MatchString(n.Name):
			c.errorf(p+".name", msgNodeNameBad, n.Name)
		case len(s.FQDN(n)) > 253:
			c.errorf(p+".name", msgFQDNLong, s.FQDN(n), len(s.FQDN(n)))
		default:
			if j, dup := names[n.Name]; dup {
				c.errorf(p+".name", msgNodeNameDup, n.Name, j)
			} else {
				names[n.Name] = i
			}
		}
		c.address(p+".address", n, addrs)
		t := n.Tags
		if !t.NoFailover {
			leaders++
		}
		if t.NoFailover && t.FailoverPriority != nil {
			c.errorf(p+".tags.failover_priority", msgNoFailoverPrio, n.Name)
		} else if t.FailoverPriority != nil && *t.FailoverPriority < 0 {
			c.errorf(p+".tags.failover_priority", msgFailoverPrioNeg, *t.FailoverPriority)
		}
	}
	for i, n := range s.Nodes {
		rf := n.Tags.ReplicateFrom
		p := fmt.Sprintf("nodes[%d].tags.replicatefrom", i)
		if rf == "" {
			continue
		}
		if rf == n.Name {
			c.errorf(p, msgReplicateSelf, n.Name)
		} else if _, ok := names[rf]; !ok {
			c.errorf(p, msgReplicateFromBad, rf)
		}
	}
	c.replicationCycles(names)
	if leaders == 0 {
		c.errorf("nodes", msgNoLeader)
	}
	c.joins()
	switch n := len(s.Nodes); {
	case n == 1:
		c.warnf("nodes", msgOneMember)
	case n == 2:
		c.warnf("nodes", msgTwoMembers)
	case n > 7:
		c.errorf("nodes", msgTooManyMembers, n)
	case n%2 == 0:
		c.warnf("nodes", msgEvenMembers, n, n-1)
	}
}

// joins checks the members marked as joining a running cluster: some must
// not (etcd's founders), and a joining member must not be added while etcd
// would be left without a quorum until it starts (install.sh refuses then).
func (c *checker) joins() {
	s := c.s
	founders, first := 0, -1
	for i, n := range s.Nodes {
		if !n.Joins {
			founders++
		} else if first < 0 {
			first = i
		}
	}
	if first < 0 {
		return
	}
	if founders == 0 {
		c.errorf(fmt.Sprintf("nodes[%d].joins", first), msgAllJoin)
		return
	}
	if s.Etcd.InitialClusterState == "existing" {
		c.errorf("etcd.initial_cluster_state", msgJoinsAndExisting)
	}
	if founders == 1 {
		c.warnf(fmt.Sprintf("nodes[%d].joins", first), msgJoinOne, s.Nodes[first].Name)
	}
}

func (c *checker) address(p string, n Node, seen map[netip.Addr]string) {
	if n.Address == "" {
		c.errorf(p, msgRequired, p)
		return
	}
	a, err := netip.ParseAddr(n.Address)
	if err != nil || a.Zone() != "" {
		c.errorf(p, msgAddressBad, n.Address)
		return
	}
	if a.Is4In6() {
		c.errorf(p, msgAddressMapped, n.Address, a.Unmap())
		return
	}
	switch {
	case a.IsUnspecified():
		c.errorf(p, msgAddressUnspec, n.Address)
	case a.Is6() && a.IsLinkLocalUnicast():
		c.errorf(p, msgAddressLinkLocal, n.Address)
	case a.IsMulticast():
		c.errorf(p, msgAddressMulticast, n.Address)
	case a.IsLoopback() && !c.s.Cluster.AllowLoopback:
		c.errorf(p, msgAddressLoopback, n.Address)
	}
	if other, dup := seen[a]; dup {
		c.errorf(p, msgAddressDup, n.Address, other)
	} else {
		seen[a] = n.Name
	}
}

func (c *checker) network() {
	nw := c.s.Network
	switch nw.Mode {
	case "static", "dhcp":
	default:
		c.errorf("network.mode", msgNetModeBad, nw.Mode)
	}
	if !ifaceRe.MatchString(nw.Interface) || nw.Interface == "." || nw.Interface == ".." {
		c.errorf("network.interface", msgInterfaceBad, nw.Interface)
	}
	// The first node with a valid address sets the family; in static mode
	// every node shares network.prefix and network.gateway, so one family.
	var addrs []netip.Addr // valid node addresses, by node index (zero when invalid)
	var first netip.Addr
	for _, n := range c.s.Nodes {
		a, _ := usableAddr(n.Address) // the others are reported by address
		addrs = append(addrs, a)
		if !first.IsValid() && a.IsValid() {
			first = a
		}
	}
	family, maxBits := "IPv4", 32
	if first.Is6() {
		family, maxBits = "IPv6", 128
	}
	static := nw.Mode == "static"
	if static && first.IsValid() {
		for i, a := range addrs {
			if a.IsValid() && a.BitLen() != maxBits {
				c.errorf(fmt.Sprintf("nodes[%d].address", i), msgAddressFamily, c.s.Nodes[i].Address, familyOf(a), family)
				addrs[i] = netip.Addr{}
			}
		}
	}
	prefixOK := nw.Prefix >= 1 && nw.Prefix <= maxBits
	if !prefixOK {
		c.errorf("network.prefix", msgPrefixBad, nw.Prefix, family, maxBits)
	}
	if static && prefixOK {
		for i, a := range addrs {
			if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() {
				continue
			}
			if why := notAHost(a, nw.Prefix); why != "" {
				c.errorf(fmt.Sprintf("nodes[%d].address", i), msgAddressNotHost, c.s.Nodes[i].Address, why, netip.PrefixFrom(a, nw.Prefix).Masked())
			}
		}
	}
	if nw.Gateway != "" {
		c.gateway(nw, addrs, family, maxBits, static && prefixOK)
	}
	if len(nw.DNS) > 3 {
		c.warnf("network.dns", msgDNSMany, len(nw.DNS))
	}
	for i, d := range nw.DNS {
		p := fmt.Sprintf("network.dns[%d]", i)
		a, err := netip.ParseAddr(d)
		switch {
		case err != nil || a.Zone() != "":
			c.errorf(p, msgDNSBad, i, d)
		case a.Is4In6():
			c.errorf(p, msgDNSMapped, i, d, a.Unmap())
		case a.IsUnspecified() || a.IsMulticast():
			c.errorf(p, msgDNSNotHost, i, d)
		}
	}
	if len(nw.Search) > 6 {
		c.warnf("network.search", msgSearchMany, len(nw.Search))
	}
	for i, d := range nw.Search {
		if !isDomain(d) {
			c.errorf(fmt.Sprintf("network.search[%d]", i), msgSearchBad, i, d)
		}
	}
	for i, h := range nw.NTP {
		if _, err := netip.ParseAddr(h); err != nil && !isDomain(h) {
			c.errorf(fmt.Sprintf("network.ntp[%d]", i), msgNTPBad, i, h)
		}
	}
	if nw.Timezone != "" || c.set["network.timezone"] {
		c.timezone(nw.Timezone)
	}
	for i, cidr := range nw.Clients {
		p := fmt.Sprintf("network.clients[%d]", i)
		pf, err := netip.ParsePrefix(cidr)
		switch {
		case err != nil:
			c.errorf(p, msgClientsBad, i, cidr)
		case pf.Bits() == 0:
			c.warnf(p, msgClientsEveryone, i, cidr)
		}
	}
}

func familyOf(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// notAHost says why a cannot be a host's address on its network of the given
// prefix length: the network address (IPv4, and IPv6's subnet-router anycast
// address) or IPv4's broadcast address. Point-to-point prefixes (/31, /32,
// /127, /128) have no such addresses.
func notAHost(a netip.Addr, bits int) string {
	if (a.Is4() && bits >= 31) || (a.Is6() && bits >= 127) {
		return ""
	}
	pf := netip.PrefixFrom(a, bits).Masked()
	if a == pf.Addr() {
		if a.Is6() {
			return "the subnet-router anycast address of"
		}
		return "the network address of"
	}
	if a.Is4() {
		b := a.As4()
		host := ^uint32(0) >> bits
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if v&host == host {
			return "the broadcast address of"
		}
	}
	return ""
}

// gateway checks network.gateway: a unicast address of the nodes' family,
// in every node's subnet and no node's own address.
func (c *checker) gateway(nw Network, addrs []netip.Addr, family string, maxBits int, subnets bool) {
	gw, err := netip.ParseAddr(nw.Gateway)
	switch {
	case err != nil || gw.Zone() != "":
		c.errorf("network.gateway", msgGatewayBad, nw.Gateway)
		return
	case gw.Is4In6():
		c.errorf("network.gateway", msgGatewayMapped, nw.Gateway, gw.Unmap())
		return
	case gw.IsUnspecified() || gw.IsMulticast() || (gw.IsLoopback() && !c.s.Cluster.AllowLoopback):
		c.errorf("network.gateway", msgGatewayNotHost, nw.Gateway)
		return
	case nw.Mode != "static":
		return
	case gw.BitLen() != maxBits:
		c.errorf("network.gateway", msgGatewayFamily, nw.Gateway, familyOf(gw), family)
		return
	}
	if !subnets {
		return
	}
	if why := notAHost(gw, nw.Prefix); why != "" {
		c.errorf("network.gateway", msgGatewayNotHostNet, nw.Gateway, why, netip.PrefixFrom(gw, nw.Prefix).Masked())
	}
	for i, a := range addrs {
		if !a.IsValid() {
			continue
		}
		n := c.s.Nodes[i]
		if a == gw {
			c.errorf("network.gateway", msgGatewayIsNode, nw.Gateway, n.Name)
			continue
		}
		if subnet := netip.PrefixFrom(a, nw.Prefix).Masked(); !subnet.Contains(gw) {
			c.errorf("network.gateway", msgGatewaySubnet, nw.Gateway, n.Name, subnet)
		}
	}
}

// timezone checks a time zone name: its shape, then the time zone database
// (the one built into the program, and the build host's when it has one).
func (c *checker) timezone(tz string) {
	if !timezoneRe.MatchString(tz) || tz == "Local" || len(tz) > 64 {
		c.errorf("network.timezone", msgTimezoneBad, tz)
		return
	}
	if _, err := time.LoadLocation(tz); err != nil {
		c.errorf("network.timezone", msgTimezoneUnknown, tz)
	}
}

// replicationCycles reports replicatefrom chains that loop: every member of
// the loop waits for another to stream from, and none from the leader.
func (c *checker) replicationCycles(names map[string]int) {
	reported := map[int]bool{}
	for start := range c.s.Nodes {
		seen := map[int]int{} // node index -> step in the walk
		var path []int
		for i, step := start, 0; ; step++ {
			if at, loop := seen[i]; loop {
				cycle := path[at:]
				lo := cycle[0]
				for _, j := range cycle {
					if j < lo {
						lo = j
					}
				}
				if !reported[lo] {
					reported[lo] = true
					var chain []string
					k := 0
					for idx, j := range cycle {
						if j == lo {
							k = idx
						}
					}
					for n := 0; n <= len(cycle); n++ {
						chain = append(chain, c.s.Nodes[cycle[(k+n)%len(cycle)]].Name)
					}
					if len(cycle) > 1 {
						c.errorf(fmt.Sprintf("nodes[%d].tags.replicatefrom", lo), msgReplicateCycle, strings.Join(chain, " -> "))
					}
				}
				break
			}
			seen[i] = step
			path = append(path, i)
			next, ok := names[c.s.Nodes[i].Tags.ReplicateFrom]
			if c.s.Nodes[i].Tags.ReplicateFrom == "" || !ok {
				break
			}
			i = next
		}
	}
}

// portList is the seven ports in spec order, with their keys.
func (s *Spec) portList() []struct {
	key  string
	port int
} {
	p := s.Ports
	return []struct {
		key  string
		port int
	}{
		{"postgresql", p.PostgreSQL}, {"patroni_api", p.PatroniAPI},
		{"etcd_client", p.EtcdClient}, {"etcd_peer", p.EtcdPeer},
		{"haproxy_rw", p.HAProxyRW}, {"haproxy_ro", p.HAProxyRO},
		{"haproxy_stats", p.HAProxyStats},
	}
}

// unprivilegedPorts are the ports bound by a service that runs as its own
// account (no CAP_NET_BIND_SERVICE), with that account: they must be 1024 or
// more. HAProxy binds its ports as root before it drops privileges.
var unprivilegedPorts = map[string]string{
	"postgresql": "postgres", "patroni_api": "postgres", "etcd_client": "etcd", "etcd_peer": "etcd",
}

func (c *checker) ports() {
	used := map[int]string{}
	for _, p := range c.s.portList() {
		path := "ports." + p.key
		if p.port < 1 || p.port > 65535 {
			c.errorf(path, msgPortRange, p.key, p.port)
			continue
		}
		if other, dup := used[p.port]; dup {
			c.errorf(path, msgPortClash, p.key, p.port, other)
			continue
		}
		if p.port < 1024 && unprivilegedPorts[p.key] != "" {
			c.errorf(path, msgPortPrivileged, p.key, p.port, unprivilegedPorts[p.key])
		}
		used[p.port] = p.key
	}
}

// paramName is the shape of a PostgreSQL parameter name (extensions' custom
// parameters have a dotted prefix).
var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// managedParams are PostgreSQL parameters that Patroni or this tool sets
// itself, with where their value comes from.
var managedParams = map[string]string{
	"listen_addresses":          "the node's address (nodes[].address)",
	"port":                      "ports.postgresql",
	"cluster_name":              "cluster.name",
	"data_directory":            "postgresql.data_dir",
	"hba_file":                  "postgresql.pg_hba",
	"ident_file":                "its own configuration",
	"config_file":               "its own configuration",
	"primary_conninfo":          "the cluster topology",
	"primary_slot_name":         "the cluster topology",
	"synchronous_standby_names": "patroni.synchronous_mode",
	"archive_mode":              "the archive section (archive.enabled)",
	"archive_command":           "the archive section (archive.command or archive.directory)",
	"archive_timeout":           "the archive section (archive.timeout)",
	"restore_command":           "the archive section (archive.restore_command)",
}

func (c *checker) postgresql() {
	pg := c.s.PostgreSQL
	c.absPath("postgresql.data_dir", pg.DataDir)
	c.absPath("postgresql.bin_dir", pg.BinDir)
	if c.set["postgresql.major"] && pg.Major < 10 {
		c.errorf("postgresql.major", msgMajorOld, pg.Major)
	}
	names := make([]string, 0, len(pg.Parameters))
	for name := range pg.Parameters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !paramName.MatchString(name) {
			c.errorf("postgresql.parameters."+name, msgParamName, name)
			continue
		}
		if from, ok := managedParams[name]; ok {
			c.errorf("postgresql.parameters."+name, msgParamManaged, name, from)
			continue
		}
		if v, ok := pg.Parameters[name].(string); ok && hasControl(v) {
			c.errorf("postgresql.parameters."+name, msgParamControl, name)
		}
	}
	c.replicationParams()
	if v, ok := pg.Parameters["password_encryption"]; ok && fmt.Sprint(v) == "md5" {
		c.warnf("postgresql.parameters.password_encryption", msgMD5Password)
	}
	for i, line := range pg.HBA {
		c.hba(fmt.Sprintf("postgresql.pg_hba[%d]", i), line)
	}
}

// replicationParams checks the parameters streaming replication rests on:
// PostgreSQL refuses to start with wal_level minimal and WAL senders, and
// every replica needs a WAL sender and (Patroni's slots) a replication slot.
func (c *checker) replicationParams() {
	params := c.s.PostgreSQL.Parameters
	if v, ok := params["wal_level"]; ok {
		switch fmt.Sprint(v) {
		case "replica", "logical", "hot_standby", "archive":
		default:
			c.errorf("postgresql.parameters.wal_level", msgWalLevel, fmt.Sprint(v))
		}
	}
	replicas := len(c.s.Nodes) - 1
	for _, name := range []string{"max_wal_senders", "max_replication_slots"} {
		v, ok := params[name]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(fmt.Sprint(v))
		switch {
		case err != nil || n < 0 || n > 262143:
			c.errorf("postgresql.parameters."+name, msgParamCount, name, fmt.Sprint(v))
		case n < replicas:
			c.errorf("postgresql.parameters."+name, msgParamTooFew, name, n, replicas)
		}
	}
}

var hbaMethods = map[string]bool{
	"trust": true, "reject": true, "scram-sha-256": true, "md5": true, "password": true,
	"gss": true, "sspi": true, "ident": true, "peer": true, "ldap": true, "radius": true,
	"cert": true, "pam": true, "bsd": true,
}

// hba checks the shape of one pg_hba.conf line.
func (c *checker) hba(p, line string) {
	if hasControl(line) {
		c.errorf(p, msgHBAControl, p)
		return
	}
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return
	}
	var method string
	switch f[0] {
	case "local":
		if len(f) < 4 {
			c.errorf(p, msgHBAShapeLoc, line)
			return
		}
		method = f[3]
	case "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc":
		if len(f) < 5 {
			c.errorf(p, msgHBAShapeHost, line)
			return
		}
		addr, mi := f[3], 4
		switch {
		case strings.Contains(addr, "/"):
			if _, err := netip.ParsePrefix(addr); err != nil {
				c.errorf(p, msgHBAAddress, line, addr)
				return
			}
		case looksNumeric(addr):
			if _, err := netip.ParseAddr(addr); err != nil {
				c.errorf(p, msgHBAAddress, line, addr)
				return
			}
			// an address without /bits is followed by its netmask
			if len(f) < 6 {
				c.errorf(p, msgHBAShapeHost, line)
				return
			}
			if _, err := netip.ParseAddr(f[4]); err != nil {
				c.errorf(p, msgHBAAddress, line, f[4])
				return
			}
			mi = 5
		}
		method = f[mi]
	default:
		c.errorf(p, msgHBAType, line, f[0])
		return
	}
	switch {
	case !hbaMethods[method]:
		c.errorf(p, msgHBAMethod, line, method)
	case method == "md5" || method == "password":
		c.warnf(p, msgHBAWeak, line, method)
	case method == "trust" && f[0] != "local":
		c.warnf(p, msgHBATrust, line)
	}
}

// looksNumeric reports whether an HBA address field is meant as an IP
// address rather than a host name or keyword.
func looksNumeric(s string) bool {
	return strings.Contains(s, ":") || strings.Trim(s, "0123456789.") == ""
}

func (c *checker) patroni() {
	pt := c.s.Patroni
	if pt.TTL < 20 {
		c.errorf("patroni.ttl", msgTTLLow, pt.TTL)
	}
	if pt.LoopWait < 1 {
		c.errorf("patroni.loop_wait", msgLoopWaitLow, pt.LoopWait)
	}
	if pt.RetryTimeout < 3 {
		c.errorf("patroni.retry_timeout", msgRetryLow, pt.RetryTimeout)
	}
	if sum := pt.LoopWait + 2*pt.RetryTimeout; sum > pt.TTL {
		at := "patroni"
		for _, k := range []string{"patroni.ttl", "patroni.retry_timeout", "patroni.loop_wait"} {
			if c.set[k] {
				at = k
				break
			}
		}
		c.errorf(at, msgTiming, pt.LoopWait, pt.RetryTimeout, sum, pt.TTL)
	}
	if pt.MaximumLagOnFailover < 0 {
		c.errorf("patroni.maximum_lag_on_failover", msgMaxLagNeg, pt.MaximumLagOnFailover)
	}
	switch pt.Watchdog {
	case "off", "automatic", "required":
	default:
		c.errorf("patroni.watchdog", msgWatchdogBad, pt.Watchdog)
	}
	if pt.SynchronousModeStrict && !pt.SynchronousMode {
		c.errorf("patroni.synchronous_mode_strict", msgStrictNoSync)
	}
	switch {
	case pt.SynchronousNodeCount < 1:
		c.errorf("patroni.synchronous_node_count", msgSyncCountLow, pt.SynchronousNodeCount)
	case pt.SynchronousMode && len(c.s.Nodes) > 0:
		if e := c.s.SyncCandidates(); pt.SynchronousNodeCount > e {
			at := "patroni.synchronous_node_count"
			if !c.set[at] {
				at = "patroni.synchronous_mode"
			}
			c.errorf(at, msgSyncCountHigh, pt.SynchronousNodeCount, e)
		}
	case !pt.SynchronousMode && c.set["patroni.synchronous_node_count"]:
		c.warnf("patroni.synchronous_node_count", msgSyncCountNoSync)
	}
	c.absPath("patroni.bin", pt.Bin)
	c.absPath("patroni.ctl", pt.Ctl)
}

// SyncCandidates is how many replicas can be synchronous standbys whatever
// member leads: the members without the nosync tag, minus the leader when
// the leader can be one of them.
func (s *Spec) SyncCandidates() int {
	candidates, leaderAmongThem := 0, false
	for _, n := range s.Nodes {
		if !n.Tags.NoSync {
			candidates++
			if !n.Tags.NoFailover {
				leaderAmongThem = true
			}
		}
	}
	if leaderAmongThem {
		candidates--
	}
	return candidates
}

func (c *checker) archive() {
	a := c.s.Archive
	c.absPath("archive.directory", a.Directory)
	if a.Enabled && a.Directory == "" && a.Command == "" {
		c.errorf("archive", msgArchiveNowhere)
	}
	if a.Command != "" && !strings.Contains(a.Command, "%p") {
		c.errorf("archive.command", msgArchiveCmdNoP, a.Command)
	}
	if !a.Enabled && a.Command != "" {
		c.warnf("archive.command", msgArchiveCmdOff)
	}
	if a.RestoreCommand != "" && (!strings.Contains(a.RestoreCommand, "%f") || !strings.Contains(a.RestoreCommand, "%p")) {
		c.errorf("archive.restore_command", msgRestoreCmdBad, a.RestoreCommand)
	}
	if a.Timeout < 0 {
		c.errorf("archive.timeout", msgArchiveTimeoutNeg, a.Timeout)
	} else if a.Timeout > MaxArchiveTimeout {
		c.errorf("archive.timeout", msgArchiveTimeoutHigh, a.Timeout, MaxArchiveTimeout)
	}
	if hasControl(a.Command) {
		c.errorf("archive.command", msgCommandControl, "archive.command")
	}
	if hasControl(a.RestoreCommand) {
		c.errorf("archive.restore_command", msgCommandControl, "archive.restore_command")
	}
}

func (c *checker) haproxyEtcd() {
	h := c.s.HAProxy
	if h.MaxConn < 1 {
		c.errorf("haproxy.maxconn", msgMaxConnLow, h.MaxConn)
	} else if h.MaxConn > MaxHAProxyMaxConn {
		c.errorf("haproxy.maxconn", msgMaxConnHigh, h.MaxConn, MaxHAProxyMaxConn)
	}
	for _, t := range []struct{ key, v string }{
		{"timeout_connect", h.ConnectTimeout}, {"timeout_client", h.ClientTimeout},
		{"timeout_server", h.ServerTimeout}, {"check_interval", h.CheckInterval},
	} {
		ms, ok := HAProxyMillis(t.v)
		switch {
		case !ok:
			c.errorf("haproxy."+t.key, msgHAProxyTime, t.key, t.v)
		case ms < 1 || ms > MaxHAProxyMillis:
			c.errorf("haproxy."+t.key, msgHAProxyTimeRange, t.key, t.v, MaxHAProxyMillis)
		}
	}
	if h.ReplicaMaxLag != "" && !sizeRe.MatchString(h.ReplicaMaxLag) {
		c.errorf("haproxy.replica_max_lag", msgReplicaLagBad, h.ReplicaMaxLag)
	}
	c.absPath("haproxy.bin", h.Bin)

	e := c.s.Etcd
	c.absPath("etcd.data_dir", e.DataDir)
	switch {
	case e.HeartbeatInterval < 1:
		c.errorf("etcd.heartbeat_interval", msgHeartbeatLow, e.HeartbeatInterval)
	case e.ElectionTimeout < 5*e.HeartbeatInterval:
		c.errorf("etcd.election_timeout", msgElectionLow, e.ElectionTimeout, e.HeartbeatInterval)
	case e.ElectionTimeout > 50000:
		c.errorf("etcd.election_timeout", msgElectionHigh, e.ElectionTimeout)
	}
	if e.InitialClusterState != "new" && e.InitialClusterState != "existing" {
		c.errorf("etcd.initial_cluster_state", msgEtcdClusterState, e.InitialClusterState)
	}
	if e.Token == "" && c.set["etcd.token"] {
		c.errorf("etcd.token", msgEtcdTokenEmpty)
	} else if strings.IndexFunc(e.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		c.errorf("etcd.token", msgEtcdTokenBad, e.Token)
	}
	c.absPath("etcd.bin", e.Bin)
	c.absPath("etcd.ctl", e.Ctl)
}

// serviceUsers are the accounts the packages create and the services run as.
var serviceUsers = map[string]bool{"root": true, "postgres": true, "etcd": true, "haproxy": true}

// systemUsers are the accounts every EL7/8/9 base image has (setup's
// /etc/passwd and the daemons of a minimal install; systemd-* too):
// cloud-init would change that system account instead of creating one.
var systemUsers = map[string]bool{
	"bin": true, "daemon": true, "adm": true, "lp": true, "sync": true, "shutdown": true, "halt": true,
	"mail": true, "operator": true, "games": true, "ftp": true, "nobody": true, "sshd": true, "dbus": true,
	"polkitd": true, "chrony": true, "tss": true, "rpc": true, "rpcuser": true, "libstoragemgmt": true,
	"unbound": true, "sssd": true,
}

func (c *checker) usersPackages() {
	names := map[string]int{}
	for i, u := range c.s.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			c.errorf(p+".name", msgRequired, p+".name")
		case !userNameRe.MatchString(u.Name):
			c.errorf(p+".name", msgUserNameBad, u.Name)
		case serviceUsers[u.Name]:
			c.errorf(p+".name", msgUserReserved, u.Name)
		case systemUsers[u.Name] || strings.HasPrefix(u.Name, "systemd-"):
			c.errorf(p+".name", msgUserSystem, u.Name)
		default:
			if j, dup := names[u.Name]; dup {
				c.errorf(p+".name", msgUserNameDup, u.Name, j)
			} else {
				names[u.Name] = i
			}
		}
		for j, g := range u.Groups {
			if !userNameRe.MatchString(g) {
				c.errorf(fmt.Sprintf("%s.groups[%d]", p, j), msgGroupBad, g)
			}
		}
		for j, k := range u.SSHAuthorizedKeys {
			if why := sshKeyProblem(k); why != "" {
				c.errorf(fmt.Sprintf("%s.ssh_authorized_keys[%d]", p, j), msgUserSSHKeyBad, i, j, why)
			}
		}
	}
	if c.s.Packages.AllowUnsigned {
		c.warnf("packages.allow_unsigned", msgAllowUnsigned)
	}
	for i, k := range c.s.Packages.Keys {
		if strings.TrimSpace(k) == "" {
			c.errorf(fmt.Sprintf("packages.keys[%d]", i), msgPackageKeyNone, i)
		}
	}
}

// sshKeyProblem says why k is not one authorized_keys line that OpenSSH on
// EL7-9 accepts (options, key type, base64 key, comment), or "".
func sshKeyProblem(k string) string {
	if strings.ContainsAny(k, "\r\n") {
		return "it holds more than one line; give each key as its own list item"
	}
	key, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(k))
	if err != nil {
		return "it does not parse as an OpenSSH public key"
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return "it holds more than one key"
	}
	switch key.Type() {
	case ssh.KeyAlgoDSA:
		return "ssh-dss (DSA) keys are refused by OpenSSH 7.0 and later; use an ed25519 or RSA key"
	case ssh.KeyAlgoRSA:
		if ck, ok := key.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
				return fmt.Sprintf("a %d-bit RSA key is too weak (EL9 refuses RSA keys under 2048 bits); use an ed25519 key or RSA of 3072 bits", rk.N.BitLen())
			}
		}
	}
	return ""
}

// hasControl reports whether s holds a control character (a newline would
// start a new line in postgresql.conf, pg_hba.conf or a unit).
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0
}
