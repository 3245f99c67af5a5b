package diff

import (
	"fmt"
	"io/fs"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// fixture describes a small cluster the way the renderer lays it out, with the
// knobs the test pairs turn. Until real builds are wired these payloads stand
// in for them; their file set and modes follow docs/layout.md.
type fixture struct {
	nodes          []string
	ttl            int
	maxConnections int
	superPW        string
	replPW         string
	statsPW        string
	etcdMode       fs.FileMode
	pgNEVRA        string
	generation     int
}

func baseFixture() fixture {
	return fixture{
		nodes:          []string{"pg1", "pg2", "pg3"},
		ttl:            30,
		maxConnections: 100,
		superPW:        "Zs9Kq2LmW8xPv4Rt",
		replPW:         "Rp7Hd3NcY6bTq1Wz",
		statsPW:        "St4Gf8JkL2mNp9Qx",
		etcdMode:       0o640,
		pgNEVRA:        "postgresql15-server-15.4-1PGDG.rhel9.x86_64",
		generation:     1,
	}
}

func (fx fixture) address(i int) string { return fmt.Sprintf("10.0.0.%d", 11+i) }

func (fx fixture) side(label string) *Side {
	s := &Side{Label: label, Kind: KindBuild}
	var initial string
	for i, n := range fx.nodes {
		if i > 0 {
			initial += ","
		}
		initial += fmt.Sprintf("%s=https://%s:2380", n, fx.address(i))
	}
	for i, name := range fx.nodes {
		addr := fx.address(i)
		dcs := fmt.Sprintf("ttl: %d\nloop_wait: 10\nretry_timeout: 10\npostgresql:\n  use_pg_rewind: true\n  parameters:\n    max_connections: %d\n    wal_level: replica\n", fx.ttl, fx.maxConnections)
		patroni := fmt.Sprintf(`scope: demo
name: %s
restapi:
  listen: %s:8008
  connect_address: %s:8008
etcd3:
  hosts: [%s:2379]
bootstrap:
  dcs:
    ttl: %d
    loop_wait: 10
    retry_timeout: 10
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: %d
        wal_level: replica
postgresql:
  listen: %s:5432
  connect_address: %s:5432
  data_dir: /var/lib/pgsql/15/data
  bin_dir: /usr/pgsql-15/bin
  authentication:
    superuser:
      username: postgres
      password: %q
    replication:
      username: replicator
      password: %q
  pg_hba:
    - local all all peer
    - host replication replicator %s/32 scram-sha-256
`, name, addr, addr, addr, fx.ttl, fx.maxConnections, addr, addr, fx.superPW, fx.replPW, addr)
		etcd := fmt.Sprintf("name: %s\ndata-dir: /var/lib/etcd\ninitial-advertise-peer-urls: https://%s:2380\ninitial-cluster: %s\ninitial-cluster-token: demo\ninitial-cluster-state: new\n", name, addr, initial)
		haproxy := fmt.Sprintf("global\n    maxconn 100\n\nlisten stats\n    mode http\n    bind *:7000\n    stats enable\n    stats auth admin:%s\n\nlisten primary\n    bind *:5000\n    option httpchk OPTIONS /primary\n    http-check expect status 200\n    server %s %s:5432 check port 8008\n", fx.statsPW, name, addr)
		env := fmt.Sprintf("PGHA_CLUSTER='demo'\nPGHA_NODE='%s'\nPGHA_ADDRESS='%s'\nPGHA_GENERATION='%d'\n", name, addr, fx.generation)
		n := Node{Name: name, HasSeed: true, HasPackages: true}
		n.Files = []payload.File{
			{Path: "/etc/etcd/etcd.conf.yml", Mode: fx.etcdMode, Owner: "root", Group: "etcd", Content: []byte(etcd)},
			{Path: "/etc/haproxy/haproxy.cfg", Mode: 0o640, Owner: "root", Group: "haproxy", Secret: true, Content: []byte(haproxy)},
			{Path: "/etc/patroni/dcs.yml", Mode: 0o600, Owner: "postgres", Group: "postgres", Content: []byte(dcs)},
			{Path: "/etc/patroni/patroni.yml", Mode: 0o600, Owner: "postgres", Group: "postgres", Secret: true, Content: []byte(patroni)},
			{Path: "/etc/pgha-bundle/node.env", Mode: 0o644, Owner: "root", Group: "root", Content: []byte(env)},
		}
		// As the renderer does: every place a secret value landed is a span.
		for i := range n.Files {
			f := &n.Files[i]
			if f.Spans = payload.FindSecrets(f.Content, fx.secrets()); len(f.Spans) > 0 {
				f.Secret = true
			}
		}
		n.Seed = []payload.File{
			{Path: "meta-data", Mode: 0o644, Content: []byte(fmt.Sprintf("instance-id: demo-%s-g%d\nlocal-hostname: %s\n", name, fx.generation, name))},
			{Path: "user-data", Mode: 0o644, Content: []byte(fmt.Sprintf("#cloud-config\nhostname: %s\nruncmd:\n  - [sh, -c, 'mount LABEL=cidata /mnt && /mnt/install.sh']\n", name))},
		}
		n.Packages = []rpm.Package{
			{Name: "etcd", NEVRA: "etcd-3.5.17-1.el9.x86_64"},
			{Name: "postgresql15-server", NEVRA: fx.pgNEVRA},
		}
		s.Nodes = append(s.Nodes, n)
	}
	return s
}

// secrets returns every secret value of the fixture, to look for in output.
func (fx fixture) secrets() []string { return []string{fx.superPW, fx.replPW, fx.statsPW} }
