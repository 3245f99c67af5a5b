package cluster

import (
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

func TestExampleValidates(t *testing.T) {
	s, ps, err := Parse("example.yaml", Example())
	if err != nil || len(ps) != 0 {
		t.Fatalf("the example has problems:\n%s", ps)
	}
	if got := s.ArchiveCommand(); got != "test ! -f /var/lib/pgsql/wal_archive/%f && cp %p /var/lib/pgsql/wal_archive/%f" {
		t.Errorf("archive command = %q", got)
	}
	if s.Cluster.Name != "pgcluster" || len(s.Nodes) != 3 || s.Nodes[0].Name != "co7-node01" ||
		s.Nodes[2].Address != "192.168.0.83" || s.Cluster.OS != "el7" || !s.Patroni.SynchronousMode {
		t.Errorf("the example is not the playbook's cluster: %+v", s)
	}
	// The parameters keep their YAML types; "on" stays the string the user wrote.
	if v, ok := s.PostgreSQL.Parameters["hot_standby"].(string); !ok || v != "on" {
		t.Errorf("hot_standby = %#v, want the string \"on\"", s.PostgreSQL.Parameters["hot_standby"])
	}
	if v, ok := s.PostgreSQL.Parameters["max_connections"].(int); !ok || v != 200 {
		t.Errorf("max_connections = %#v, want the integer 200", s.PostgreSQL.Parameters["max_connections"])
	}
	if got := s.Path(s.Packages.Keys[0]); got != "RPM-GPG-KEY-pgha" {
		t.Errorf("key path = %q", got)
	}
}

// examples/cluster.yaml is a copy of Example(); -update rewrites it.
func TestExampleFileMatches(t *testing.T) {
	testutil.Golden(t, "../examples/cluster.yaml", Example())
}

func BenchmarkParseExample(b *testing.B) {
	data := Example()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse("example.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
