package bundle

import (
	"os"
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
		single              bool     // the fixture's two nodes: pg1 founds, pg2 joins
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

// TestUninstallLeavesEtcd: uninstall.sh on a member whose etcd runs beside
// others removes it from etcd once Patroni is stopped and before its etcd
// stops, and deletes that member's etcd data (PGDATA stays); it refuses,
// stopping nothing, when the remaining members would not hold the quorum,
// and --keep-membership leaves etcd's membership alone.
func TestUninstallLeavesEtcd(t *testing.T) {
	const members = "8e9e05c52164694d, started, pg1, https://10.0.0.1:2379, https://10.0.0.1:2379, false\n" +
		"a1b2c3d4e5f60718, started, pg2, https://10.0.0.2:2380, https://10.0.0.2:2379, false\n" +
		"3344556677889900, started, pg3, https://10.0.0.3:2380, https://10.0.0.3:2379, false\n"
	for _, c := range []struct {
		name, dead string
		args       []string
		leaves     bool
		refused    string
	}{
		{name: "leaves", leaves: true},
		{name: "quorum would be lost", dead: "https://10.0.0.3:2379", refused: "only 1 healthy"},
		{name: "--keep-membership", dead: "https://10.0.0.3:2379", args: []string{"--keep-membership"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			in := testInput(t, h.dir)
			setFacts(t, &in, h.dir, func(s *cluster.Spec) {
				s.Nodes = append(s.Nodes, cluster.Node{Name: "pg3", Address: "10.0.0.3"})
			})
			h.extract(in)
			if out, code := h.run("install.sh"); code != 0 {
				t.Fatalf("install exit %d\n%s", code, out)
			}
			writeFile(t, h.root+"/var/lib/pgsql/16/data/PG_VERSION", "16\n")
			writeFile(t, h.root+"/var/lib/etcd/demo/member/snap/db", "x")
			writeFile(t, h.state+"/etcd-members", members)
			writeFile(t, h.state+"/etcd-dead", c.dead)
			out, code := h.run("uninstall.sh", c.args...)
			calls := h.calls()
			if c.refused != "" {
				if code == 0 || !strings.Contains(out, c.refused) {
					t.Fatalf("uninstall.sh exit %d, want a refusal saying %q:\n%s", code, c.refused, out)
				}
				if m := mutating(calls); len(m) > 0 {
					t.Errorf("the refused uninstall changed the host: %v", m)
				}
				return
			}
			if code != 0 {
				t.Fatalf("uninstall.sh exit %d\n%s", code, out)
			}
			// The remove goes to every member, its own included: any live
			// member may serve it.
			remove := index(calls, "etcdctl --endpoints=https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379")
			for i := remove; remove >= 0 && i < len(calls); i++ {
				if strings.Contains(calls[i], "member remove") {
					remove = i
					break
				}
			}
			removed := remove >= 0 && strings.Contains(calls[remove], "member remove a1b2c3d4e5f60718")
			if removed != c.leaves {
				t.Fatalf("member remove of pg2: %v, want %v\n%s", removed, c.leaves, strings.Join(calls, "\n"))
			}
			if !c.leaves {
				return
			}
			if p, e := index(calls, "systemctl stop patroni"), index(calls, "systemctl stop etcd"); !(p < remove && remove < e) {
				t.Errorf("stop patroni at %d, member remove at %d, stop etcd at %d: want that order", p, remove, e)
			}
			if _, err := os.Stat(h.root + "/var/lib/etcd/demo/member"); err == nil {
				t.Error("the removed member's etcd data is still there")
			}
			if _, err := os.Stat(h.root + "/var/lib/pgsql/16/data/PG_VERSION"); err != nil {
				t.Errorf("PGDATA gone without --purge: %v", err)
			}
		})
	}
}
