// Package cluster holds the cluster spec: its types, strict YAML loading with
// positions, defaults, validation (every problem in one run) and the derived
// topology that the renderers use.
package cluster

// APIVersion is the only spec version this tool reads.
const APIVersion = "pgha-bundle/v1"

// Spec is a whole cluster: what `pgha-bundle build` reads from cluster.yaml.
// Every colocated node runs etcd, Patroni/PostgreSQL and HAProxy.
type Spec struct {
	APIVersion string     `yaml:"apiVersion"`
	Cluster    Cluster    `yaml:"cluster"`
	Nodes      []Node     `yaml:"nodes"`
	Network    Network    `yaml:"network"`
	Ports      Ports      `yaml:"ports"`
	PostgreSQL PostgreSQL `yaml:"postgresql"`
	Patroni    Patroni    `yaml:"patroni"`
	Archive    Archive    `yaml:"archive"`
	HAProxy    HAProxy    `yaml:"haproxy"`
	Etcd       Etcd       `yaml:"etcd"`
	Users      []User     `yaml:"users"`
	Packages   Packages   `yaml:"packages"`
	// VIP, when set, is one address for clients that moves between the
	// members (vip.go); nil when the spec has no vip section.
	VIP *VIP `yaml:"vip"`
	// Backup, when set, is the cluster's backups and WAL archive with
	// pgBackRest (backup.go); nil when the spec has no backup section.
	Backup *Backup `yaml:"backup"`
	// Bootstrap, when set, makes the new cluster a copy of another
	// cluster restored from its backups (bootstrap.go); nil for an empty
	// initdb.
	Bootstrap *Bootstrap `yaml:"bootstrap"`

	// file is the spec's file name, as given to Parse or Load.
	file string
	// pos maps a spec path (cluster.name, nodes[2].address) to where it was
	// written, so later stages can report problems against the spec.
	pos map[string]position
}

// Cluster names the cluster and its target.
type Cluster struct {
	// Name is the Patroni scope and the etcd key prefix; also names the output directory.
	Name string `yaml:"name"`
	// OS is the target distribution: el7, el8 or el9.
	OS string `yaml:"os"`
	// Arch is the target CPU architecture: x86_64 or aarch64.
	Arch string `yaml:"arch"`
	// Domain, when set, gives every node the FQDN <name>.<domain>.
	Domain string `yaml:"domain"`
	// Generation is part of every node's cloud-init instance-id: bump it to make
	// nodes run their first boot again.
	Generation int `yaml:"generation"`
	// AllowLoopback accepts loopback node addresses (127.0.0.0/8, ::1). It is
	// for local test clusters only: a real cluster on loopback cannot form.
	AllowLoopback bool `yaml:"allow_loopback"`
}

// Node is one cluster member.
type Node struct {
	// Name is the host name and the Patroni and etcd member name (a DNS label).
	Name string `yaml:"name"`
	// Address is the node's IPv4 or IPv6 address, used by every component.
	Address string `yaml:"address"`
	// MACAddress is the MAC address of the NIC that carries Address. With
	// static addressing, cloud-init finds that NIC by it and names it
	// network.interface, whatever name the kernel gave it (ens192 on vSphere).
	MACAddress string `yaml:"mac_address"`
	Tags       Tags   `yaml:"tags"`
	// VIPInterface, when set, is the interface that carries the virtual IP
	// on this node, where it differs from vip.interface.
	VIPInterface string `yaml:"vip_interface"`
	// Joins marks a member added to a running cluster (scaling out, or a
	// replacement of a dead member under the same name): its etcd starts
	// with initial-cluster-state existing, and its install.sh runs the etcd
	// member add itself. The founding members are the nodes without it.
	Joins bool `yaml:"joins"`
}

// Tags are Patroni member tags.
type Tags struct {
	NoFailover       bool   `yaml:"nofailover"`
	NoLoadBalance    bool   `yaml:"noloadbalance"`
	NoSync           bool   `yaml:"nosync"`
	CloneFrom        bool   `yaml:"clonefrom"`
	FailoverPriority *int   `yaml:"failover_priority"`
	ReplicateFrom    string `yaml:"replicatefrom"`
}

// Network is the addressing cloud-init applies at first boot.
type Network struct {
	// Mode is "static" (addresses from nodes[].address) or "dhcp" (no network-config).
	Mode      string   `yaml:"mode"`
	Interface string   `yaml:"interface"`
	Prefix    int      `yaml:"prefix"`
	Gateway   string   `yaml:"gateway"`
	DNS       []string `yaml:"dns"`
	Search    []string `yaml:"search"`
	NTP       []string `yaml:"ntp"`
	Timezone  string   `yaml:"timezone"`
	// Clients are the CIDRs allowed to connect to PostgreSQL (pg_hba) besides the members.
	Clients []string `yaml:"clients"`
}

// Ports are the TCP ports the cluster uses; all must differ.
type Ports struct {
	PostgreSQL   int `yaml:"postgresql"`
	PatroniAPI   int `yaml:"patroni_api"`
	EtcdClient   int `yaml:"etcd_client"`
	EtcdPeer     int `yaml:"etcd_peer"`
	HAProxyRW    int `yaml:"haproxy_rw"`
	HAProxyRO    int `yaml:"haproxy_ro"`
	HAProxyStats int `yaml:"haproxy_stats"`
}

// PostgreSQL holds the server settings; Parameters go to bootstrap.dcs.
type PostgreSQL struct {
	// DataDir is PGDATA; empty means the OS default for the server major.
	DataDir string `yaml:"data_dir"`
	// BinDir, when set, names a preinstalled server instead of one found in the packages.
	BinDir string `yaml:"bin_dir"`
	// Major is the server major version; taken from the packages when empty.
	Major      int                    `yaml:"major"`
	Parameters map[string]interface{} `yaml:"parameters"`
	// HBA lines are appended after the generated ones.
	HBA []string `yaml:"pg_hba"`
}

// Patroni holds DCS timing, synchronous replication and watchdog settings.
type Patroni struct {
	TTL                   int    `yaml:"ttl"`
	LoopWait              int    `yaml:"loop_wait"`
	RetryTimeout          int    `yaml:"retry_timeout"`
	MaximumLagOnFailover  int64  `yaml:"maximum_lag_on_failover"`
	SynchronousMode       bool   `yaml:"synchronous_mode"`
	SynchronousModeStrict bool   `yaml:"synchronous_mode_strict"`
	SynchronousNodeCount  int    `yaml:"synchronous_node_count"`
	FailsafeMode          bool   `yaml:"failsafe_mode"`
	UsePgRewind           *bool  `yaml:"use_pg_rewind"`
	Watchdog              string `yaml:"watchdog"`
	// Bin and Ctl name a preinstalled Patroni when it is not among the packages.
	Bin string `yaml:"bin"`
	Ctl string `yaml:"ctl"`
}

// Archive is WAL archiving.
type Archive struct {
	Enabled bool `yaml:"enabled"`
	// Directory is where WAL segments are copied when Command is empty.
	Directory string `yaml:"directory"`
	// Command overrides the generated archive_command.
	Command        string `yaml:"command"`
	RestoreCommand string `yaml:"restore_command"`
	Timeout        int    `yaml:"timeout"`
}

// HAProxy is the local load balancer on every node.
type HAProxy struct {
	MaxConn        int    `yaml:"maxconn"`
	ConnectTimeout string `yaml:"timeout_connect"`
	ClientTimeout  string `yaml:"timeout_client"`
	ServerTimeout  string `yaml:"timeout_server"`
	CheckInterval  string `yaml:"check_interval"`
	// ReplicaMaxLag, when set, routes read-only traffic only to replicas lagging less (e.g. "16MB").
	ReplicaMaxLag string `yaml:"replica_max_lag"`
	Bin           string `yaml:"bin"`
}

// Etcd is the DCS colocated on every node.
type Etcd struct {
	DataDir           string `yaml:"data_dir"`
	HeartbeatInterval int    `yaml:"heartbeat_interval"`
	ElectionTimeout   int    `yaml:"election_timeout"`
	// Token defaults to the cluster name; it must be the same on every member.
	Token string `yaml:"token"`
	// InitialClusterState is "new" for a cluster's first start; "existing"
	// makes every member join a running cluster, after an `etcdctl member
	// add` run by hand. nodes[].joins supersedes it: install.sh then runs the
	// member add itself. Members that already have data ignore it.
	InitialClusterState string `yaml:"initial_cluster_state"`
	Bin                 string `yaml:"bin"`
	Ctl                 string `yaml:"ctl"`
}

// User is an OS account cloud-init creates.
type User struct {
	Name              string   `yaml:"name"`
	Groups            []string `yaml:"groups"`
	Sudo              bool     `yaml:"sudo"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
}

// Packages is where the RPMs come from and how they are verified.
type Packages struct {
	Dir           string   `yaml:"dir"`
	Keys          []string `yaml:"keys"`
	AllowUnsigned bool     `yaml:"allow_unsigned"`
}
