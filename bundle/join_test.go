package bundle

import (
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// TestJoinEtcd: install.sh of a joining member (nodes[].joins) adds itself
// to etcd before its etcd first starts, removing first a dead member of its
// own name and peer URL, and refuses, with no member add and no etcd
// started, what would break etcd or what its initial-cluster cannot join.
func TestJoinEtcd(t *testing.T) {
	const (
		pg1     = "8e9e05c52164694d, started, pg1, https://10.0.0.1:2380, https://10.0.0.1:2379, false\n"
		deadPg2 = "a1b2c3d4e5f60718, started, pg2, https://10.0.0.2:2380, https://10.0.0.2:2379, false\n"
		pg3     = "3344556677889900, started, pg3, https://10.0.0.3:2380, https://10.0.0.3:2379, false\n"
		pg4     = "1122334455667788, unstarted, , https://10.0.0.4:2380, , false\n"
		other   = "99aa88bb77cc66dd, started, pg9, https://10.0.0.9:2380, https://10.0.0.9:2379, false\n"
		learner = "99aa88bb77cc66dd, started, pg9, https://10.0.0.9:2380, https://10.0.0.9:2379, true\n"
	)
	for _, c := range []struct {
		name, members, dead string
		single              bool // the fixture's two nodes: pg1 founds, pg2 joins
		wantCalls           []string // in this order
		refused             string
	}{
		{name: "joins", members: pg1 + pg3,
			wantCalls: []string{"etcdctl --endpoints=https://10.0.0.1:2379,https://10.0.0.3:2379", "member add pg2 --peer-urls=https://10.0.0.2:2380", "systemctl start --no-block etcd"}},
		{name: "replaces its dead predecessor", members: pg1 + deadPg2 + pg3,
			wantCalls: []string{"member remove a1b2c3d4e5f60718", "member add pg2 --peer-urls=https://10.0.0.2:2380", "systemctl start --no-block etcd"}},
		{name: "another member unstarted", members: pg1 + pg3 + pg4, refused: "was added but has not started"},
		{name: "a learner", members: pg1 + pg3 + learner, refused: "is a learner"},
		{name: "an unhealthy member", members: pg1 + pg3, dead: "https://10.0.0.1:2379", refused: "are not healthy"},
		{name: "members the bundle does not start with", members: pg1 + other, refused: "etcd's members are pg1 pg9; this bundle starts pg2 beside pg1 pg3"},
		{name: "a single founder", members: pg1, single: true, refused: "only 1 run until it starts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			in := testInput(t, h.dir)
			setFacts(t, &in, h.dir, func(s *cluster.Spec) {
				s.Nodes[1].Joins = true
				if !c.single {
					s.Nodes = append(s.Nodes, cluster.Node{Name: "pg3", Address: "10.0.0.3"})
				}
			})
			h.extract(in)
			writeFile(t, h.state+"/etcd-members", c.members)
			writeFile(t, h.state+"/etcd-dead", c.dead)
			out, code := h.run("install.sh")
			calls := strings.Join(h.calls(), "\n")
			if c.refused != "" {
				if code == 0 || !strings.Contains(out, c.refused) {
					t.Fatalf("install.sh exit %d, want a refusal saying %q:\n%s", code, c.refused, out)
				}
				for _, bad := range []string{"member add", "member remove", "systemctl start --no-block etcd"} {
					if strings.Contains(calls, bad) {
						t.Errorf("the refused join ran %q:\n%s", bad, calls)
					}
				}
				return
			}
			if code != 0 {
				t.Fatalf("install.sh exit %d\n%s", code, out)
			}
			prev := -1
			for _, w := range c.wantCalls {
				i := strings.Index(calls[prev+1:], w)
				if i < 0 {
					t.Fatalf("no %q after position %d in the calls:\n%s", w, prev, calls)
				}
				prev += 1 + i
			}
			// Once joined (member data present), a second run adds nothing.
			writeFile(t, h.root+"/var/lib/etcd/demo/member/snap/db", "")
			out, code = h.run("install.sh")
			if code != 0 || strings.Contains(strings.Join(h.calls(), "\n"), "member add") {
				t.Errorf("a second install.sh (exit %d) ran member add again:\n%s", code, out)
			}
		})
	}
}
