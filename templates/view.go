package templates

import (
	"fmt"
	"net"
	"path"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// view is everything the templates print, derived once in Go so the templates
// stay free of logic.
type view struct {
	Cluster    string
	OS         string
	Node       cluster.Node
	Members    []member
	MemberList string
	EtcdHosts  []string
	Ports      cluster.Ports
	Patroni    cluster.Patroni
	HAProxy    haproxyView
	Postgres   postgresView
	Parameters []param
	HBA        []string
	Archive    archiveView
	Etcd       etcdView
	Bin        binView
	LeaderFlag string // patronictl switchover's option naming the leader
	Watchdog   string
	Users      struct{ Superuser, Replication, Rewind, RestAPI, HAProxyStats string }
	Secrets    *secrets.Secrets
	PKI        struct{ CA, Cert, EtcdKey, PatroniKey string }
	DCS        string      // the bootstrap.dcs section, rendered first
	VIP        *vipView    // nil without a virtual IP (vip.go)
	Backup     *backupView // nil without backups (backup.go)
	// Bootstrap is the restore of another cluster's backups on the member
	// that bootstraps the cluster from them (bootstrap.go); BootstrapWait
	// marks the other members of such a cluster, which never bootstrap it.
	Bootstrap     *bootstrapView
	BootstrapWait bool
	spec          *cluster.Spec
}

type member struct {
	Name, Address, FQDN string
	Joins               bool
}

type postgresView struct {
	Major   int
	BinDir  string
	DataDir string
	Pgpass  string
	Rewind  bool
	// AuthMethod is pg_hba's password method, scram-sha-256 or md5: it
	// follows password_encryption.
	AuthMethod string
	// TLS serves client and replication connections with the node's
	// certificate, unless the spec sets PostgreSQL's ssl parameters itself.
	TLS bool
}

type archiveView struct {
	Dir            string // empty unless archiving copies to a directory
	RestoreCommand string
}

type etcdView struct {
	DataDir, PeerURL, ClientURL, InitialCluster, Token, Endpoints string
	InitialClusterState                                           string
	HeartbeatInterval, ElectionTimeout                            int
	GRPCGateway, UnsupportedArch                                  bool
}

type haproxyView struct {
	cluster.HAProxy
	ReplicaCheck string
	// StatsURI and RWProxy are also facts: the health gate reads them.
	StatsURI, RWProxy string
}

type binView struct {
	Patroni, Patronictl, Etcd, Etcdctl, HAProxy, HAProxyWrapper string
}

func newView(spec *cluster.Spec, nodeName string, comp rpm.Components, sec *secrets.Secrets) (*view, error) {
	self := spec.NodeByName(nodeName)
	if self == nil {
		return nil, fmt.Errorf("render: node %q is not in the spec", nodeName)
	}
	major := comp.PostgreSQL.Major
	if major == 0 {
		return nil, fmt.Errorf("render %s: PostgreSQL major version unknown: set postgresql.major for a preinstalled server", nodeName)
	}
	for what, p := range map[string]string{
		"PostgreSQL bin_dir": comp.PostgreSQL.BinDir, "patroni": comp.Patroni.Bin,
		"patronictl": comp.Patroni.Ctl, "etcd": comp.Etcd.Bin, "etcdctl": comp.Etcd.Ctl, "haproxy": comp.HAProxy.Bin,
	} {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("render %s: path of %s is %q, not absolute", nodeName, what, p)
		}
	}

	v := &view{
		Cluster:  spec.Cluster.Name,
		OS:       spec.Cluster.OS,
		Node:     *self,
		Ports:    spec.Ports,
		Patroni:  spec.Patroni,
		Watchdog: spec.Patroni.Watchdog,
		Users:    users,
		Secrets:  sec,
		PKI:      pki,
		spec:     spec,
	}
	var names []string
	for _, n := range spec.Nodes {
		m := member{Name: n.Name, Address: n.Address, Joins: n.Joins}
		if fqdn := spec.FQDN(n); fqdn != n.Name {
			m.FQDN = fqdn
		}
		v.Members = append(v.Members, m)
		names = append(names, n.Name+"="+n.Address)
	}
	v.MemberList = strings.Join(names, " ")
	v.EtcdHosts = spec.EtcdHosts()

	dataDir := spec.DataDir(major)
	v.Postgres = postgresView{
		Major:   major,
		BinDir:  comp.PostgreSQL.BinDir,
		DataDir: dataDir,
		// Beside PGDATA, in a directory the postgres user owns on every layout.
		Pgpass: path.Join(path.Dir(dataDir), ".pgpass_patroni"),
		// pg_rewind as a non-superuser needs PostgreSQL 11.
		Rewind: useRewind(spec) && major >= 11,
		TLS:    !hasAny(spec.PostgreSQL.Parameters, "ssl", "ssl_cert_file", "ssl_key_file"),
	}

	backup, err := newBackupView(spec, comp, sec, nodeName)
	if err != nil {
		return nil, err
	}
	v.Backup = backup
	if v.Bootstrap, err = newBootstrapView(spec, comp, sec, nodeName); err != nil {
		return nil, err
	}
	v.BootstrapWait = spec.FromBackup() != nil && v.Bootstrap == nil
	params := defaultParameters(major)
	if backup != nil {
		// pgBackRest archives and fetches the WAL; the spec refuses
		// archive.enabled and archive.restore_command beside it.
		params["archive_mode"] = "on"
		params["archive_command"] = backup.ArchiveCommand
		params["archive_timeout"] = backup.ArchiveTimeout
	}
	if spec.Archive.Enabled && backup == nil {
		params["archive_mode"] = "on"
		params["archive_command"] = spec.ArchiveCommand()
		if spec.Archive.Command == "" {
			v.Archive.Dir = spec.Archive.Directory
		}
		if spec.Archive.Timeout > 0 {
			params["archive_timeout"] = spec.Archive.Timeout
		}
	}
	v.Archive.RestoreCommand = spec.Archive.RestoreCommand
	if backup != nil {
		v.Archive.RestoreCommand = backup.RestoreCommand
	}
	// A spec that keeps WAL its own way replaces our default for either name.
	if hasAny(spec.PostgreSQL.Parameters, "wal_keep_size", "wal_keep_segments") {
		delete(params, "wal_keep_size")
		delete(params, "wal_keep_segments")
	}
	for k, val := range spec.PostgreSQL.Parameters {
		params[k] = val
	}
	v.Parameters = sortedParams(params)
	v.Postgres.AuthMethod = authMethod(params, major)
	v.HBA = hbaLines(spec, v.Postgres.AuthMethod)

	v.Etcd = etcdView{
		DataDir:             spec.Etcd.DataDir,
		PeerURL:             spec.EtcdPeerURL(*self),
		ClientURL:           spec.EtcdClientURL(*self),
		InitialCluster:      spec.InitialClusterOf(*self),
		Endpoints:           strings.Join(spec.EtcdEndpoints(), ","),
		Token:               spec.Etcd.Token,
		InitialClusterState: spec.InitialClusterState(*self),
		HeartbeatInterval:   spec.Etcd.HeartbeatInterval,
		ElectionTimeout:     spec.Etcd.ElectionTimeout,
		GRPCGateway:         comp.Etcd.NeedsGRPCGateway(),
		// etcd before 3.5 refuses to start on arm64 unless told it may.
		UnsupportedArch: spec.Cluster.Arch == "aarch64" && comp.Etcd.NeedsGRPCGateway(),
	}

	v.HAProxy = haproxyView{HAProxy: spec.HAProxy, ReplicaCheck: "/replica", StatsURI: haproxyStatsURI, RWProxy: haproxyRWProxy}
	if spec.HAProxy.ReplicaMaxLag != "" {
		v.HAProxy.ReplicaCheck = "/replica?lag=" + spec.HAProxy.ReplicaMaxLag
	}

	vip, err := newVIPView(spec, *self, comp, sec)
	if err != nil {
		return nil, err
	}
	v.VIP = vip

	v.LeaderFlag = comp.Patroni.LeaderFlag()
	v.Bin = binView{
		Patroni: comp.Patroni.Bin, Patronictl: comp.Patroni.Ctl,
		Etcd: comp.Etcd.Bin, Etcdctl: comp.Etcd.Ctl, HAProxy: comp.HAProxy.Bin,
	}
	// HAProxy before 1.8 has no master-worker mode for systemd: EL7's 1.5
	// runs under its haproxy-systemd-wrapper.
	// A preinstalled HAProxy of unknown version on el7 is the distribution's 1.5.
	if comp.HAProxy.NeedsSystemdWrapper() || (comp.HAProxy.Version == "" && spec.Cluster.OS == "el7") {
		v.Bin.HAProxyWrapper = path.Join(path.Dir(comp.HAProxy.Bin), "haproxy-systemd-wrapper")
	}
	return v, nil
}

func hasAny(m map[string]interface{}, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func useRewind(spec *cluster.Spec) bool {
	return spec.Patroni.UsePgRewind == nil || *spec.Patroni.UsePgRewind
}

// defaultParameters are the settings every member needs, before the spec's own.
func defaultParameters(major int) map[string]interface{} {
	p := map[string]interface{}{
		"wal_level":             "replica",
		"hot_standby":           "on",
		"wal_log_hints":         "on",
		"max_connections":       100,
		"max_wal_senders":       10,
		"max_replication_slots": 10,
	}
	if major >= 13 {
		p["wal_keep_size"] = "128MB"
	} else {
		p["wal_keep_segments"] = 8
	}
	if major >= 10 {
		p["password_encryption"] = "scram-sha-256"
	} else {
		p["password_encryption"] = "md5"
	}
	return p
}

// authMethod follows password_encryption: a scram pg_hba line cannot check an
// md5-hashed password.
func authMethod(params map[string]interface{}, major int) string {
	if major >= 10 && fmt.Sprint(params["password_encryption"]) == "scram-sha-256" {
		return "scram-sha-256"
	}
	return "md5"
}

// hbaLines derives pg_hba from the topology: replication needs explicit lines
// ("all" does not match the replication pseudo-database) for every member and
// for loopback, from where local tools and same-host members connect.
func hbaLines(spec *cluster.Spec, method string) []string {
	line := func(typ, db, user, addr string) string {
		return fmt.Sprintf("%-7s %-12s %-12s %-20s %s", typ, db, user, addr, method)
	}
	out := []string{
		fmt.Sprintf("%-7s %-12s %-12s %-20s %s", "local", "all", "all", "", "peer"),
		line("host", "all", "all", "127.0.0.1/32"),
		line("host", "all", "all", "::1/128"),
		line("host", "replication", users.Replication, "127.0.0.1/32"),
		line("host", "replication", users.Replication, "::1/128"),
	}
	for _, n := range spec.Nodes {
		out = append(out, line("host", "replication", users.Replication, hostCIDR(n.Address)))
	}
	for _, n := range spec.Nodes {
		out = append(out, line("host", "all", "all", hostCIDR(n.Address)))
	}
	for _, c := range spec.Network.Clients {
		out = append(out, line("host", "all", "all", c))
	}
	return append(out, spec.PostgreSQL.HBA...)
}

func hostCIDR(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return addr + "/128"
	}
	return addr + "/32"
}
