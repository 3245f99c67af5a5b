package e2ecluster

import (
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ports are the node's ports as its facts state them.
type ports struct {
	pg, api, etcdClient, rw, ro, stats int
}

func portsFromEnv(env map[string]string) (ports, error) {
	var p ports
	for key, dst := range map[string]*int{
		"PGHA_PORT_POSTGRESQL": &p.pg, "PGHA_PORT_PATRONI_API": &p.api, "PGHA_PORT_ETCD_CLIENT": &p.etcdClient,
		"PGHA_PORT_HAPROXY_RW": &p.rw, "PGHA_PORT_HAPROXY_RO": &p.ro, "PGHA_PORT_HAPROXY_STATS": &p.stats,
	} {
		v, err := strconv.Atoi(env[key])
		if err != nil {
			return p, fmt.Errorf("facts %s=%q: %w", key, env[key], err)
		}
		*dst = v
	}
	return p, nil
}

// member is one entry of Patroni's GET /cluster.
type member struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	State    string `json:"state"`
	Host     string `json:"host"`
	Timeline int    `json:"timeline"`
}

// topology is what the health gates check: one running leader, the other
// members running replicas, exactly one synchronous standby.
type topology struct {
	leader   member
	replicas []member
	sync     member
}

func describe(ms []member) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s=%s/%s", m.Name, m.Role, m.State))
	}
	return strings.Join(parts, " ")
}

func healthyTopology(ms []member, want int) (topology, error) {
	var t topology
	leaders, syncs := 0, 0
	for _, m := range ms {
		switch {
		case m.Role == "leader" && m.State == "running":
			t.leader = m
			leaders++
		case (m.Role == "replica" || m.Role == "sync_standby") && (m.State == "running" || m.State == "streaming"):
			t.replicas = append(t.replicas, m)
			if m.Role == "sync_standby" {
				t.sync = m
				syncs++
			}
		}
	}
	if len(ms) != want || leaders != 1 || len(t.replicas) != want-1 || syncs != 1 {
		return t, fmt.Errorf("patroni: %d members [%s], want %d with 1 running leader, %d running replicas, 1 sync standby",
			len(ms), describe(ms), want, want-1)
	}
	return t, nil
}

// parseStats reads HAProxy's CSV statistics into proxy → server →
// "status|last check" ("UP|L7OK", "DOWN|L4CON", …).
func parseStats(body string) (map[string]map[string]string, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats: unreadable csv: %v", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"pxname", "svname", "status", "check_status"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("haproxy stats: no %s column", h)
		}
	}
	out := map[string]map[string]string{}
	for _, row := range rows[1:] {
		if len(row) != len(rows[0]) {
			continue
		}
		px, sv, st := row[col["pxname"]], row[col["svname"]], row[col["status"]]+"|"+row[col["check_status"]]
		if sv == "FRONTEND" || sv == "BACKEND" {
			continue
		}
		if out[px] == nil {
			out[px] = map[string]string{}
		}
		out[px][sv] = st
	}
	return out, nil
}

// checkedRouting requires the stats to show every server checked, with
// exactly the leader UP behind the read-write proxy and exactly the replicas
// UP behind the read-only one (HAProxy before 3.1 starts servers UP until
// their first check, so "UP" alone right after a start proves nothing).
func checkedRouting(stats map[string]map[string]string, rw, ro, leader string, replicas []string) error {
	want := map[string]map[string]bool{rw: {leader: true}, ro: {}}
	for _, r := range replicas {
		want[ro][r] = true
	}
	for px, up := range want {
		servers, ok := stats[px]
		if !ok {
			return fmt.Errorf("haproxy stats: no proxy %q (have %v)", px, keys(stats))
		}
		for sv, st := range servers {
			status, check, _ := strings.Cut(st, "|")
			check = strings.TrimPrefix(check, "* ") // "* " marks a check in progress
			isUp := status == "UP"
			if !strings.HasPrefix(check, "L") || isUp != up[sv] || (!isUp && status != "DOWN") {
				return fmt.Errorf("haproxy %s: server %s is %q (status|last check), want %s after a completed check",
					px, sv, st, map[bool]string{true: "UP", false: "DOWN"}[up[sv]])
			}
		}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
