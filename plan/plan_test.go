package plan

import (
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

func TestParseFacts(t *testing.T) {
	f, err := ParseFacts([]byte("# c\ncluster c\npgdata /d\nport postgresql 5432 zone\nport etcd_peer 2380 members\nport haproxy_rw 5000 zone\nmember n1 10.0.0.1\nmember n2 10.0.0.2\nmask_unit postgresql.service\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"PGHA_CLUSTER": "c", "PGHA_PGDATA": "/d", "PGHA_PORT_POSTGRESQL": "5432", "PGHA_PORT_ETCD_PEER": "2380",
		"PGHA_ZONE_PORTS": "5432/tcp 5000/tcp", "PGHA_MEMBER_PORTS": "2380/tcp", "PGHA_MEMBERS": "n1=10.0.0.1 n2=10.0.0.2", "PGHA_MASK_UNITS": "postgresql.service"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	if _, err := ParseFacts([]byte("cluster  c\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("an empty field: %v, want an error with its line", err)
	}
}

func node(name string, files map[string]string, pkgs ...string) Node {
	n := Node{Payload: payload.Node{Name: name}}
	facts := "cluster c\nnode " + name + "\n"
	n.Payload.Add(payload.File{Path: layout.NodeFacts, Mode: 0o600, Owner: "root", Group: "root", Content: []byte(facts)})
	for p, c := range files {
		n.Payload.Add(payload.File{Path: p, Mode: 0o600, Owner: "postgres", Group: "postgres", Content: []byte(c)})
	}
	if err := n.Payload.Sort(); err != nil {
		panic(err)
	}
	for _, p := range pkgs {
		name, _, _ := strings.Cut(p, "-")
		n.Packages = append(n.Packages, rpm.Package{Name: name, NEVRA: p})
	}
	return n
}

// TestUpgradeModes: a package change rolls (switchover when leading), a
// file change applies the files and reloads what reads them, nothing
// changed is a receipt update; members added and removed are named.
func TestUpgradeModes(t *testing.T) {
	base := map[string]string{"/etc/patroni/patroni.yml": "a", "/etc/patroni/dcs.yml": "d", "/etc/haproxy/haproxy.cfg": "h"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	old := []Node{node("n1", base, "pg-15.4"), node("n2", base, "pg-15.4"), node("n3", base, "pg-15.4"), node("n4", base, "pg-15.4")}
	new := []Node{
		node("n1", base, "pg-15.5"),
		node("n2", with("/etc/haproxy/haproxy.cfg", "h2"), "pg-15.4"),
		node("n3", base, "pg-15.4"),
		node("n5", base, "pg-15.4"),
	}
	u, err := ForUpgrade("old", "new", old, new)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]NodeUpgrade{}
	for _, n := range u.Nodes {
		got[n.Node] = n
	}
	for name, mode := range map[string]string{"n1": "rolling", "n2": "configs", "n3": "none", "n4": "removed", "n5": "added"} {
		if got[name].Mode != mode {
			t.Errorf("%s: mode %q, want %q (%+v)", name, got[name].Mode, mode, got[name])
		}
	}
	if p := got["n1"].Packages; len(p) != 1 || p[0] != (PackageChange{"pg", "pg-15.4", "pg-15.5"}) {
		t.Errorf("n1 packages: %+v", p)
	}
	if a := strings.Join(got["n1"].Actions, "\n"); !strings.HasPrefix(a, "if this node leads: patronictl switchover") {
		t.Errorf("a rolling node does not switch over first when it leads:\n%s", a)
	}
	if a := strings.Join(got["n2"].Actions, "\n"); !strings.Contains(a, "reload HAProxy") || strings.Contains(a, "switchover") || strings.Contains(a, "Patroni") {
		t.Errorf("a haproxy.cfg change: %s", a)
	}
	if f := got["n2"].Files; len(f) != 1 || f[0] != (FileChange{"/etc/haproxy/haproxy.cfg", "changed"}) {
		t.Errorf("n2 files: %+v", f)
	}
	order := strings.Join(u.Order, "\n")
	if !strings.Contains(order, "patronictl -c /etc/patroni/patroni.yml list") || !strings.Contains(order, "leader last") || !strings.Contains(order, "switches the leadership over") {
		t.Errorf("order:\n%s", order)
	}
	if !strings.Contains(u.LeaderCheck, "live leader decides") {
		t.Errorf("leader check: %s", u.LeaderCheck)
	}

	// Configuration only: the leader is not switched over.
	u, _ = ForUpgrade("old", "new", old[1:3], new[1:3])
	if order := strings.Join(u.Order, "\n"); strings.Contains(order, "switches the leadership") || !strings.Contains(order, "no switchover") {
		t.Errorf("configs-only order:\n%s", order)
	}
	// A dcs.yml change is applied with patronictl edit-config.
	u, _ = ForUpgrade("old", "new", old[:1], []Node{node("n1", with("/etc/patroni/dcs.yml", "d2"), "pg-15.4")})
	if a := strings.Join(u.Nodes[0].Actions, "\n"); u.Nodes[0].Mode != "configs" || !strings.Contains(a, "patronictl edit-config") {
		t.Errorf("dcs.yml change: %s %s", u.Nodes[0].Mode, a)
	}
}
