package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

func TestExampleValidates(t *testing.T) {
	s, ps, err := Parse("example.yaml", Example())
	if err != nil || len(ps) != 0 {
		t.Fatalf("the example has problems:\n%s", ps)
	}
	// Backups are a backup section, commented out: no local WAL archive.
	if got := s.ArchiveCommand(); got != "" || s.Backup != nil {
		t.Errorf("archive command = %q, backup %+v", got, s.Backup)
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

// example.yaml and examples/cluster.yaml are copies of Example() and
// examples/cluster-el9.yaml the el9 one `make example` builds; -update
// rewrites them.
func TestExampleFileMatches(t *testing.T) {
	testutil.Golden(t, "example.yaml", Example())
	testutil.Golden(t, "../examples/cluster.yaml", Example())
	el9, err := ExampleFor(ExampleOptions{OS: "el9", Nodes: 3, Sync: true, Backup: true})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "../examples/cluster-el9.yaml", el9)
}

// Every choice of the example validates without a problem (not even a
// warning) and is the cluster asked for.
func TestExampleForEveryChoice(t *testing.T) {
	for _, os := range []string{"el7", "el8", "el9"} {
		for _, nodes := range ExampleNodeCounts {
			for _, dhcp := range []bool{false, true} {
				for _, sync := range []bool{false, true} {
					o := ExampleOptions{OS: os, Nodes: nodes, DHCP: dhcp, Sync: sync, Backup: sync}
					t.Run(fmt.Sprintf("%s-%d-dhcp=%v-sync=%v", os, nodes, dhcp, sync), func(t *testing.T) {
						data, err := ExampleFor(o)
						if err != nil {
							t.Fatal(err)
						}
						s, ps, err := Parse("example.yaml", data)
						if err != nil || len(ps) != 0 {
							t.Fatalf("problems (%v):\n%s", err, ps)
						}
						mode := map[bool]string{false: "static", true: "dhcp"}[dhcp]
						if s.Cluster.OS != os || len(s.Nodes) != nodes || s.Network.Mode != mode || s.Patroni.SynchronousMode != sync {
							t.Errorf("got os %s, %d nodes, mode %s, sync %v", s.Cluster.OS, len(s.Nodes), s.Network.Mode, s.Patroni.SynchronousMode)
						}
						if dhcp && (s.Network.Gateway != "" || len(s.Network.DNS) != 0 || !strings.Contains(string(data), "DHCP reservation")) {
							t.Errorf("dhcp example sets static addressing or does not say addresses are reservations:\n%s", data)
						}
						if want := fmt.Sprintf("192.168.0.%d", 80+nodes); s.Nodes[nodes-1].Address != want {
							t.Errorf("last address %s, want %s", s.Nodes[nodes-1].Address, want)
						}
					})
				}
			}
		}
	}
}

func TestExampleForRefuses(t *testing.T) {
	for _, tc := range []struct {
		o    ExampleOptions
		want string
	}{
		{ExampleOptions{OS: "el6", Nodes: 3}, `os "el6": use el7, el8 or el9`},
		{ExampleOptions{OS: "el9", Nodes: 4}, "4 nodes: use 3, 5 or 7"},
		{ExampleOptions{OS: "el9", Nodes: 1}, "1 nodes: use 3, 5 or 7"},
		{ExampleOptions{OS: "el9", Nodes: 9}, "9 nodes: use 3, 5 or 7"},
	} {
		if _, err := ExampleFor(tc.o); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
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
