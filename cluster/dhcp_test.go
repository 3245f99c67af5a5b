package cluster

import (
	"strings"
	"testing"
)

func TestDHCPWarnsOnIgnoredFields(t *testing.T) {
	dhcp, err := ExampleFor(ExampleOptions{OS: "el9", Nodes: 3, DHCP: true, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	static := string(Example())
	withStatic := strings.Replace(string(dhcp), "  mode: dhcp\n",
		"  mode: dhcp\n  interface: ens3\n  prefix: 24\n  gateway: 192.168.0.1\n  dns: [192.168.0.1]\n  search: [example.com]\n", 1)
	tests := []struct {
		name  string
		spec  string
		want  []string // warnings, as printed
		notes int
	}{
		{"dhcp alone", string(dhcp), nil, 1},
		{"static fields under dhcp", withStatic, []string{
			"warning: c.yaml:36:14: network.interface is ignored with network.mode dhcp (no network-config is written; the DHCP server sets it): remove it, or use mode static",
			"warning: c.yaml:37:11: network.prefix is ignored with network.mode dhcp",
			"warning: c.yaml:38:12: network.gateway is ignored",
			"warning: c.yaml:39:3: network.dns is ignored",
			"warning: c.yaml:40:3: network.search is ignored",
		}, 1},
		{"static mode uses them", static, nil, 0},
		{"static fields under static", strings.Replace(static, "mode: static", "mode: static\n  search: [example.com]", 1), nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ps, err := Parse("c.yaml", []byte(tt.spec))
			if err != nil {
				t.Fatalf("%v\n%s", err, ps)
			}
			if len(ps.Errors()) != 0 || len(ps) != len(tt.want) {
				t.Fatalf("problems:\n%s", ps)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(ps[i].String(), w) {
					t.Errorf("problem %d = %q, want prefix %q", i, ps[i], w)
				}
			}
			notes := s.Notes()
			if len(notes) != tt.notes {
				t.Fatalf("notes: %v", notes)
			}
			if tt.notes == 1 {
				n := notes[0]
				if n.Path != "network.mode" || n.Line == 0 || !strings.Contains(n.Message, "must be a DHCP reservation") {
					t.Errorf("note %+v", n)
				}
			}
		})
	}
}
