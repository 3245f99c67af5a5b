package cluster

import "fmt"

// Every user-facing message of the spec, grouped by topic. Messages are
// lowercase, name the spec element and say what to do. Format strings take
// their arguments in the order of the placeholders.

// Reading and decoding.
const (
	msgEmpty             = "the spec is empty; start from `pgha-bundle init`"
	msgMultipleDocuments = "the spec must be a single YAML document; remove the extra documents"
	msgKeyNotScalar      = "keys must be plain names"
	msgMergeKey          = "merge keys (<<) are not supported; write the keys out"
)

func fmtSyntax(detail string) string { return "invalid YAML: " + detail }

func fmtUnknownKey(key, parent string) string {
	return fmt.Sprintf("unknown key %q in %s", key, parent)
}

func fmtUnknownKeySuggest(key, suggestion string) string {
	return fmt.Sprintf("unknown key %q, did you mean %q?", key, suggestion)
}

func fmtUnknownKeyElsewhere(key, parent, where string) string {
	return fmt.Sprintf("unknown key %q in %s; it belongs in %s", key, parent, where)
}

func fmtDuplicateKey(key string, firstLine int) string {
	return fmt.Sprintf("duplicate key %q (first set on line %d); keep one", key, firstLine)
}

func fmtWantMapping(path, got string) string {
	return fmt.Sprintf("%s must be a mapping of keys, got %s", path, got)
}

func fmtWantList(path, got string) string { return fmt.Sprintf("%s must be a list, got %s", path, got) }

func fmtWantString(path, got string) string {
	return fmt.Sprintf("%s must be a string, got %s; quote it", path, got)
}

func fmtWantInt(path, got string) string {
	return fmt.Sprintf("%s must be an integer, got %s", path, got)
}

func fmtWantBool(path, got string) string {
	return fmt.Sprintf("%s must be true or false, got %s", path, got)
}

func fmtParamNotScalar(name, got string) string {
	return fmt.Sprintf("parameter %s must be a string, number or boolean, got %s", name, got)
}

// Converting an Ansible inventory.
const (
	msgInventoryBinary  = "%s is not a text file (%s at byte %d): give the old playbook's Ansible INI inventory, e.g. its hosts file"
	msgInventoryNotUTF8 = "%s is not UTF-8 text (byte %d): convert it, e.g. iconv -f latin1 -t utf-8, or give the old playbook's Ansible INI inventory"
	msgInventoryLarge   = "%s is larger than %d MiB: that is not an Ansible INI inventory; give the old playbook's hosts file"
)

// Shared rules.
const (
	ruleDNSLabel    = "lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit"
	msgAbsPath      = "%s %q must be an absolute path"
	msgPathNotClean = "%s %q is not a clean path; write %q"
	msgPathChars    = "%s %q may hold only letters, digits and . _ + @ - /: it is written unquoted into commands and units"
	msgRequired     = "%s is required"
)

// Top level and cluster.
const (
	msgAPIVersionMissing = "apiVersion is missing; add `apiVersion: " + APIVersion + "` at the top"
	msgAPIVersionBad     = "apiVersion %q is not supported; use %q"
	msgClusterName       = "cluster.name %q must be a DNS label (" + ruleDNSLabel + "): it is the Patroni scope"
	msgClusterNameReq    = "cluster.name is required: it is the Patroni scope and names the outputs"
	msgOSRequired        = "cluster.os is required; use el7, el8 or el9"
	msgOSBad             = "cluster.os %q is not supported; use el7, el8 or el9"
	msgArchBad           = "cluster.arch %q is not supported; use x86_64 or aarch64"
	msgDomainBad         = "cluster.domain %q is not a valid DNS domain"
	msgGenerationLow     = "cluster.generation must be at least 1, got %d"
)

// Nodes and topology.
const (
	msgNoNodes             = "the spec has no nodes; list the cluster members under nodes"
	msgNodeNameBad         = "node name %q must be a DNS label (" + ruleDNSLabel + ")"
	msgNodeNameDup         = "node name %q is already used by nodes[%d]"
	msgAddressBad          = "address %q is not a valid IPv4 or IPv6 address"
	msgAddressUnspec       = "address %q is unspecified; give the node's real address"
	msgAddressMulticast    = "address %q is a multicast address; give the node's own unicast address"
	msgAddressLoopback     = "address %q is a loopback address: a real cluster cannot form on it; set cluster.allow_loopback: true only for a local test cluster"
	msgAddressDup          = "address %s is already used by node %q"
	msgMACBad              = "mac_address %q is not a MAC address; write six pairs of hex digits separated by colons, like 52:54:00:12:34:56"
	msgMACMulticast        = "mac_address %s is a multicast address, which no NIC has; give the MAC address of the node's NIC"
	msgMACZero             = "mac_address %s is all zeros; give the MAC address of the node's NIC"
	msgMACDup              = "mac_address %s is already node %q's"
	msgMACDHCP             = "mac_address is ignored with network.mode dhcp (no network-config is written): remove it, or use mode static"
	msgNICGuessed          = "static addressing goes to network.interface, left at its default eth0, and node(s) %s have no mac_address: EL7 to EL9 name a NIC by its slot (ens192 on vSphere), so the address may configure nothing; give each node's nodes[].mac_address, or set network.interface to the NIC's real name"
	msgAddressMapped       = "address %q is an IPv4-mapped IPv6 address; write it as IPv4: %s"
	msgAddressLinkLocal    = "address %q is an IPv6 link-local address, which needs an interface and cannot carry the cluster; give the node's global or unique local address"
	msgAddressFamily       = "address %s is %s, but the cluster's first node is %s: in static mode every node shares network.prefix and network.gateway; use one family"
	msgAddressNotHost      = "address %s is %s %s: no host can have it; fix the address or network.prefix"
	msgFQDNLong            = "node FQDN %q is %d characters, more than DNS allows (253); shorten the node name or cluster.domain"
	msgReplicateCycle      = "replicatefrom forms a loop: %s; no member of it would stream from the leader, so remove one of those tags"
	msgNoFailoverPrio      = "node %q has both nofailover and failover_priority; Patroni refuses that, keep one"
	msgFailoverPrioNeg     = "failover_priority must be 0 or more, got %d"
	msgFailoverPrioPatroni = "failover_priority needs Patroni 3.2 or later; the packages carry Patroni %s, which ignores it: remove the tag or ship a newer Patroni"
	msgReplicateFromBad    = "replicatefrom %q is not a node of this cluster"
	msgReplicateSelf       = "node %q cannot replicate from itself"
	msgNoLeader            = "every node has nofailover: no member can become the leader"
	msgAllJoin             = "every node joins: a cluster needs the members that run it; leave joins out on the running (founding) members"
	msgJoinsAndExisting    = "etcd.initial_cluster_state existing and nodes[].joins both say which members join; with joins, leave etcd.initial_cluster_state out (new)"
	msgJoinOne             = "%s joins a cluster of one member: etcd loses its quorum from the member add until the new member starts, so install.sh refuses it; grow a single-member cluster by hand (docs/operations.md)"
	msgOneMember           = "1 member gives no fault tolerance; use 3 or 5 members"
	msgTwoMembers          = "2 members give no fault tolerance: etcd needs both to keep quorum; use 3 or 5 members"
	msgEvenMembers         = "an even number of members (%d) adds no fault tolerance over %d; use an odd number"
	msgTooManyMembers      = "%d members are too many: every node runs etcd, which supports at most 7 members"
)

// Network.
const (
	msgNetModeBad        = "network.mode %q is not supported; use static or dhcp"
	msgInterfaceBad      = "network.interface %q is not a valid interface name"
	msgPrefixBad         = "network.prefix %d is out of range for %s (1-%d)"
	msgGatewayBad        = "network.gateway %q is not a valid IP address"
	msgGatewaySubnet     = "network.gateway %s is not in node %q's subnet %s; fix the gateway, network.prefix or the node's address"
	msgGatewayIsNode     = "network.gateway %s is node %q's own address"
	msgGatewayMapped     = "network.gateway %q is an IPv4-mapped IPv6 address; write it as IPv4: %s"
	msgGatewayNotHost    = "network.gateway %q is not a router's unicast address (unspecified, multicast or loopback)"
	msgGatewayFamily     = "network.gateway %s is %s, but the nodes' addresses are %s; give a gateway of the same family"
	msgGatewayNotHostNet = "network.gateway %s is %s %s: no router can have it; fix the gateway or network.prefix"
	msgDNSMapped         = "network.dns[%d] %q is an IPv4-mapped IPv6 address; write it as IPv4: %s"
	msgDNSNotHost        = "network.dns[%d] %q is not a name server's unicast address"
	msgDNSMany           = "network.dns lists %d servers; the resolver uses only the first 3"
	msgSearchMany        = "network.search lists %d domains; the resolver on EL7 uses only the first 6"
	msgTimezoneUnknown   = "network.timezone %q is not in the time zone database; use a name like UTC or Europe/Paris (timedatectl list-timezones)"
	msgDNSBad            = "network.dns[%d] %q is not a valid IP address"
	msgSearchBad         = "network.search[%d] %q is not a valid DNS domain"
	msgNTPBad            = "network.ntp[%d] %q is not a valid host name or IP address"
	msgTimezoneBad       = "network.timezone %q is not a time zone name like UTC or Europe/Paris"
	msgClientsBad        = "network.clients[%d] %q is not a CIDR like 10.0.0.0/8"
	msgClientsEveryone   = "network.clients[%d] %s lets every address connect; list the client networks instead"
)

// Ports.
const (
	msgPortRange      = "ports.%s %d is out of range 1-65535"
	msgPortClash      = "ports.%s %d is already used by ports.%s; all seven ports must differ"
	msgPortPrivileged = "ports.%s %d is below 1024, which the %s account cannot bind; use 1024-65535"
)

// PostgreSQL.
const (
	msgMajorOld         = "postgresql.major %d is not supported; use 10 or later"
	msgParamManaged     = "parameter %s is set by Patroni from %s; remove it"
	msgParamRemoved     = "parameter %s was removed in PostgreSQL %s; %s"
	msgParamAdded       = "parameter %s needs PostgreSQL %d or later, the packages carry %d; %s"
	msgEtcdClusterState = "etcd.initial_cluster_state %q is not supported; use new (first start) or existing (adding a member to a running cluster)"
	msgParamName        = "%q is not a PostgreSQL parameter name: use letters, digits and underscores (custom parameters: prefix.name)"
	msgMD5Password      = "password_encryption md5 is deprecated and weak; use scram-sha-256"
	msgHBAType          = "pg_hba line %q: unknown connection type %q; use local, host, hostssl, hostnossl, hostgssenc or hostnogssenc"
	msgHBAShapeHost     = "pg_hba line %q must be TYPE DATABASE USER ADDRESS METHOD [OPTIONS]"
	msgHBAShapeLoc      = "pg_hba line %q must be local DATABASE USER METHOD [OPTIONS]"
	msgHBAAddress       = "pg_hba line %q: %q is not a valid address or CIDR"
	msgHBAMethod        = "pg_hba line %q: unknown method %q"
	msgHBAWeak          = "pg_hba line %q uses %s; use scram-sha-256"
	msgHBATrust         = "pg_hba line %q trusts network connections without a password; use scram-sha-256"
	msgHBAControl       = "%s holds a control character (a newline would start another pg_hba line); give each line as its own list item"
	msgWalLevel         = "parameter wal_level %s leaves no WAL for replicas (PostgreSQL refuses it with WAL senders); use replica or logical"
	msgParamCount       = "parameter %s %s must be a whole number from 0 to 262143"
	msgParamTooFew      = "parameter %s %d is fewer than the %d replicas, which each need one; raise it"
	msgParamControl     = "parameter %s holds a control character, which postgresql.conf cannot carry"
)

// Patroni.
const (
	msgTTLLow          = "patroni.ttl must be at least 20, got %d"
	msgLoopWaitLow     = "patroni.loop_wait must be at least 1, got %d"
	msgRetryLow        = "patroni.retry_timeout must be at least 3, got %d"
	msgTiming          = "patroni timing: loop_wait + 2*retry_timeout = %d + 2*%d = %d exceeds ttl %d; raise ttl or lower loop_wait or retry_timeout"
	msgMaxLagNeg       = "patroni.maximum_lag_on_failover must be 0 or more, got %d"
	msgWatchdogBad     = "patroni.watchdog %q is not supported; use off, automatic or required"
	msgStrictNoSync    = "patroni.synchronous_mode_strict needs synchronous_mode: true"
	msgSyncCountLow    = "patroni.synchronous_node_count must be at least 1, got %d"
	msgSyncCountHigh   = "patroni.synchronous_node_count %d exceeds the %d replicas that can be synchronous (members without nosync, minus the leader); lower it or add members"
	msgSyncCountNoSync = "patroni.synchronous_node_count has no effect without synchronous_mode: true"
)

// Archive.
const (
	msgArchiveNowhere     = "archive is enabled with neither archive.directory nor archive.command; set one"
	msgArchiveCmdNoP      = "archive.command %q does not use %%p, so it archives nothing"
	msgRestoreCmdBad      = "archive.restore_command %q must use both %%f and %%p"
	msgArchiveTimeoutNeg  = "archive.timeout must be 0 or more, got %d"
	msgArchiveCmdOff      = "archive.command is set but archive.enabled is false; nothing will be archived"
	msgArchiveTimeoutHigh = "archive.timeout %d is more than PostgreSQL's maximum of %d seconds"
	msgCommandControl     = "%s holds a control character, which postgresql.conf cannot carry; write the command on one line"
)

// HAProxy and etcd.
const (
	msgMaxConnLow       = "haproxy.maxconn must be at least 1, got %d"
	msgHAProxyTime      = "haproxy.%s %q is not an HAProxy time like 4s, 500ms or 30m"
	msgHAProxyTimeRange = "haproxy.%s %s is out of HAProxy's range: at least 1ms, at most %dms (about 24.8 days)"
	msgMaxConnHigh      = "haproxy.maxconn %d is more than %d: HAProxy needs two file descriptors per connection"
	msgReplicaLagBad    = "haproxy.replica_max_lag %q is not a size like 16MB or 1048576"
	msgHeartbeatLow     = "etcd.heartbeat_interval must be at least 1, got %d"
	msgElectionLow      = "etcd.election_timeout %d must be at least 5 times etcd.heartbeat_interval %d"
	msgElectionHigh     = "etcd.election_timeout %d is more than etcd's maximum of 50000"
	msgEtcdTokenEmpty   = "etcd.token must not be empty; leave it out to use the cluster name"
	msgEtcdTokenBad     = "etcd.token %q must not hold spaces or control characters"
)

// Directories handed to service accounts.
const (
	msgDirSystem       = "%s %s is a system directory: %s; use a directory of its own below it"
	msgDirSystemTree   = "%s %s is inside %s, which holds no data (configuration, devices, or files emptied at boot); use a directory under /var/lib or on a data file system"
	msgDirLayout       = "%s %s overlaps %s, which the node's tools use; choose another directory"
	msgPGDATAParent    = "postgresql.data_dir %s: its parent %s is a system directory, and Patroni writes its password file beside PGDATA as postgres; use a directory of its own, e.g. %s"
	msgDirSame         = "%s %s is also %s; each component needs a directory of its own"
	msgDirInside       = "%s %s is inside %s %s; each component needs a directory of its own"
	msgArchiveInPGDATA = "archive.directory %s is inside PGDATA %s: the archive would be copied by every clone and lost with the data; put it beside PGDATA"
	msgDirInPGParent   = "%s %s is inside %s, the parent of PGDATA %s, which install.sh makes postgres's own (mode 0700); move one of them"
)

// Users and packages.
const (
	msgUserNameBad    = "user name %q is not a valid account name (lowercase letters, digits, '_' and '-', at most 32 characters)"
	msgUserNameDup    = "user name %q is already used by users[%d]"
	msgUserReserved   = "user name %q is an account the cluster's services use; choose another name"
	msgUserSystem     = "user name %q is a system account of EL7-9; choose another name"
	msgUserSSHKeyBad  = "users[%d].ssh_authorized_keys[%d] is not a usable OpenSSH public key line (ssh-ed25519 AAAA... comment): %s"
	msgGroupBad       = "group name %q is not a valid group name"
	msgAllowUnsigned  = "packages.allow_unsigned is true: packages without a valid signature will be installed"
	msgPackageKeyNone = "packages.keys[%d] is empty"
)
