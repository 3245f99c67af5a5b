package templates

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// TestJoiningMembers: growing the cluster with nodes[].joins leaves the
// founders' etcd.conf.yml byte for byte as it was (upgrade.sh then has no
// reason to restart their etcd), and each joining member starts with the
// membership etcd has once its own member add ran, as existing.
func TestJoiningMembers(t *testing.T) {
	grown := loopbackSpec[:strings.Index(loopbackSpec, "network:")] +
		"  - {name: m4, address: 127.0.0.24, joins: true}\n  - {name: m5, address: 127.0.0.25, joins: true}\n" +
		loopbackSpec[strings.Index(loopbackSpec, "network:"):]
	sec := testSecrets(t)
	three, five := loadSpec(t, "three.yaml", []byte(loopbackSpec)), loadSpec(t, "five.yaml", []byte(grown))
	var members []secrets.Member
	for _, n := range five.Nodes {
		members = append(members, secrets.Member{Name: n.Name, FQDN: five.FQDN(n), Address: n.Address})
	}
	if _, err := sec.EnsureTLS(rand.Reader, time.Now(), five.Cluster.Name, secrets.NodeIdentities(members, true)); err != nil {
		t.Fatal(err)
	}
	before, err := RenderAll(three, el9Components, sec)
	if err != nil {
		t.Fatal(err)
	}
	after, err := RenderAll(five, el9Components, sec)
	if err != nil {
		t.Fatal(err)
	}
	if err := CrossCheck(after); err != nil {
		t.Errorf("the build's self-check refuses the grown cluster: %v", err)
	}
	for i, n := range before {
		a, _ := n.Lookup("/etc/etcd/etcd.conf.yml")
		b, _ := after[i].Lookup("/etc/etcd/etcd.conf.yml")
		if string(a.Content) != string(b.Content) {
			t.Errorf("%s: etcd.conf.yml changed by members joining:\n%s\n---\n%s", n.Name, a.Content, b.Content)
		}
		facts, _ := after[i].Lookup("/etc/pgha-bundle/node.facts")
		if !strings.Contains(string(facts.Content), "\nmember m5 127.0.0.25 joins\n") {
			t.Errorf("%s: node.facts does not mark m5 as joining:\n%s", n.Name, facts.Content)
		}
	}
	for _, c := range []struct{ node, cluster, initial string }{
		{"m4", `initial-cluster: "m1=https://127.0.0.21:23801,m2=https://127.0.0.22:23801,m3=https://127.0.0.23:23801,m4=https://127.0.0.24:23801"`, "etcd_initial_member m1\netcd_initial_member m2\netcd_initial_member m3\netcd_initial_member m4\n"},
		{"m5", `initial-cluster: "m1=https://127.0.0.21:23801,m2=https://127.0.0.22:23801,m3=https://127.0.0.23:23801,m4=https://127.0.0.24:23801,m5=https://127.0.0.25:23801"`, "etcd_initial_member m5\n"},
	} {
		for _, n := range after {
			if n.Name != c.node {
				continue
			}
			f, _ := n.Lookup("/etc/etcd/etcd.conf.yml")
			for _, want := range []string{c.cluster, `initial-cluster-state: "existing"`} {
				if !strings.Contains(string(f.Content), want+"\n") {
					t.Errorf("%s: etcd.conf.yml lacks %s:\n%s", n.Name, want, f.Content)
				}
			}
			facts, _ := n.Lookup("/etc/pgha-bundle/node.facts")
			for _, want := range []string{c.initial, "etcd_initial_cluster_state existing\n", "etcd_peer_url https://" + map[string]string{"m4": "127.0.0.24", "m5": "127.0.0.25"}[c.node] + ":23801\n"} {
				if !strings.Contains(string(facts.Content), want) {
					t.Errorf("%s: node.facts lacks %q:\n%s", n.Name, want, facts.Content)
				}
			}
		}
	}
}
