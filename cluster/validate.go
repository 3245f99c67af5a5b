package cluster

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strings"
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
	c.ports()
	c.postgresql()
	c.patroni()
	c.archive()
	c.haproxyEtcd()
	c.usersPackages()
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
	ifaceRe    = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)
	timezoneRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
	haTimeRe   = regexp.MustCompile(`^[0-9]+(us|ms|s|m|h|d)?$`)
	sizeRe     = regexp.MustCompile(`^[0-9]+(B|kB|MB|GB|TB)?$`)
)

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
	if leaders == 0 {
		c.errorf("nodes", msgNoLeader)
	}
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
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		c.errorf(p, msgAddressUnspec, n.Address)
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
	if !ifaceRe.MatchString(nw.Interface) {
		c.errorf("network.interface", msgInterfaceBad, nw.Interface)
	}
	family, maxBits := "IPv4", 32
	if len(c.s.Nodes) > 0 {
		if a, err := netip.ParseAddr(c.s.Nodes[0].Address); err == nil && a.Unmap().Is6() {
			family, maxBits = "IPv6", 128
		}
	}
	prefixOK := nw.Prefix >= 1 && nw.Prefix <= maxBits
	if !prefixOK {
		c.errorf("network.prefix", msgPrefixBad, nw.Prefix, family, maxBits)
	}
	if nw.Gateway != "" {
		gw, err := netip.ParseAddr(nw.Gateway)
		if err != nil || gw.Zone() != "" {
			c.errorf("network.gateway", msgGatewayBad, nw.Gateway)
		} else if nw.Mode == "static" && prefixOK {
			gw = gw.Unmap()
			for _, n := range c.s.Nodes {
				a, err := netip.ParseAddr(n.Address)
				if err != nil {
					continue
				}
				a = a.Unmap()
				if a == gw {
					c.errorf("network.gateway", msgGatewayIsNode, nw.Gateway, n.Name)
					continue
				}
				if a.BitLen() != maxBits {
					continue
				}
				subnet := netip.PrefixFrom(a, nw.Prefix).Masked()
				if !subnet.Contains(gw) {
					c.errorf("network.gateway", msgGatewaySubnet, nw.Gateway, n.Name, subnet)
				}
			}
		}
	}
	for i, d := range nw.DNS {
		if a, err := netip.ParseAddr(d); err != nil || a.Zone() != "" {
			c.errorf(fmt.Sprintf("network.dns[%d]", i), msgDNSBad, i, d)
		}
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
	if nw.Timezone != "" && !timezoneRe.MatchString(nw.Timezone) {
		c.errorf("network.timezone", msgTimezoneBad, nw.Timezone)
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
		}
	}
	if v, ok := pg.Parameters["password_encryption"]; ok && fmt.Sprint(v) == "md5" {
		c.warnf("postgresql.parameters.password_encryption", msgMD5Password)
	}
	for i, line := range pg.HBA {
		c.hba(fmt.Sprintf("postgresql.pg_hba[%d]", i), line)
	}
}

var hbaMethods = map[string]bool{
	"trust": true, "reject": true, "scram-sha-256": true, "md5": true, "password": true,
	"gss": true, "sspi": true, "ident": true, "peer": true, "ldap": true, "radius": true,
	"cert": true, "pam": true, "bsd": true,
}

// hba checks the shape of one pg_hba.conf line.
func (c *checker) hba(p, line string) {
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
	}
}

func (c *checker) haproxyEtcd() {
	h := c.s.HAProxy
	if h.MaxConn < 1 {
		c.errorf("haproxy.maxconn", msgMaxConnLow, h.MaxConn)
	}
	for _, t := range []struct{ key, v string }{
		{"timeout_connect", h.ConnectTimeout}, {"timeout_client", h.ClientTimeout},
		{"timeout_server", h.ServerTimeout}, {"check_interval", h.CheckInterval},
	} {
		if !haTimeRe.MatchString(t.v) {
			c.errorf("haproxy."+t.key, msgHAProxyTime, t.key, t.v)
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
	}
	c.absPath("etcd.bin", e.Bin)
	c.absPath("etcd.ctl", e.Ctl)
}

// reservedUsers are the accounts the packages create and the services run as.
var reservedUsers = map[string]bool{"root": true, "postgres": true, "etcd": true, "haproxy": true}

func (c *checker) usersPackages() {
	names := map[string]int{}
	for i, u := range c.s.Users {
		p := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			c.errorf(p+".name", msgRequired, p+".name")
		case !userNameRe.MatchString(u.Name):
			c.errorf(p+".name", msgUserNameBad, u.Name)
		case reservedUsers[u.Name]:
			c.errorf(p+".name", msgUserReserved, u.Name)
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
			if !isSSHKey(k) {
				c.errorf(fmt.Sprintf("%s.ssh_authorized_keys[%d]", p, j), msgUserSSHKeyBad, i, j)
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

// isSSHKey reports whether k looks like an authorized_keys line: a key type
// then base64 data.
func isSSHKey(k string) bool {
	f := strings.Fields(k)
	if len(f) < 2 {
		return false
	}
	typ := f[0]
	return (strings.HasPrefix(typ, "ssh-") || strings.HasPrefix(typ, "ecdsa-") || strings.HasPrefix(typ, "sk-")) &&
		strings.HasPrefix(f[1], "AAAA")
}
