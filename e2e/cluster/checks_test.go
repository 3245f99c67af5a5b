//go:build e2e

package e2ecluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// etcdMembers checks, with Debian's etcdctl (v3 API), that every endpoint
// answers healthy and the member list has want started members.
func etcdMembers(ctx context.Context, r *nsRoot, endpoints []string, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := r.etcdctl(ctx, endpoints, "--command-timeout=3s", "endpoint", "health"); err != nil {
		return err
	}
	out, err := r.etcdctl(ctx, endpoints, "--command-timeout=3s", "member", "list", "-w", "json")
	if err != nil {
		return err
	}
	var ml struct {
		Members []struct {
			Name       string   `json:"name"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if err := json.Unmarshal(out, &ml); err != nil {
		return fmt.Errorf("etcdctl member list: %w", err)
	}
	started := 0
	for _, m := range ml.Members {
		if m.Name != "" && len(m.ClientURLs) > 0 {
			started++
		}
	}
	if len(ml.Members) != want || started != want {
		return fmt.Errorf("etcd: %d members, %d started, want %d", len(ml.Members), started, want)
	}
	return nil
}

// etcdLeaseTTL returns the lease a key is attached to and the lease's
// remaining seconds. Patroni's etcd3 client keeps its leader lock by
// refreshing that lease (the key itself is not rewritten), so a remaining
// TTL that goes up is a refresh seen from outside.
func etcdLeaseTTL(ctx context.Context, ns *nsRoot, endpoints []string, key string) (lease, ttl int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := ns.etcdctl(ctx, endpoints, "--command-timeout=3s", "get", key, "-w", "json")
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		Kvs []struct {
			Lease int64 `json:"lease"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, fmt.Errorf("etcdctl get %s: %w", key, err)
	}
	if len(r.Kvs) == 0 || r.Kvs[0].Lease == 0 {
		return 0, 0, fmt.Errorf("etcd key %s is gone or has no lease", key)
	}
	lease = r.Kvs[0].Lease
	out, err = ns.etcdctl(ctx, endpoints, "--command-timeout=3s", "lease", "timetolive", strconv.FormatInt(lease, 16), "-w", "json")
	if err != nil {
		return 0, 0, err
	}
	var l struct {
		TTL int64 `json:"ttl"`
	}
	if err := json.Unmarshal(out, &l); err != nil {
		return 0, 0, fmt.Errorf("etcdctl lease timetolive: %w", err)
	}
	return lease, l.TTL, nil
}

// patroniMembers reads the cluster view from one member's REST API.
func patroniMembers(ctx context.Context, r *nsRoot, addr string, port int) ([]member, error) {
	var c struct {
		Members []member `json:"members"`
	}
	body, err := r.httpGet(ctx, fmt.Sprintf("https://%s/cluster", net.JoinHostPort(addr, strconv.Itoa(port))), "", "")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("patroni /cluster on %s: %w", addr, err)
	}
	sort.Slice(c.Members, func(i, j int) bool { return c.Members[i].Name < c.Members[j].Name })
	return c.Members, nil
}

// replication checks on the leader itself that want replicas are streaming
// and one of them is synchronous; it returns the synchronous one's address.
func replication(ctx context.Context, c pgConn, leaderAddr string, pgPort, want int) (string, error) {
	out, err := c.query(ctx, leaderAddr, pgPort,
		"SELECT r.client_addr, r.state, r.sync_state, r.application_name, coalesce(s.ssl, false) "+
			"FROM pg_stat_replication r LEFT JOIN pg_stat_ssl s USING (pid) ORDER BY r.application_name")
	if err != nil {
		return "", err
	}
	streaming, sync := 0, ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			continue
		}
		if f[4] != "t" {
			return "", fmt.Errorf("replication of %s to %s is not TLS:\n%s", f[3], leaderAddr, out)
		}
		if f[1] == "streaming" {
			streaming++
		}
		if f[2] == "sync" {
			sync = f[3]
		}
	}
	if streaming != want || sync == "" {
		return "", fmt.Errorf("pg_stat_replication on %s: %d streaming, synchronous %q; want %d streaming and one sync:\n%s",
			leaderAddr, streaming, sync, want, out)
	}
	return sync, nil
}

// routes checks HAProxy on one node: the read-write port reaches the primary
// at leaderAddr, the read-only port a replica.
func routes(ctx context.Context, c pgConn, addr string, p ports, leaderAddr string) error {
	out, err := c.query(ctx, addr, p.rw, "SELECT pg_is_in_recovery(), host(inet_server_addr())")
	if err != nil {
		return fmt.Errorf("haproxy rw on %s: %w", addr, err)
	}
	if out != "f|"+leaderAddr {
		return fmt.Errorf("haproxy rw on %s reached %q (in recovery|server), want the primary f|%s", addr, out, leaderAddr)
	}
	out, err = c.query(ctx, addr, p.ro, "SELECT pg_is_in_recovery(), host(inet_server_addr())")
	if err != nil {
		return fmt.Errorf("haproxy ro on %s: %w", addr, err)
	}
	if !strings.HasPrefix(out, "t|") || out == "t|"+leaderAddr {
		return fmt.Errorf("haproxy ro on %s reached %q (in recovery|server), want a replica", addr, out)
	}
	return nil
}

// haproxyStats reads HAProxy's CSV statistics and returns, per proxy, the
// status and last check result of every server ("UP|L7OK", "DOWN|L7STS", …). user and password come from the
// generated haproxy.cfg and are never printed.
func haproxyStats(ctx context.Context, ns *nsRoot, addr string, port int, user, password string) (map[string]map[string]string, error) {
	body, err := ns.httpGet(ctx, fmt.Sprintf("http://%s/;csv", net.JoinHostPort(addr, strconv.Itoa(port))), user, password)
	if err != nil {
		return nil, fmt.Errorf("haproxy stats on %s: %w", addr, err)
	}
	return parseStats(string(body))
}
