package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// base is a valid three-node spec of 11 lines; cases append to it (from
// line 12) or replace lines in it.
const base = `apiVersion: pgha-bundle/v1
cluster:
  name: pg
  os: el9
nodes:
  - name: n1
    address: 10.0.0.1
  - name: n2
    address: 10.0.0.2
  - name: n3
    address: 10.0.0.3
`

// longDomain is a valid 251-character DNS domain.
var longDomain = strings.TrimSuffix(strings.Repeat(strings.Repeat("b", 62)+".", 4), ".")

// nicGuessed is how the warning on a static spec that names neither a MAC
// address nor an interface starts. base, like most specs here, is such a
// spec: the tests of other rules leave that warning out (withoutNICGuess),
// and the cases that are about it keep it.
var nicGuessed = strings.SplitN(msgNICGuessed, "%s", 2)[0]

func withoutNICGuess(ps Problems) Problems {
	var out Problems
	for _, p := range ps {
		if !strings.HasPrefix(p.Message, nicGuessed) {
			out = append(out, p)
		}
	}
	return out
}

// parse is Parse without the NIC-guess warning.
func parse(file string, data []byte) (*Spec, Problems, error) {
	s, ps, err := Parse(file, data)
	return s, withoutNICGuess(ps), err
}

func TestBaseIsValid(t *testing.T) {
	_, ps, err := parse("c.yaml", []byte(base))
	if err != nil || len(ps) != 0 {
		t.Fatalf("base spec has problems:\n%s", ps)
	}
}

// badSpecs are bad specs with the exact text and position of every problem
// of each: at least one case for every rule (TestEveryRuleHasABadSpec).
var badSpecs = []struct {
	name string
	yaml string
	want []string
}{
	{"typo with suggestion", base + "patroni:\n  synchronus_mode: true\n", []string{
		`c.yaml:13:3: unknown key "synchronus_mode", did you mean "synchronous_mode"?`}},
	{"key in the wrong section", base + "postgresql:\n  synchronous_mode: true\n", []string{
		`c.yaml:13:3: unknown key "synchronous_mode" in postgresql; it belongs in patroni`}},
	{"unknown key without suggestion", base + "frobnicate: 1\n", []string{
		`c.yaml:12:1: unknown key "frobnicate" in the spec`}},
	{"duplicate key", base + "ports:\n  postgresql: 5433\n  postgresql: 5434\n", []string{
		`c.yaml:14:3: duplicate key "postgresql" (first set on line 13); keep one`}},
	{"wrong type int", base + "patroni:\n  ttl: 30s\n", []string{
		`c.yaml:13:8: patroni.ttl must be an integer, got "30s"`}},
	{"wrong type bool", base + "patroni:\n  synchronous_mode: yes\n", []string{
		`c.yaml:13:21: patroni.synchronous_mode must be true or false, got "yes"`}},
	{"wrong type list", base + "network:\n  dns: 10.0.0.254\n", []string{
		`c.yaml:13:8: network.dns must be a list, got "10.0.0.254"`}},
	{"wrong type mapping", base + "etcd: [a, b]\n", []string{
		`c.yaml:12:1: etcd must be a mapping of keys, got a list`}},
	{"bool for a string", base + "patroni:\n  watchdog: off\n", nil}, // yaml.v3 reads off as a string
	{"bool for a string, true", base + "patroni:\n  watchdog: true\n", []string{
		`c.yaml:13:13: patroni.watchdog must be a string, got "true"; quote it`}},
	{"missing apiVersion", strings.Replace(base, "apiVersion: pgha-bundle/v1\n", "", 1), []string{
		"c.yaml:1:1: apiVersion is missing; add `apiVersion: pgha-bundle/v1` at the top"}},
	{"wrong apiVersion", strings.Replace(base, "pgha-bundle/v1", "pgha-bundle/v2", 1), []string{
		`c.yaml:1:13: apiVersion "pgha-bundle/v2" is not supported; use "pgha-bundle/v1"`}},
	{"cluster name not a DNS label", strings.Replace(base, "name: pg\n", "name: PG_1\n", 1), []string{
		`c.yaml:3:9: cluster.name "PG_1" must be a DNS label (lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit): it is the Patroni scope`}},
	{"os missing", strings.Replace(base, "  os: el9\n", "", 1), []string{
		`c.yaml:2:1: cluster.os is required; use el7, el8 or el9`}},
	{"os unknown", strings.Replace(base, "os: el9", "os: el6", 1), []string{
		`c.yaml:4:7: cluster.os "el6" is not supported; use el7, el8 or el9`}},
	{"node name duplicated", strings.Replace(base, "name: n3", "name: n1", 1), []string{
		`c.yaml:10:11: node name "n1" is already used by nodes[0]`}},
	{"node name bad", strings.Replace(base, "name: n2", "name: -n2", 1), []string{
		`c.yaml:8:11: node name "-n2" must be a DNS label (lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit)`}},
	{"address invalid", strings.Replace(base, "10.0.0.2", "10.0.0.256", 1), []string{
		`c.yaml:9:14: address "10.0.0.256" is not a valid IPv4 or IPv6 address`}},
	{"address duplicated", strings.Replace(base, "10.0.0.3", "10.0.0.1", 1), []string{
		`c.yaml:11:14: address 10.0.0.1 is already used by node "n1"`}},
	{"address loopback", strings.Replace(base, "10.0.0.1", "127.0.0.11", 1), []string{
		`c.yaml:7:14: address "127.0.0.11" is a loopback address: a real cluster cannot form on it; set cluster.allow_loopback: true only for a local test cluster`}},
	{"address unspecified", strings.Replace(base, "10.0.0.1", "0.0.0.0", 1), []string{
		`c.yaml:7:14: address "0.0.0.0" is unspecified; give the node's real address`}},
	{"address multicast", strings.Replace(base, "10.0.0.1", "ff02::1", 1), []string{
		`c.yaml:7:14: address "ff02::1" is a multicast address; give the node's own unicast address`}},
	{"gateway outside the subnet", base + "network:\n  gateway: 10.0.1.1\n", []string{
		`c.yaml:13:12: network.gateway 10.0.1.1 is not in node "n1"'s subnet 10.0.0.0/24; fix the gateway, network.prefix or the node's address`,
		`c.yaml:13:12: network.gateway 10.0.1.1 is not in node "n2"'s subnet 10.0.0.0/24; fix the gateway, network.prefix or the node's address`,
		`c.yaml:13:12: network.gateway 10.0.1.1 is not in node "n3"'s subnet 10.0.0.0/24; fix the gateway, network.prefix or the node's address`}},
	{"port clash", base + "ports:\n  haproxy_rw: 5432\n", []string{
		`c.yaml:13:15: ports.haproxy_rw 5432 is already used by ports.postgresql; all seven ports must differ`}},
	{"port out of range", base + "ports:\n  etcd_peer: 70000\n", []string{
		`c.yaml:13:14: ports.etcd_peer 70000 is out of range 1-65535`}},
	{"patroni timing", base + "patroni:\n  retry_timeout: 15\n", []string{
		`c.yaml:13:18: patroni timing: loop_wait + 2*retry_timeout = 10 + 2*15 = 40 exceeds ttl 30; raise ttl or lower loop_wait or retry_timeout`}},
	{"sync count above replicas", strings.Replace(base, "    address: 10.0.0.3\n", "    address: 10.0.0.3\n    tags: {nosync: true}\n", 1) +
		"patroni:\n  synchronous_mode: true\n  synchronous_node_count: 2\n", []string{
		`c.yaml:15:27: patroni.synchronous_node_count 2 exceeds the 1 replicas that can be synchronous (members without nosync, minus the leader); lower it or add members`}},
	{"strict without sync", base + "patroni:\n  synchronous_mode_strict: true\n", []string{
		`c.yaml:13:28: patroni.synchronous_mode_strict needs synchronous_mode: true`}},
	{"even member count", base + "  - name: n4\n    address: 10.0.0.4\n", []string{
		`warning: c.yaml:5:1: an even number of members (4) adds no fault tolerance over 3; use an odd number`}},
	{"single member", strings.SplitAfter(base, "10.0.0.1\n")[0], []string{
		`warning: c.yaml:5:1: 1 member gives no fault tolerance; use 3 or 5 members`}},
	{"nofailover with priority", strings.Replace(base, "    address: 10.0.0.3\n", "    address: 10.0.0.3\n    tags:\n      nofailover: true\n      failover_priority: 2\n", 1), []string{
		`c.yaml:14:26: node "n3" has both nofailover and failover_priority; Patroni refuses that, keep one`}},
	{"watchdog value", base + "patroni:\n  watchdog: sometimes\n", []string{
		`c.yaml:13:13: patroni.watchdog "sometimes" is not supported; use off, automatic or required`}},
	{"archive nowhere", base + "archive:\n  enabled: true\n  directory: \"\"\n", []string{
		`c.yaml:12:1: archive is enabled with neither archive.directory nor archive.command; set one`}},
	{"managed parameter", base + "postgresql:\n  parameters:\n    port: 5433\n    listen_addresses: '*'\n", []string{
		`c.yaml:14:11: parameter port is set by Patroni from ports.postgresql; remove it`,
		`c.yaml:15:23: parameter listen_addresses is set by Patroni from the node's address (nodes[].address); remove it`}},
	{"parameter not scalar", base + "postgresql:\n  parameters:\n    shared_buffers: [1, 2]\n", []string{
		`c.yaml:14:5: parameter shared_buffers must be a string, number or boolean, got a list`}},
	{"removed parameter for the given major", base + "postgresql:\n  major: 16\n  parameters:\n    wal_keep_segments: 64\n    vacuum_defer_cleanup_age: 0\n", []string{
		`c.yaml:15:24: parameter wal_keep_segments was removed in PostgreSQL 13; use wal_keep_size (in MB: segments * 16)`,
		`c.yaml:16:31: parameter vacuum_defer_cleanup_age was removed in PostgreSQL 16; use hot_standby_feedback or a replication slot`}},
	{"parameter newer than the major", base + "postgresql:\n  major: 12\n  parameters:\n    wal_keep_size: 1GB\n", []string{
		`c.yaml:15:20: parameter wal_keep_size needs PostgreSQL 13 or later, the packages carry 12; use wal_keep_segments (size in MB / 16)`}},
	{"parameter name", base + "postgresql:\n  parameters:\n    \"work_mem #x\": 4MB\n", []string{
		`c.yaml:14:20: "work_mem #x" is not a PostgreSQL parameter name: use letters, digits and underscores (custom parameters: prefix.name)`}},
	{"hba shape", base + "postgresql:\n  pg_hba:\n    - host all all scram-sha-256\n    - hots all all 10.0.0.0/8 md5\n    - host all all 10.0.0.0/33 scram-sha-256\n", []string{
		`c.yaml:14:7: pg_hba line "host all all scram-sha-256" must be TYPE DATABASE USER ADDRESS METHOD [OPTIONS]`,
		`c.yaml:15:7: pg_hba line "hots all all 10.0.0.0/8 md5": unknown connection type "hots"; use local, host, hostssl, hostnossl, hostgssenc or hostnogssenc`,
		`c.yaml:16:7: pg_hba line "host all all 10.0.0.0/33 scram-sha-256": "10.0.0.0/33" is not a valid address or CIDR`}},
	{"etcd election below 5 heartbeats", base + "etcd:\n  heartbeat_interval: 300\n", []string{
		`c.yaml:12:1: etcd.election_timeout 1000 must be at least 5 times etcd.heartbeat_interval 300`}},
	{"every node joins", strings.NewReplacer("    address: 10.0.0.1\n", "    address: 10.0.0.1\n    joins: true\n", "    address: 10.0.0.2\n", "    address: 10.0.0.2\n    joins: true\n", "    address: 10.0.0.3\n", "    address: 10.0.0.3\n    joins: true\n").Replace(base), []string{
		`c.yaml:8:12: every node joins: a cluster needs the members that run it; leave joins out on the running (founding) members`}},
	{"joins with initial_cluster_state existing", base + "  - {name: n4, address: 10.0.0.4, joins: true}\n  - {name: n5, address: 10.0.0.5, joins: true}\netcd:\n  initial_cluster_state: existing\n", []string{
		`c.yaml:15:26: etcd.initial_cluster_state existing and nodes[].joins both say which members join; with joins, leave etcd.initial_cluster_state out (new)`}},
	{"joining a single member", strings.Replace(base, "  - name: n2\n    address: 10.0.0.2\n  - name: n3\n    address: 10.0.0.3\n", "  - {name: n2, address: 10.0.0.2, joins: true}\n  - {name: n3, address: 10.0.0.3, joins: true}\n", 1), []string{
		`warning: c.yaml:8:42: n2 joins a cluster of one member: etcd loses its quorum from the member add until the new member starts, so install.sh refuses it; grow a single-member cluster by hand (docs/operations.md)`}},
	{"etcd cluster state", base + "etcd:\n  initial_cluster_state: joining\n", []string{
		`c.yaml:13:26: etcd.initial_cluster_state "joining" is not supported; use new (first start) or existing (adding a member to a running cluster)`}},
	{"haproxy time", base + "haproxy:\n  timeout_client: 30 minutes\n", []string{
		`c.yaml:13:19: haproxy.timeout_client "30 minutes" is not an HAProxy time like 4s, 500ms or 30m`}},
	{"generation zero", strings.Replace(base, "  os: el9\n", "  os: el9\n  generation: 0\n", 1), []string{
		`c.yaml:5:15: cluster.generation must be at least 1, got 0`}},
	{"too many members", base + "  - {name: n4, address: 10.0.0.4}\n  - {name: n5, address: 10.0.0.5}\n  - {name: n6, address: 10.0.0.6}\n  - {name: n7, address: 10.0.0.7}\n  - {name: n8, address: 10.0.0.8}\n", []string{
		`c.yaml:5:1: 8 members are too many: every node runs etcd, which supports at most 7 members`}},
	{"reserved user", base + "users:\n  - name: postgres\n", []string{
		`c.yaml:13:11: user name "postgres" is an account the cluster's services use; choose another name`}},
	{"etcd in /etc", base + "etcd:\n  data_dir: /etc\n", []string{
		`c.yaml:13:13: etcd.data_dir /etc is a system directory: install.sh would give it to the etcd account (chown, mode 0700); use a directory of its own below it`}},
	{"etcd in /var/lib", base + "etcd:\n  data_dir: /var/lib\n", []string{
		`c.yaml:13:13: etcd.data_dir /var/lib is a system directory: install.sh would give it to the etcd account (chown, mode 0700); use a directory of its own below it`}},
	{"etcd in /etc/etcd", base + "etcd:\n  data_dir: /etc/etcd\n", []string{
		`c.yaml:13:13: etcd.data_dir /etc/etcd is inside /etc, which holds no data (configuration, devices, or files emptied at boot); use a directory under /var/lib or on a data file system`}},
	{"pgdata /srv/pg", base + "postgresql:\n  data_dir: /srv/pg\n", []string{
		`c.yaml:13:13: postgresql.data_dir /srv/pg: its parent /srv is a system directory, and Patroni writes its password file beside PGDATA as postgres; use a directory of its own, e.g. /srv/pgsql/data`}},
	{"pgdata equal etcd", base + "postgresql:\n  data_dir: /var/lib/etcd\n", []string{
		`c.yaml:13:13: postgresql.data_dir /var/lib/etcd: its parent /var/lib is a system directory, and Patroni writes its password file beside PGDATA as postgres; use a directory of its own, e.g. /var/lib/pgsql/data`,
		`c.yaml:13:13: postgresql.data_dir /var/lib/etcd is also the etcd data directory; each component needs a directory of its own`}},
	{"archive in pgdata", base + "postgresql:\n  data_dir: /data/pgsql/data\narchive:\n  enabled: true\n  directory: /data/pgsql/data/archive\n", []string{
		`warning: c.yaml:16:14: archive.directory: each member copies WAL into a directory of its own, so after a failover the WAL chain is split across machines and no point-in-time recovery is possible; use a backup section (pgBackRest, one repository for every member) instead`,
		`c.yaml:16:14: archive.directory /data/pgsql/data/archive is inside PGDATA /data/pgsql/data: the archive would be copied by every clone and lost with the data; put it beside PGDATA`}},
	{"archive in pgdata default major", base + "postgresql:\n  major: 16\narchive:\n  enabled: true\n  directory: /var/lib/pgsql/16/data/archive\n", []string{
		`warning: c.yaml:16:14: archive.directory: each member copies WAL into a directory of its own, so after a failover the WAL chain is split across machines and no point-in-time recovery is possible; use a backup section (pgBackRest, one repository for every member) instead`,
		`c.yaml:16:14: archive.directory /var/lib/pgsql/16/data/archive is inside PGDATA /var/lib/pgsql/16/data: the archive would be copied by every clone and lost with the data; put it beside PGDATA`}},
	{"etcd in pgdata parent", base + "postgresql:\n  data_dir: /data/pg\netcd:\n  data_dir: /data/etcd\n", []string{
		`c.yaml:15:13: etcd.data_dir /data/etcd is inside /data, the parent of PGDATA /data/pg, which install.sh makes postgres's own (mode 0700); move one of them`}},
	{"log dir system", base + "postgresql:\n  parameters:\n    log_directory: /var/log\n", []string{
		`c.yaml:14:20: postgresql.parameters.log_directory /var/log is a system directory: PostgreSQL would write its logs there as postgres; use a directory of its own below it`}},
	{"layout", base + "etcd:\n  data_dir: /var/lib/pgha-bundle/etcd\n", []string{
		`c.yaml:13:13: etcd.data_dir /var/lib/pgha-bundle/etcd overlaps /var/lib/pgha-bundle, which the node's tools use; choose another directory`}},
	{"unclean", base + "etcd:\n  data_dir: /var/lib/etcd/\npostgresql:\n  data_dir: \"/data/my pg\"\narchive:\n  directory: /data/../x\n", []string{
		`c.yaml:13:13: etcd.data_dir "/var/lib/etcd/" is not a clean path; write "/var/lib/etcd"`,
		`c.yaml:15:13: postgresql.data_dir "/data/my pg" may hold only letters, digits and . _ + @ - /: it is written unquoted into commands and units`,
		`c.yaml:17:14: archive.directory "/data/../x" is not a clean path; write "/x"`}},
	{"haproxy check_interval zero", base + "haproxy:\n  check_interval: 0s\n", []string{
		`c.yaml:13:19: haproxy.check_interval 0s is out of HAProxy's range: at least 1ms, at most 2147483647ms (about 24.8 days)`}},
	{"haproxy timeout too long", base + "haproxy:\n  timeout_client: 25d\n  timeout_server: 2147483648\n  timeout_connect: 99999999999999999999h\n", []string{
		`c.yaml:13:19: haproxy.timeout_client 25d is out of HAProxy's range: at least 1ms, at most 2147483647ms (about 24.8 days)`,
		`c.yaml:14:19: haproxy.timeout_server 2147483648 is out of HAProxy's range: at least 1ms, at most 2147483647ms (about 24.8 days)`,
		`c.yaml:15:20: haproxy.timeout_connect 99999999999999999999h is out of HAProxy's range: at least 1ms, at most 2147483647ms (about 24.8 days)`}},
	{"haproxy times at the limits", base + "haproxy:\n  timeout_client: 2147483647ms\n  timeout_server: 24d\n  timeout_connect: 1us\n  check_interval: 1\n", nil},
	{"haproxy maxconn range", base + "haproxy:\n  maxconn: 500001\n", []string{
		`c.yaml:13:12: haproxy.maxconn 500001 is more than 500000: HAProxy needs two file descriptors per connection`}},
	{"privileged ports", base + "ports:\n  postgresql: 543\n  etcd_peer: 80\n  haproxy_rw: 80\n", []string{
		`c.yaml:13:15: ports.postgresql 543 is below 1024, which the postgres account cannot bind; use 1024-65535`,
		`c.yaml:14:14: ports.etcd_peer 80 is below 1024, which the etcd account cannot bind; use 1024-65535`,
		`c.yaml:15:15: ports.haproxy_rw 80 is already used by ports.etcd_peer; all seven ports must differ`}},
	{"archive timeout", base + "archive:\n  timeout: 1073741824\n", []string{
		`c.yaml:13:12: archive.timeout 1073741824 is more than PostgreSQL's maximum of 1073741823 seconds`}},
	{"control characters", base + "archive:\n  enabled: true\n  command: \"cp %p /a/%f\\ntrue\"\n  restore_command: \"cp /a/%f %p\\r\"\npostgresql:\n  parameters:\n    application_name: \"a\\nb\"\n  pg_hba:\n    - \"host all all 10.0.0.0/8 scram-sha-256\\nhost all all 0.0.0.0/0 trust\"\n", []string{
		`c.yaml:14:12: archive.command holds a control character, which postgresql.conf cannot carry; write the command on one line`,
		`c.yaml:15:20: archive.restore_command holds a control character, which postgresql.conf cannot carry; write the command on one line`,
		`c.yaml:18:23: parameter application_name holds a control character, which postgresql.conf cannot carry`,
		`c.yaml:20:7: postgresql.pg_hba[0] holds a control character (a newline would start another pg_hba line); give each line as its own list item`}},
	{"etcd token spaces", base + "etcd:\n  token: \"my token\"\n", []string{
		`c.yaml:13:10: etcd.token "my token" must not hold spaces or control characters`}},
	{"mapped and link-local addresses", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: \"::ffff:10.0.0.1\"\n  - name: n2\n    address: fe80::2\n  - name: n3\n    address: 10.0.0.3\n", []string{
		`c.yaml:7:14: address "::ffff:10.0.0.1" is an IPv4-mapped IPv6 address; write it as IPv4: 10.0.0.1`,
		`c.yaml:9:14: address "fe80::2" is an IPv6 link-local address, which needs an interface and cannot carry the cluster; give the node's global or unique local address`,
		`c.yaml:11:14: address 10.0.0.3 is IPv4, but the cluster's first node is IPv6: in static mode every node shares network.prefix and network.gateway; use one family`}},
	{"mixed families", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.1\n  - name: n2\n    address: fd00::2\n  - name: n3\n    address: 10.0.0.3\nnetwork:\n  gateway: fd00::1\n", []string{
		`c.yaml:9:14: address fd00::2 is IPv6, but the cluster's first node is IPv4: in static mode every node shares network.prefix and network.gateway; use one family`,
		`c.yaml:13:12: network.gateway fd00::1 is IPv6, but the nodes' addresses are IPv4; give a gateway of the same family`}},
	{"mixed families dhcp", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.1\n  - name: n2\n    address: fd00::2\n  - name: n3\n    address: 10.0.0.3\nnetwork:\n  mode: dhcp\n", nil},
	{"network and broadcast addresses", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.0\n  - name: n2\n    address: 10.0.0.255\n  - name: n3\n    address: 10.0.1.255\nnetwork:\n  prefix: 23\n", []string{
		`c.yaml:7:14: address 10.0.0.0 is the network address of 10.0.0.0/23: no host can have it; fix the address or network.prefix`,
		`c.yaml:11:14: address 10.0.1.255 is the broadcast address of 10.0.0.0/23: no host can have it; fix the address or network.prefix`}},
	{"ipv6 anycast and /127", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: \"fd00::\"\n  - name: n2\n    address: \"fd00::1\"\n  - name: n3\n    address: \"fd00::2\"\n", []string{
		`c.yaml:7:14: address fd00:: is the subnet-router anycast address of fd00::/64: no host can have it; fix the address or network.prefix`}},
	{"ipv4 /31 is fine", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.0\nnetwork:\n  prefix: 31\n", []string{
		`warning: c.yaml:5:1: 1 member gives no fault tolerance; use 3 or 5 members`}},
	{"gateway broadcast", base + "network:\n  gateway: 10.0.0.255\n", []string{
		`c.yaml:13:12: network.gateway 10.0.0.255 is the broadcast address of 10.0.0.0/24: no router can have it; fix the gateway or network.prefix`}},
	{"gateway multicast", base + "network:\n  gateway: 224.0.0.1\n", []string{
		`c.yaml:13:12: network.gateway "224.0.0.1" is not a router's unicast address (unspecified, multicast or loopback)`}},
	{"gateway mapped", base + "network:\n  gateway: \"::ffff:10.0.0.254\"\n", []string{
		`c.yaml:13:12: network.gateway "::ffff:10.0.0.254" is an IPv4-mapped IPv6 address; write it as IPv4: 10.0.0.254`}},
	{"gateway family", base + "network:\n  gateway: fd00::1\n", []string{
		`c.yaml:13:12: network.gateway fd00::1 is IPv6, but the nodes' addresses are IPv4; give a gateway of the same family`}},
	{"dns checks", base + "network:\n  dns: [\"0.0.0.0\", \"::ffff:10.0.0.53\", 10.0.0.53, 10.0.0.54, 10.0.0.55]\n  search: [a.example, b.example, c.example, d.example, e.example, f.example, g.example]\n", []string{
		`warning: c.yaml:13:3: network.dns lists 5 servers; the resolver uses only the first 3`,
		`c.yaml:13:9: network.dns[0] "0.0.0.0" is not a name server's unicast address`,
		`c.yaml:13:20: network.dns[1] "::ffff:10.0.0.53" is an IPv4-mapped IPv6 address; write it as IPv4: 10.0.0.53`,
		`warning: c.yaml:14:3: network.search lists 7 domains; the resolver on EL7 uses only the first 6`}},
	{"timezone unknown", base + "network:\n  timezone: Europe/Atlantis\n", []string{
		`c.yaml:13:13: network.timezone "Europe/Atlantis" is not in the time zone database; use a name like UTC or Europe/Paris (timedatectl list-timezones)`}},
	{"timezone local", base + "network:\n  timezone: Local\n", []string{
		`c.yaml:13:13: network.timezone "Local" is not a time zone name like UTC or Europe/Paris`}},
	{"timezone ok", base + "network:\n  timezone: America/Argentina/Buenos_Aires\n", nil},
	{"timezone empty", base + "network:\n  timezone: \"\"\n", []string{
		`c.yaml:13:13: network.timezone "" is not a time zone name like UTC or Europe/Paris`}},
	{"mac addresses", strings.NewReplacer(
		"address: 10.0.0.1\n", "address: 10.0.0.1\n    mac_address: 52-54-00-12-34-56\n",
		"address: 10.0.0.2\n", "address: 10.0.0.2\n    mac_address: 01:00:5E:00:00:01\n",
		"address: 10.0.0.3\n", "address: 10.0.0.3\n    mac_address: \"00:00:00:00:00:00\"\n").Replace(base), []string{
		`c.yaml:8:18: mac_address "52-54-00-12-34-56" is not a MAC address; write six pairs of hex digits separated by colons, like 52:54:00:12:34:56`,
		`c.yaml:11:18: mac_address 01:00:5E:00:00:01 is a multicast address, which no NIC has; give the MAC address of the node's NIC`,
		`c.yaml:14:18: mac_address 00:00:00:00:00:00 is all zeros; give the MAC address of the node's NIC`}},
	{"mac duplicated, and a node without one", strings.NewReplacer(
		"address: 10.0.0.1\n", "address: 10.0.0.1\n    mac_address: 52:54:00:12:34:56\n",
		"address: 10.0.0.2\n", "address: 10.0.0.2\n    mac_address: 52:54:00:12:34:56\n").Replace(base), []string{
		`c.yaml:11:18: mac_address 52:54:00:12:34:56 is already node "n1"'s`,
		`warning: c.yaml:12:5: ` + fmt.Sprintf(msgNICGuessed, "n3")}},
	{"mac under dhcp", strings.Replace(base, "address: 10.0.0.1\n", "address: 10.0.0.1\n    mac_address: 52:54:00:12:34:56\n", 1) + "network:\n  mode: dhcp\n", []string{
		`warning: c.yaml:8:18: mac_address is ignored with network.mode dhcp (no network-config is written): remove it, or use mode static`}},
	{"static NIC guessed", base, []string{`warning: c.yaml:6:5: ` + fmt.Sprintf(msgNICGuessed, "n1, n2, n3")}},
	{"static NIC by MAC", strings.NewReplacer(
		"address: 10.0.0.1\n", "address: 10.0.0.1\n    mac_address: 52:54:00:00:00:01\n",
		"address: 10.0.0.2\n", "address: 10.0.0.2\n    mac_address: 52:54:00:00:00:02\n",
		"address: 10.0.0.3\n", "address: 10.0.0.3\n    mac_address: 52:54:00:00:00:03\n").Replace(base), nil},
	{"static NIC named", base + "network:\n  interface: ens192\n", nil},
	{"interface names", base + "network:\n  interface: \"eth0:1\"\n", []string{
		`c.yaml:13:14: network.interface "eth0:1" is not a valid interface name`}},
	{"replication loop of two", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.1\n  - name: n2\n    address: 10.0.0.2\n    tags: {replicatefrom: n3}\n  - name: n3\n    address: 10.0.0.3\n    tags: {replicatefrom: n2}\n", []string{
		`c.yaml:10:27: replicatefrom forms a loop: n2 -> n3 -> n2; no member of it would stream from the leader, so remove one of those tags`}},
	{"chain without loop is fine", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.1\n  - name: n2\n    address: 10.0.0.2\n    tags: {replicatefrom: n1}\n  - name: n3\n    address: 10.0.0.3\n    tags: {replicatefrom: n2}\n", nil},
	{"three-node loop", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - name: n1\n    address: 10.0.0.1\n    tags: {replicatefrom: n3}\n  - name: n2\n    address: 10.0.0.2\n    tags: {replicatefrom: n1}\n  - name: n3\n    address: 10.0.0.3\n    tags: {replicatefrom: n2}\n", []string{
		`c.yaml:8:27: replicatefrom forms a loop: n1 -> n3 -> n2 -> n1; no member of it would stream from the leader, so remove one of those tags`}},
	{"fqdn too long", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\n  domain: " + longDomain + "\nnodes:\n  - name: n1\n    address: 10.0.0.1\n", []string{
		`warning: c.yaml:6:1: 1 member gives no fault tolerance; use 3 or 5 members`,
		`c.yaml:7:11: node FQDN "n1.` + longDomain + `" is 254 characters, more than DNS allows (253); shorten the node name or cluster.domain`}},
	{"reserved system users", base + "users:\n  - name: daemon\n  - name: systemd-network\n", []string{
		`c.yaml:13:11: user name "daemon" is a system account of EL7-9; choose another name`,
		`c.yaml:14:11: user name "systemd-network" is a system account of EL7-9; choose another name`}},
	{"ssh keys", base + "users:\n  - name: admin\n    ssh_authorized_keys:\n      - ssh-ed25519 AAAAnotbase64 me\n      - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk2e9vVsJbq2tVg7hCPwnXjL1rQIUeY2nN7pwrUQ4Q3 a\\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk2e9vVsJbq2tVg7hCPwnXjL1rQIUeY2nN7pwrUQ4Q3 b\"\n      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk2e9vVsJbq2tVg7hCPwnXjL1rQIUeY2nN7pwrUQ4Q3 ok@example\n      - from=\"10.0.0.0/8\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGk2e9vVsJbq2tVg7hCPwnXjL1rQIUeY2nN7pwrUQ4Q3 ok-with-options\n      - ssh-dss AAAAB3NzaC1kc3MAAACBAOcS+xZMuiMuXoBsU+8MtFPbASLYukTR+tJX4gActfQW8pRTOc0Nt9e5dkgNP3q17Cvy6F3RIh47N/PS/4gzJrXKlmSnNcy5znESNlGh1cI1MPEm3xXgotHOTOgJXXy02yYyT4AGP8+YeV2DV/wwyN998k724ZjHQPFUVK5i1OEzAAAAFQD+FCZzjKvtHFFKEeLC9hlLYExR+QAAAIEAx5r/PcAXvGaDLQkwNx6q3MzoJVD+j+FQehW+i07/gFC9p9MsDZo963/UtHhw5s8eCupbEtQZ74aa6j4F9YYarNhOjIsDxMNP0dBqJzhVVs/lNRLmlC1CKAjnnU+p9VD3XP9GgyZEMNRhanbG9HaaQOLJNOsHKXekZvm0+MMMtFEAAACBAMJ0F9xXEURs7FfdazHqrOY+SUs804zvA8zTOFc9vXSmZda8o++TD7KGk+/K1O+FOIArkPaKdwPQXBfliqfD2haVqs7UdI+lt0vnts2dND/VoYPssh+t4CJpuoyikd2riEPex6E+Cb/7dRjTMjuKdc9eAaV7KCmFGytUiH38gyiZ dsa\n      - ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDP1+Avp4RXST0bQ7DwoQjcP0ZZH5MPqGYX+HIwnkd8H+wX5dOPnIxrJeg39XiNnMZryR3wTPmRydPkxJxzEv1iwk+JiYz7oD/IxfV+VCJZ1jRBgMcGrPohEsRLwej/Upu67XeP36GX9H8/G/nRjKSLlHcyh6CFv92WYpBZjAOzhQ== rsa1024\n", []string{
		`c.yaml:15:9: users[0].ssh_authorized_keys[0] is not a usable OpenSSH public key line (ssh-ed25519 AAAA... comment): it does not parse as an OpenSSH public key`,
		`c.yaml:16:9: users[0].ssh_authorized_keys[1] is not a usable OpenSSH public key line (ssh-ed25519 AAAA... comment): it holds more than one line; give each key as its own list item`,
		`c.yaml:19:9: users[0].ssh_authorized_keys[4] is not a usable OpenSSH public key line (ssh-ed25519 AAAA... comment): ssh-dss (DSA) keys are refused by OpenSSH 7.0 and later; use an ed25519 or RSA key`,
		`c.yaml:20:9: users[0].ssh_authorized_keys[5] is not a usable OpenSSH public key line (ssh-ed25519 AAAA... comment): a 1024-bit RSA key is too weak (EL9 refuses RSA keys under 2048 bits); use an ed25519 key or RSA of 3072 bits`}},
	{"key not a plain name", base + "[a, b]: 1\n", []string{
		`c.yaml:12:1: keys must be plain names`}},
	{"merge key", base + "haproxy: &h\n  maxconn: 10\netcd:\n  <<: *h\n", []string{
		`c.yaml:15:3: merge keys (<<) are not supported; write the keys out`}},
	{"path not absolute", base + "postgresql:\n  bin_dir: usr/pgsql-16/bin\n", []string{
		`c.yaml:13:12: postgresql.bin_dir "usr/pgsql-16/bin" must be an absolute path`}},
	{"cluster name missing", "apiVersion: pgha-bundle/v1\ncluster:\n  os: el9\nnodes:\n  - {name: n1, address: 10.0.0.1}\n  - {name: n2, address: 10.0.0.2}\n  - {name: n3, address: 10.0.0.3}\n", []string{
		`c.yaml:2:1: cluster.name is required: it is the Patroni scope and names the outputs`}},
	{"arch unknown", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\n  arch: ppc64le\nnodes:\n  - {name: n1, address: 10.0.0.1}\n", []string{
		`c.yaml:5:9: cluster.arch "ppc64le" is not supported; use x86_64 or aarch64`,
		`warning: c.yaml:6:1: 1 member gives no fault tolerance; use 3 or 5 members`}},
	{"no nodes", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes: []\n", []string{
		`c.yaml:5:1: the spec has no nodes; list the cluster members under nodes`}},
	{"domain bad and failover priority negative", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\n  domain: db_example.com\nnodes:\n  - {name: n1, address: 10.0.0.1, tags: {failover_priority: -1}}\n  - {name: n2, address: 10.0.0.2, tags: {replicatefrom: n9}}\n  - {name: n3, address: 10.0.0.3, tags: {replicatefrom: n3}}\n", []string{
		`c.yaml:5:11: cluster.domain "db_example.com" is not a valid DNS domain`,
		`c.yaml:7:61: failover_priority must be 0 or more, got -1`,
		`c.yaml:8:57: replicatefrom "n9" is not a node of this cluster`,
		`c.yaml:9:57: node "n3" cannot replicate from itself`}},
	{"no leader and two members", "apiVersion: pgha-bundle/v1\ncluster:\n  name: pg\n  os: el9\nnodes:\n  - {name: n1, address: 10.0.0.1, tags: {nofailover: true}}\n  - {name: n2, address: 10.0.0.2, tags: {nofailover: true}}\n", []string{
		`c.yaml:5:1: every node has nofailover: no member can become the leader`,
		`warning: c.yaml:5:1: 2 members give no fault tolerance: etcd needs both to keep quorum; use 3 or 5 members`}},
	{"network mode and prefix", base + "network:\n  mode: bridge\n  prefix: 33\n  gateway: 10.0.0.300\n", []string{
		`c.yaml:13:9: network.mode "bridge" is not supported; use static or dhcp`,
		`c.yaml:14:11: network.prefix 33 is out of range for IPv4 (1-32)`,
		`c.yaml:15:12: network.gateway "10.0.0.300" is not a valid IP address`}},
	{"gateway is a node", base + "network:\n  gateway: 10.0.0.2\n", []string{
		`c.yaml:13:12: network.gateway 10.0.0.2 is node "n2"'s own address`}},
	{"network lists", base + "network:\n  dns: [dns.example]\n  search: [-bad-]\n  ntp: [\"ntp server\"]\n  clients: [10.0.0.0/33, 0.0.0.0/0]\n", []string{
		`c.yaml:13:9: network.dns[0] "dns.example" is not a valid IP address`,
		`c.yaml:14:12: network.search[0] "-bad-" is not a valid DNS domain`,
		`c.yaml:15:9: network.ntp[0] "ntp server" is not a valid host name or IP address`,
		`c.yaml:16:13: network.clients[0] "10.0.0.0/33" is not a CIDR like 10.0.0.0/8`,
		`warning: c.yaml:16:26: network.clients[1] 0.0.0.0/0 lets every address connect; list the client networks instead`}},
	{"postgresql major old and md5", base + "postgresql:\n  major: 9\n  parameters:\n    password_encryption: md5\n", []string{
		`c.yaml:13:10: postgresql.major 9 is not supported; use 10 or later`,
		`warning: c.yaml:15:26: password_encryption md5 is deprecated and weak; use scram-sha-256`}},
	{"hba local shape, method and weak", base + "postgresql:\n  pg_hba:\n    - local all\n    - host all all 10.0.0.0/8 magic\n    - host all all 10.0.0.0/8 md5\n    - host all all 10.0.0.0/8 trust\n", []string{
		`c.yaml:14:7: pg_hba line "local all" must be local DATABASE USER METHOD [OPTIONS]`,
		`c.yaml:15:7: pg_hba line "host all all 10.0.0.0/8 magic": unknown method "magic"`,
		`warning: c.yaml:16:7: pg_hba line "host all all 10.0.0.0/8 md5" uses md5; use scram-sha-256`,
		`warning: c.yaml:17:7: pg_hba line "host all all 10.0.0.0/8 trust" trusts network connections without a password; use scram-sha-256`}},
	{"patroni lows", base + "patroni:\n  ttl: 10\n  loop_wait: 0\n  retry_timeout: 2\n  maximum_lag_on_failover: -1\n  synchronous_node_count: 0\n", []string{
		`c.yaml:13:8: patroni.ttl must be at least 20, got 10`,
		`c.yaml:14:14: patroni.loop_wait must be at least 1, got 0`,
		`c.yaml:15:18: patroni.retry_timeout must be at least 3, got 2`,
		`c.yaml:16:28: patroni.maximum_lag_on_failover must be 0 or more, got -1`,
		`c.yaml:17:27: patroni.synchronous_node_count must be at least 1, got 0`}},
	{"sync count without sync mode", base + "patroni:\n  synchronous_node_count: 2\n", []string{
		`warning: c.yaml:13:27: patroni.synchronous_node_count has no effect without synchronous_mode: true`}},
	{"archive commands", base + "archive:\n  enabled: true\n  command: cp /x /y\n  restore_command: cp /a/%f /b\n  timeout: -1\n", []string{
		`c.yaml:14:12: archive.command "cp /x /y" does not use %p, so it archives nothing`,
		`c.yaml:15:20: archive.restore_command "cp /a/%f /b" must use both %f and %p`,
		`c.yaml:16:12: archive.timeout must be 0 or more, got -1`}},
	{"archive command while off", base + "archive:\n  command: cp %p /a/%f\n", []string{
		`warning: c.yaml:13:12: archive.command is set but archive.enabled is false; nothing will be archived`}},
	{"haproxy lows", base + "haproxy:\n  maxconn: 0\n  replica_max_lag: 16 MB\n", []string{
		`c.yaml:13:12: haproxy.maxconn must be at least 1, got 0`,
		`c.yaml:14:20: haproxy.replica_max_lag "16 MB" is not a size like 16MB or 1048576`}},
	{"etcd heartbeat and election", base + "etcd:\n  heartbeat_interval: 0\n", []string{
		`c.yaml:13:23: etcd.heartbeat_interval must be at least 1, got 0`}},
	{"etcd election high", base + "etcd:\n  election_timeout: 60000\n  token: \"\"\n", []string{
		`c.yaml:13:21: etcd.election_timeout 60000 is more than etcd's maximum of 50000`,
		`c.yaml:14:10: etcd.token must not be empty; leave it out to use the cluster name`}},
	{"dir inside another", base + "etcd:\n  data_dir: /data/etcd\narchive:\n  enabled: true\n  directory: /data/etcd/wal\n", []string{
		`warning: c.yaml:16:14: archive.directory: each member copies WAL into a directory of its own, so after a failover the WAL chain is split across machines and no point-in-time recovery is possible; use a backup section (pgBackRest, one repository for every member) instead`,
		`c.yaml:16:14: archive.directory /data/etcd/wal is inside the etcd data directory /data/etcd; each component needs a directory of its own`}},
	{"users bad", base + "users:\n  - name: Admin\n  - name: ops\n    groups: [Wheel]\n  - name: ops\npackages:\n  allow_unsigned: true\n  keys: [\" \"]\n", []string{
		`c.yaml:13:11: user name "Admin" is not a valid account name (lowercase letters, digits, '_' and '-', at most 32 characters)`,
		`c.yaml:15:14: group name "Wheel" is not a valid group name`,
		`c.yaml:16:11: user name "ops" is already used by users[1]`,
		`warning: c.yaml:18:19: packages.allow_unsigned is true: packages without a valid signature will be installed`,
		`c.yaml:19:10: packages.keys[0] is empty`}},
	{"pgdata directly under /", base + "postgresql:\n  data_dir: /pgdata\n", []string{
		`c.yaml:13:13: postgresql.data_dir /pgdata: its parent / is a system directory, and Patroni writes its password file beside PGDATA as postgres; use a directory of its own, e.g. /pgsql/data`}},
	{"replication parameters", base + "postgresql:\n  parameters:\n    wal_level: minimal\n    max_wal_senders: 1\n    max_replication_slots: many\n", []string{
		`c.yaml:14:16: parameter wal_level minimal leaves no WAL for replicas (PostgreSQL refuses it with WAL senders); use replica or logical`,
		`c.yaml:15:22: parameter max_wal_senders 1 is fewer than the 2 replicas, which each need one; raise it`,
		`c.yaml:16:28: parameter max_replication_slots many must be a whole number from 0 to 262143`}},
	{"typo in a list item", strings.Replace(base, "    address: 10.0.0.2", "    adress: 10.0.0.2", 1), []string{
		`c.yaml:8:5: nodes[1].address is required`,
		`c.yaml:9:5: unknown key "adress", did you mean "address"?`}},
	{"wrong type hides the checks of what it holds", strings.Replace(base, "cluster:\n  name: pg\n  os: el9\n", "cluster: pg\n", 1), []string{
		`c.yaml:2:10: cluster must be a mapping of keys, got "pg"`}},
	{"two documents", base + "---\napiVersion: x\n", []string{
		`c.yaml:12:1: the spec must be a single YAML document; remove the extra documents`}},
	{"not YAML", "cluster: [\n", []string{
		`c.yaml:1:1: invalid YAML: did not find expected node content`}},
	{"empty", "# nothing\n", []string{`c.yaml: the spec is empty; start from ` + "`pgha-bundle init`"}},
	{"empty document", "---\n", []string{`c.yaml: the spec is empty; start from ` + "`pgha-bundle init`"}},
	{"null document", "--- ~\n...\n", []string{`c.yaml: the spec is empty; start from ` + "`pgha-bundle init`"}},
}

// TestBadSpecs checks the exact text and position of every problem of each
// bad spec.
func TestBadSpecs(t *testing.T) {
	for _, tt := range badSpecs {
		t.Run(tt.name, func(t *testing.T) {
			_, ps, _ := Parse("c.yaml", []byte(tt.yaml))
			if !strings.Contains(strings.Join(tt.want, "\n"), nicGuessed) {
				ps = withoutNICGuess(ps)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestEveryProblemAtOnce checks that one run reports every problem of a spec
// with many, errors and warnings, in document order.
func TestEveryProblemAtOnce(t *testing.T) {
	spec := `apiVersion: pgha-bundle/v1
cluster:
  name: pg
  os: el9
  arhc: x86_64
nodes:
  - name: n1
    address: 10.0.0.1
  - name: n1
    address: 10.0.0.1
ports:
  patroni_api: 5432
patroni:
  ttl: 25
  synchronous_mode_strict: true
postgresql:
  parameters:
    port: 5432
haproxy:
  check_interval: 0
etcd:
  data_dir: /etc
`
	_, ps, err := Parse("m.yaml", []byte(spec))
	want := []string{
		`m.yaml:5:3: unknown key "arhc", did you mean "arch"?`,
		`warning: m.yaml:6:1: 2 members give no fault tolerance: etcd needs both to keep quorum; use 3 or 5 members`,
		`warning: m.yaml:7:5: ` + fmt.Sprintf(msgNICGuessed, "n1, n1"),
		`m.yaml:9:11: node name "n1" is already used by nodes[0]`,
		`m.yaml:10:14: address 10.0.0.1 is already used by node "n1"`,
		`m.yaml:12:16: ports.patroni_api 5432 is already used by ports.postgresql; all seven ports must differ`,
		`m.yaml:14:8: patroni timing: loop_wait + 2*retry_timeout = 10 + 2*10 = 30 exceeds ttl 25; raise ttl or lower loop_wait or retry_timeout`,
		`m.yaml:15:28: patroni.synchronous_mode_strict needs synchronous_mode: true`,
		`m.yaml:18:11: parameter port is set by Patroni from ports.postgresql; remove it`,
		`m.yaml:20:19: haproxy.check_interval 0 is out of HAProxy's range: at least 1ms, at most 2147483647ms (about 24.8 days)`,
		`m.yaml:22:13: etcd.data_dir /etc is a system directory: install.sh would give it to the etcd account (chown, mode 0700); use a directory of its own below it`,
	}
	if got := strings.TrimSuffix(ps.String(), "\n"); got != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(ps.Errors()) != 9 || len(ps.Warnings()) != 2 {
		t.Errorf("%d errors, %d warnings; want 9 and 2", len(ps.Errors()), len(ps.Warnings()))
	}
	var se *SpecError
	if !errors.As(err, &se) || len(se.Problems) != 9 {
		t.Errorf("err = %v, want a *SpecError with the 9 errors", err)
	}
}

func TestDefaults(t *testing.T) {
	s, ps, err := parse("c.yaml", []byte(base))
	if err != nil || len(ps) != 0 {
		t.Fatalf("problems: %s", ps)
	}
	tr := true
	want := *s
	want.Cluster = Cluster{Name: "pg", OS: "el9", Arch: "x86_64", Generation: 1}
	want.Network = Network{Mode: "static", Interface: "eth0", Prefix: 24}
	want.Ports = Ports{5432, 8008, 2379, 2380, 5000, 5001, 7000}
	want.Patroni = Patroni{TTL: 30, LoopWait: 10, RetryTimeout: 10, MaximumLagOnFailover: 1048576,
		SynchronousNodeCount: 1, UsePgRewind: &tr, Watchdog: "off"}
	want.Archive = Archive{Directory: "/var/lib/pgsql/wal_archive"}
	want.HAProxy = HAProxy{MaxConn: 1000, ConnectTimeout: "4s", ClientTimeout: "30m", ServerTimeout: "30m", CheckInterval: "3s"}
	want.Etcd = Etcd{DataDir: "/var/lib/etcd", HeartbeatInterval: 100, ElectionTimeout: 1000, Token: "pg", InitialClusterState: "new"}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *s, want)
	}
	if got := s.DataDir(16); got != "/var/lib/pgsql/16/data" {
		t.Errorf("DataDir(16) = %q", got)
	}
	if got := s.ArchiveCommand(); got != "" {
		t.Errorf("archive command with archiving off = %q", got)
	}

	// Explicit values win over defaults, including an explicit false.
	s, _, _ = Parse("c.yaml", []byte(base+"patroni:\n  use_pg_rewind: false\npostgresql:\n  data_dir: /data/pg\n"))
	if *s.Patroni.UsePgRewind || s.DataDir(16) != "/data/pg" {
		t.Errorf("use_pg_rewind = %v, data_dir = %q", *s.Patroni.UsePgRewind, s.DataDir(16))
	}
	// An IPv6 cluster gets a /64 by default.
	s, ps, _ = parse("c.yaml", []byte(strings.NewReplacer("10.0.0.", "fd00::").Replace(base)))
	if s.Network.Prefix != 64 || len(ps) != 0 {
		t.Errorf("IPv6 prefix = %d, problems: %s", s.Network.Prefix, ps)
	}
}

// The end-to-end tests run a real cluster on 127.0.0.11-13.
func TestAllowLoopback(t *testing.T) {
	spec := strings.NewReplacer("  os: el9\n", "  os: el9\n  allow_loopback: true\n", "10.0.0.", "127.0.0.1").Replace(base)
	s, ps, err := parse("c.yaml", []byte(spec))
	if err != nil || len(ps) != 0 {
		t.Fatalf("problems: %s", ps)
	}
	if got := s.InitialCluster(); got != "n1=https://127.0.0.11:2380,n2=https://127.0.0.12:2380,n3=https://127.0.0.13:2380" {
		t.Errorf("InitialCluster = %q", got)
	}
}

func TestCheckForMajor(t *testing.T) {
	s, ps, err := parse("c.yaml", []byte(base+"postgresql:\n  parameters:\n    wal_keep_segments: 64\n    checkpoint_segments: 3\n    password_encryption: md5\n"))
	if err != nil {
		t.Fatal(err)
	}
	// md5 is doubtful whatever the major.
	if got := ps.String(); got != "warning: c.yaml:16:26: password_encryption md5 is deprecated and weak; use scram-sha-256\n" {
		t.Errorf("problems without a major: %s", got)
	}
	tests := []struct {
		major int
		want  string
	}{
		{10, "c.yaml:15:26: parameter checkpoint_segments was removed in PostgreSQL 9.5; use max_wal_size and min_wal_size\n"},
		{12, "c.yaml:15:26: parameter checkpoint_segments was removed in PostgreSQL 9.5; use max_wal_size and min_wal_size\n"},
		{13, "c.yaml:14:24: parameter wal_keep_segments was removed in PostgreSQL 13; use wal_keep_size (in MB: segments * 16)\n" +
			"c.yaml:15:26: parameter checkpoint_segments was removed in PostgreSQL 9.5; use max_wal_size and min_wal_size\n"},
	}
	for _, tt := range tests {
		if got := s.CheckForMajor(tt.major).String(); got != tt.want {
			t.Errorf("CheckForMajor(%d):\n%s\nwant:\n%s", tt.major, got, tt.want)
		}
	}
}

func TestProblemAt(t *testing.T) {
	s, _, _ := Parse("c.yaml", []byte(base))
	tests := []struct {
		path string
		want string
	}{
		{"nodes[1].address", "c.yaml:9:14: m"},
		{"nodes[1].tags.nofailover", "c.yaml:8:5: m"}, // not written: its node
		{"postgresql.bin_dir", "c.yaml:1:1: m"},       // no postgresql section: the document
		{"cluster.name", "c.yaml:3:9: m"},
	}
	for _, tt := range tests {
		if got := s.ProblemAt(tt.path, false, "m").String(); got != tt.want {
			t.Errorf("ProblemAt(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if got := s.ProblemAt("cluster.os", true, "x %d", 1).String(); got != "warning: c.yaml:4:7: x 1" {
		t.Errorf("warning = %q", got)
	}
}

func TestTopology(t *testing.T) {
	s, _, _ := Parse("c.yaml", []byte(strings.Replace(base, "  os: el9\n", "  os: el9\n  domain: db.example.\n", 1)+
		"ports:\n  etcd_client: 12379\n"))
	n2 := s.NodeByName("n2")
	if n2 == nil || n2.Address != "10.0.0.2" || s.NodeByName("n9") != nil {
		t.Fatalf("NodeByName: %+v", n2)
	}
	if got := s.FQDN(*n2); got != "n2.db.example" {
		t.Errorf("FQDN = %q", got)
	}
	if got := strings.Join(s.EtcdEndpoints(), ","); got != "https://10.0.0.1:12379,https://10.0.0.2:12379,https://10.0.0.3:12379" {
		t.Errorf("EtcdEndpoints = %q", got)
	}
	v6 := Node{Name: "x", Address: "fd00::1"}
	if got := s.EtcdPeerURL(v6); got != "https://[fd00::1]:2380" {
		t.Errorf("EtcdPeerURL(v6) = %q", got)
	}
	if got := s.PatroniAPIURL(*n2); got != "https://10.0.0.2:8008" {
		t.Errorf("PatroniAPIURL = %q", got)
	}
}

func TestSyncCandidates(t *testing.T) {
	tests := []struct {
		tags []Tags
		want int
	}{
		{[]Tags{{}, {}, {}}, 2},
		{[]Tags{{}, {}, {NoSync: true}}, 1},
		{[]Tags{{}, {NoFailover: true}, {NoFailover: true}}, 2},
		{[]Tags{{NoSync: true}, {NoFailover: true}, {NoFailover: true}}, 2}, // the leader is never a candidate
		{[]Tags{{}}, 0},
	}
	for _, tt := range tests {
		s := &Spec{}
		for _, tg := range tt.tags {
			s.Nodes = append(s.Nodes, Node{Tags: tg})
		}
		if got := s.SyncCandidates(); got != tt.want {
			t.Errorf("SyncCandidates(%+v) = %d, want %d", tt.tags, got, tt.want)
		}
	}
}
