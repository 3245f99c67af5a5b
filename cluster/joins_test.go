package cluster

import (
	"strings"
	"testing"
)

// TestInitialMembers: the founders start with each other; a joining member
// with the founders, the joining members listed before it and itself, as
// etcd's membership is once install.sh's member add ran in spec order.
func TestInitialMembers(t *testing.T) {
	scaled := base + "  - {name: n4, address: 10.0.0.4, joins: true}\n  - {name: n5, address: 10.0.0.5, joins: true}\n"
	replaced := strings.Replace(base, "  - name: n1\n    address: 10.0.0.1\n", "  - name: n1\n    address: 10.0.0.1\n    joins: true\n", 1)
	for _, c := range []struct {
		name, yaml, node string
		want, state      string
	}{
		{"founder", base, "n2", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380", "new"},
		{"founder of a scaled cluster", scaled, "n1", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380", "new"},
		{"first joining member", scaled, "n4", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380,n4=https://10.0.0.4:2380", "existing"},
		{"second joining member", scaled, "n5", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380,n4=https://10.0.0.4:2380,n5=https://10.0.0.5:2380", "existing"},
		{"replacement listed first", replaced, "n1", "n1=https://10.0.0.1:2380,n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380", "existing"},
		{"founders beside a replacement", replaced, "n3", "n2=https://10.0.0.2:2380,n3=https://10.0.0.3:2380", "new"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, ps, err := parse("c.yaml", []byte(c.yaml))
			if err != nil || ps.Err() != nil {
				t.Fatalf("%v %s", err, ps)
			}
			var n Node
			for _, m := range s.Nodes {
				if m.Name == c.node {
					n = m
				}
			}
			if got := s.InitialClusterOf(n); got != c.want {
				t.Errorf("InitialClusterOf(%s) = %s, want %s", c.node, got, c.want)
			}
			if got := s.InitialClusterState(n); got != c.state {
				t.Errorf("InitialClusterState(%s) = %s, want %s", c.node, got, c.state)
			}
		})
	}
}
