package cluster

import (
	"net/netip"
	"strconv"
)

// Defaults of the spec, documented in docs/spec.md.
const (
	DefaultArch                = "x86_64"
	DefaultNetworkMode         = "static"
	DefaultInterface           = "eth0"
	DefaultPrefixIPv4          = 24
	DefaultPrefixIPv6          = 64
	DefaultPortPostgreSQL      = 5432
	DefaultPortPatroniAPI      = 8008
	DefaultPortEtcdClient      = 2379
	DefaultPortEtcdPeer        = 2380
	DefaultPortHAProxyRW       = 5000
	DefaultPortHAProxyRO       = 5001
	DefaultPortHAProxyStats    = 7000
	DefaultTTL                 = 30
	DefaultLoopWait            = 10
	DefaultRetryTimeout        = 10
	DefaultMaximumLag          = 1048576
	DefaultWatchdog            = "off"
	DefaultArchiveDir          = "/var/lib/pgsql/wal_archive"
	DefaultHAProxyMaxConn      = 1000
	DefaultConnectTimeout      = "4s"
	DefaultClientTimeout       = "30m"
	DefaultServerTimeout       = "30m"
	DefaultCheckInterval       = "3s"
	DefaultEtcdDataDir         = "/var/lib/etcd"
	DefaultEtcdHeartbeat       = 100
	DefaultEtcdElection        = 1000
	DefaultInitialClusterState = "new"
	DefaultSyncNodeCount       = 1
	DefaultGeneration          = 1
)

// applyDefaults fills every key that was not written (set holds the paths
// given a value), so an explicit 0 or "" is validated, not replaced.
func (s *Spec) applyDefaults(set map[string]bool) {
	str := func(path string, v *string, def string) {
		if !set[path] {
			*v = def
		}
	}
	num := func(path string, v *int, def int) {
		if !set[path] {
			*v = def
		}
	}
	str("cluster.arch", &s.Cluster.Arch, DefaultArch)
	num("cluster.generation", &s.Cluster.Generation, DefaultGeneration)

	str("network.mode", &s.Network.Mode, DefaultNetworkMode)
	str("network.interface", &s.Network.Interface, DefaultInterface)
	prefix := DefaultPrefixIPv4
	if s.firstAddr().Is6() {
		prefix = DefaultPrefixIPv6
	}
	num("network.prefix", &s.Network.Prefix, prefix)

	num("ports.postgresql", &s.Ports.PostgreSQL, DefaultPortPostgreSQL)
	num("ports.patroni_api", &s.Ports.PatroniAPI, DefaultPortPatroniAPI)
	num("ports.etcd_client", &s.Ports.EtcdClient, DefaultPortEtcdClient)
	num("ports.etcd_peer", &s.Ports.EtcdPeer, DefaultPortEtcdPeer)
	num("ports.haproxy_rw", &s.Ports.HAProxyRW, DefaultPortHAProxyRW)
	num("ports.haproxy_ro", &s.Ports.HAProxyRO, DefaultPortHAProxyRO)
	num("ports.haproxy_stats", &s.Ports.HAProxyStats, DefaultPortHAProxyStats)

	num("patroni.ttl", &s.Patroni.TTL, DefaultTTL)
	num("patroni.loop_wait", &s.Patroni.LoopWait, DefaultLoopWait)
	num("patroni.retry_timeout", &s.Patroni.RetryTimeout, DefaultRetryTimeout)
	if !set["patroni.maximum_lag_on_failover"] {
		s.Patroni.MaximumLagOnFailover = DefaultMaximumLag
	}
	num("patroni.synchronous_node_count", &s.Patroni.SynchronousNodeCount, DefaultSyncNodeCount)
	if s.Patroni.UsePgRewind == nil {
		t := true
		s.Patroni.UsePgRewind = &t
	}
	str("patroni.watchdog", &s.Patroni.Watchdog, DefaultWatchdog)

	str("archive.directory", &s.Archive.Directory, DefaultArchiveDir)

	num("haproxy.maxconn", &s.HAProxy.MaxConn, DefaultHAProxyMaxConn)
	str("haproxy.timeout_connect", &s.HAProxy.ConnectTimeout, DefaultConnectTimeout)
	str("haproxy.timeout_client", &s.HAProxy.ClientTimeout, DefaultClientTimeout)
	str("haproxy.timeout_server", &s.HAProxy.ServerTimeout, DefaultServerTimeout)
	str("haproxy.check_interval", &s.HAProxy.CheckInterval, DefaultCheckInterval)

	str("etcd.data_dir", &s.Etcd.DataDir, DefaultEtcdDataDir)
	num("etcd.heartbeat_interval", &s.Etcd.HeartbeatInterval, DefaultEtcdHeartbeat)
	num("etcd.election_timeout", &s.Etcd.ElectionTimeout, DefaultEtcdElection)
	str("etcd.token", &s.Etcd.Token, s.Cluster.Name)
	str("etcd.initial_cluster_state", &s.Etcd.InitialClusterState, DefaultInitialClusterState)
	s.applyVIPDefaults(set)       // vip.go
	s.applyBackupDefaults(set)    // backup.go
	s.applyBootstrapDefaults(set) // bootstrap.go
}

// DataDir is PGDATA for the given server major: postgresql.data_dir when set,
// else the PGDG layout /var/lib/pgsql/<major>/data.
func (s *Spec) DataDir(major int) string {
	if s.PostgreSQL.DataDir != "" {
		return s.PostgreSQL.DataDir
	}
	return "/var/lib/pgsql/" + strconv.Itoa(major) + "/data"
}

// ArchiveCommand is PostgreSQL's archive_command: archive.command when set,
// else a copy into archive.directory that never overwrites a segment; empty
// when archiving is off.
func (s *Spec) ArchiveCommand() string {
	switch {
	case !s.Archive.Enabled:
		return ""
	case s.Archive.Command != "":
		return s.Archive.Command
	}
	d := s.Archive.Directory
	return "test ! -f " + d + "/%f && cp %p " + d + "/%f"
}

// firstAddr is the first node address that can set the cluster's address
// family: valid, not IPv4-mapped, not multicast or unspecified (those are
// reported on their own). Invalid when there is none.
func (s *Spec) firstAddr() netip.Addr {
	for _, n := range s.Nodes {
		if a, ok := usableAddr(n.Address); ok {
			return a
		}
	}
	return netip.Addr{}
}

// usableAddr parses a node address that can set the family.
func usableAddr(v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}
