package e2ecluster

import (
	"strings"
	"testing"
)

func TestHealthyTopology(t *testing.T) {
	m := func(name, role, state string) member { return member{Name: name, Role: role, State: state} }
	tests := []struct {
		name       string
		ms         []member
		want       int
		ok         bool
		leader     string
		syncStandy string
	}{
		{"healthy", []member{m("pg1", "leader", "running"), m("pg2", "sync_standby", "streaming"), m("pg3", "replica", "streaming")}, 3, true, "pg1", "pg2"},
		{"patroni 3.0 reports replicas as running", []member{m("pg1", "replica", "running"), m("pg2", "leader", "running"), m("pg3", "sync_standby", "running")}, 3, true, "pg2", "pg3"},
		{"no synchronous standby", []member{m("pg1", "leader", "running"), m("pg2", "replica", "streaming"), m("pg3", "replica", "streaming")}, 3, false, "", ""},
		{"two synchronous standbys", []member{m("pg1", "leader", "running"), m("pg2", "sync_standby", "streaming"), m("pg3", "sync_standby", "streaming")}, 3, false, "", ""},
		{"two leaders", []member{m("pg1", "leader", "running"), m("pg2", "leader", "running"), m("pg3", "sync_standby", "streaming")}, 3, false, "", ""},
		{"no leader", []member{m("pg1", "replica", "running"), m("pg2", "replica", "running"), m("pg3", "sync_standby", "streaming")}, 3, false, "", ""},
		{"leader not running", []member{m("pg1", "leader", "starting"), m("pg2", "sync_standby", "streaming"), m("pg3", "replica", "streaming")}, 3, false, "", ""},
		{"replica stopped", []member{m("pg1", "leader", "running"), m("pg2", "sync_standby", "streaming"), m("pg3", "replica", "stopped")}, 3, false, "", ""},
		{"member missing", []member{m("pg1", "leader", "running"), m("pg2", "sync_standby", "streaming")}, 3, false, "", ""},
		{"two-node view after a failover", []member{m("pg2", "sync_standby", "streaming"), m("pg3", "leader", "running")}, 2, true, "pg3", "pg2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := healthyTopology(tt.ms, tt.want)
			if (err == nil) != tt.ok {
				t.Fatalf("healthyTopology error = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (topo.leader.Name != tt.leader || topo.sync.Name != tt.syncStandy || len(topo.replicas) != tt.want-1) {
				t.Errorf("topology = leader %s sync %s replicas %d", topo.leader.Name, topo.sync.Name, len(topo.replicas))
			}
		})
	}
}

// statsCSV builds HAProxy's CSV (header names as HAProxy 2.6 writes them,
// trimmed to the columns read plus neighbours) from "proxy server status check" rows.
func statsCSV(rows ...string) string {
	var b strings.Builder
	b.WriteString("# pxname,svname,qcur,scur,status,weight,check_status,check_code,\n")
	seen := map[string]bool{}
	for _, r := range rows {
		f := strings.SplitN(r, " ", 4)
		if !seen[f[0]] {
			b.WriteString(f[0] + ",FRONTEND,,0,OPEN,,,,\n")
			seen[f[0]] = true
		}
		b.WriteString(f[0] + "," + f[1] + ",0,0," + f[2] + ",1," + f[3] + ",200,\n")
	}
	for px := range seen {
		b.WriteString(px + ",BACKEND,0,0,UP,1,,,\n")
	}
	return b.String()
}

func TestCheckedRouting(t *testing.T) {
	healthy := []string{
		"primary pg1 UP L7OK", "primary pg2 DOWN L7STS", "primary pg3 DOWN L7STS",
		"replicas pg1 DOWN L7STS", "replicas pg2 UP L7OK", "replicas pg3 UP L7OK",
	}
	with := func(i int, row string) []string {
		rows := append([]string(nil), healthy...)
		rows[i] = row
		return rows
	}
	tests := []struct {
		name string
		rows []string
		ok   bool
	}{
		{"healthy", healthy, true},
		{"check in progress is still a completed last check", with(0, "primary pg1 UP * L7OK"), true},
		{"not yet checked: HAProxy starts servers UP", with(1, "primary pg2 UP INI"), false},
		{"leader not yet checked", with(0, "primary pg1 UP INI"), false},
		{"a replica behind the read-write port", with(1, "primary pg2 UP L7OK"), false},
		{"leader DOWN", with(0, "primary pg1 DOWN L7STS"), false},
		{"the leader behind the read-only port", with(3, "replicas pg1 UP L7OK"), false},
		{"a replica missing from the read-only port", with(4, "replicas pg2 DOWN L4CON"), false},
		{"half-way state", with(1, "primary pg2 DOWN 1/2 L7STS"), false},
		{"no read-only proxy", healthy[:3], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := parseStats(statsCSV(tt.rows...))
			if err != nil {
				t.Fatal(err)
			}
			err = checkedRouting(st, "primary", "replicas", "pg1", []string{"pg2", "pg3"})
			if (err == nil) != tt.ok {
				t.Fatalf("checkedRouting error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParseStatsRejectsUnknownFormat(t *testing.T) {
	for _, body := range []string{"", "<html>401 Unauthorized</html>", "# pxname,svname,status\nprimary,pg1,UP\n"} {
		if _, err := parseStats(body); err == nil {
			t.Errorf("parseStats(%q) accepted it", body)
		}
	}
}

func TestPortsFromEnv(t *testing.T) {
	env := map[string]string{"PGHA_PORT_POSTGRESQL": "5432", "PGHA_PORT_PATRONI_API": "8008", "PGHA_PORT_ETCD_CLIENT": "2379",
		"PGHA_PORT_HAPROXY_RW": "5000", "PGHA_PORT_HAPROXY_RO": "5001", "PGHA_PORT_HAPROXY_STATS": "7000"}
	p, err := portsFromEnv(env)
	if err != nil || p != (ports{pg: 5432, api: 8008, etcdClient: 2379, rw: 5000, ro: 5001, stats: 7000}) {
		t.Fatalf("portsFromEnv = %+v, %v", p, err)
	}
	delete(env, "PGHA_PORT_HAPROXY_RO")
	if _, err := portsFromEnv(env); err == nil {
		t.Error("a missing port was accepted")
	}
}
