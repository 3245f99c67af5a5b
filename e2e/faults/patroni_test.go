//go:build e2e

package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// member is one entry of Patroni's GET /cluster.
type member struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	State string `json:"state"`
	Host  string `json:"host"`
	Lag   any    `json:"lag"`
}

// api returns an HTTPS client for Patroni's REST API that dials inside the
// test's namespace and verifies the nodes' certificates against the CA.
func (h *harness) api() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(h.ca)
	return &http.Client{
		Timeout: 3 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return h.dial(ctx, addr)
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}

// cluster asks n's Patroni for the members as it sees them.
func (h *harness) cluster(ctx context.Context, n *node) ([]member, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://%s:%d/cluster", n.addr, portAPI), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.api().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var c struct {
		Members []member `json:"members"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return nil, fmt.Errorf("%s /cluster: %w", n.name, err)
	}
	return c.Members, nil
}

// apiCall sends an authenticated request (PATCH /config, POST /switchover)
// to n's REST API.
func (h *harness) apiCall(ctx context.Context, n *node, method, path string, body any) (string, error) {
	resp, out, err := h.apiDo(ctx, n, method, path, body, h.sec.RestAPIPassword)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && h.oldSec != nil {
		// During a rotation: a member not upgraded yet takes the old
		// credentials only.
		resp, out, err = h.apiDo(ctx, n, method, path, body, h.oldSec.RestAPIPassword)
	}
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s %s on %s: %s: %s", method, path, n.name, resp.Status, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// apiDo sends one request with body as JSON to n's REST API as the REST
// API user with password.
func (h *harness) apiDo(ctx context.Context, n *node, method, path string, body any, password string) (*http.Response, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("https://%s:%d%s", n.addr, portAPI, path), bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(h.apiUser, password)
	req.Header.Set("Content-Type", "application/json")
	c := h.api()
	c.Timeout = 30 * time.Second
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out, nil
}

// topology is a healthy cluster as the harness wants it before a fault.
type topology struct {
	leader *node
	sync   *node
	others []*node // replicas, sync included
}

// members are the nodes that are members of the cluster (not out).
func (h *harness) members() []*node {
	var out []*node
	for _, n := range h.nodes {
		if !n.out {
			out = append(out, n)
		}
	}
	return out
}

func (h *harness) byName(name string) *node {
	for _, n := range h.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// waitHealthy polls until every node's Patroni agrees on one running
// leader, the others run as replicas (Debian's Patroni 3.0 says "running",
// later ones "streaming"), and (when wantSync) one of them is the
// synchronous standby.
func (h *harness) waitHealthy(ctx context.Context, timeout time.Duration, wantSync bool) (topology, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		topo, why := h.healthy(ctx, wantSync)
		if why == "" {
			return topo, nil
		}
		last = why
		if time.Now().After(deadline) {
			return topo, fmt.Errorf("cluster not healthy within %v: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return topo, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (h *harness) healthy(ctx context.Context, wantSync bool) (topology, string) {
	var topo topology
	var view string
	members := h.members()
	for i, n := range members {
		ms, err := h.cluster(ctx, n)
		if err != nil {
			return topo, fmt.Sprintf("%s: %v", n.name, err)
		}
		var parts []string
		for _, m := range ms {
			parts = append(parts, m.Name+"="+m.Role+"/"+m.State)
		}
		v := strings.Join(parts, " ")
		if i == 0 {
			view = v
		} else if v != view {
			return topo, fmt.Sprintf("views differ: %s vs %s", view, v)
		}
		if len(ms) != len(members) {
			return topo, "members: " + v
		}
		topo = topology{}
		for _, m := range ms {
			mn := h.byName(m.Name)
			if mn == nil {
				return topo, "unknown member " + m.Name
			}
			switch {
			case m.Role == "leader" && m.State == "running":
				topo.leader = mn
			case (m.Role == "replica" || m.Role == "sync_standby") && (m.State == "streaming" || m.State == "running"):
				topo.others = append(topo.others, mn)
				if m.Role == "sync_standby" {
					topo.sync = mn
				}
			default:
				return topo, "members: " + v
			}
		}
		if topo.leader == nil || (wantSync && topo.sync == nil) {
			return topo, "members: " + v
		}
	}
	if missing := h.notStreaming(ctx, topo.leader); len(missing) > 0 {
		return topo, fmt.Sprintf("not streaming from %s: %v", topo.leader.name, missing)
	}
	return topo, ""
}

// notStreaming returns the members that do not replicate from leader: not
// streaming in its pg_stat_replication (Patroni 3.0's "running" does not
// tell), or streaming without replaying. A member whose WAL forked from the
// leader's on a timeline of the same number (two promotions to it, see
// patroni/patroni#2689) connects and shows "streaming", but its replay
// stops at the fork ("record with incorrect prev-link"): every replica
// must replay past the leader's position of the check's start within
// replayWait, and none may report a position beyond it.
func (h *harness) notStreaming(ctx context.Context, leader *node) []string {
	target, ahead, err := h.ahead(ctx, leader)
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	if len(ahead) > 0 {
		return ahead
	}
	deadline := time.Now().Add(replayWait)
	for {
		rows, err := h.sql(ctx, pgAddr(leader), "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' AND replay_lsn >= '"+target+"'::pg_lsn")
		if err != nil {
			return []string{"(" + err.Error() + ")"}
		}
		got := map[string]bool{}
		for _, r := range rows {
			got[r[0]] = true
		}
		var missing []string
		for _, n := range h.members() {
			if n != leader && !got[n.name] {
				missing = append(missing, n.name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

// ahead returns leader's WAL position and the replicas that report a replay
// position beyond it: they promoted on their own (the same timeline number,
// another history), since no replica of this leader can have replayed what
// it has not written.
func (h *harness) ahead(ctx context.Context, leader *node) (string, []string, error) {
	rows, err := h.sql(ctx, pgAddr(leader), "SELECT pg_current_wal_lsn(), coalesce(string_agg(application_name, ' ') FILTER (WHERE replay_lsn > pg_current_wal_lsn()), '') FROM pg_stat_replication")
	if err != nil {
		return "", nil, fmt.Errorf("%s's position: %w", leader.name, err)
	}
	if len(rows) != 1 {
		return "", nil, fmt.Errorf("%s's position: %d rows", leader.name, len(rows))
	}
	return rows[0][0], strings.Fields(rows[0][1]), nil
}

// replayWait bounds how long a streaming replica may take to replay up to
// the leader's position of a moment before.
const replayWait = 5 * time.Second

// repair reinitialises (a new base backup) every member left on another
// history than the leader's: one that still does not replicate from the
// leader most members name 40 s on (a pg_rewind and restart on a busy
// machine take 20), or one that replicates but
// whose history file of the leader's timeline differs from the leader's
// (it promoted to the same timeline number itself; a replay that went on
// over the fork would otherwise go unseen). That is what an operator does
// after patroni/patroni#2689.
func (h *harness) repair(ctx context.Context) ([]string, error) {
	var reinit []string
	asked := map[string]time.Time{}
	var stuck time.Time
	deadline := time.Now().Add(4 * time.Minute)
	for {
		topo, why := h.healthy(ctx, false)
		var bad []string
		switch {
		case why == "":
			bad = h.diverged(ctx, topo.leader)
			if len(bad) == 0 {
				return reinit, nil
			}
			why = fmt.Sprintf("%v on another history than the leader %s", bad, topo.leader.name)
		default:
			// A member of the other history may stay "starting" (never
			// consistent) or stream without replaying: whatever Patroni
			// says of it, it does not replay from the leader most members
			// name.
			lead, err := h.leaderNow(ctx)
			var missing, ahead []string
			if err == nil {
				topo.leader = lead
				missing = h.notStreaming(ctx, lead)
				_, ahead, _ = h.ahead(ctx, lead)
			}
			switch {
			case len(ahead) > 0:
				bad = ahead // beyond the leader's WAL: on another history
			case len(missing) == 0:
				stuck = time.Time{}
			case stuck.IsZero():
				stuck = time.Now()
			case time.Since(stuck) > 40*time.Second:
				bad = missing
			}
		}
		if time.Now().After(deadline) {
			return reinit, fmt.Errorf("not healthy: %s", why)
		}
		for _, name := range bad {
			n := h.byName(name)
			if n == nil || n == topo.leader || time.Since(asked[name]) < 60*time.Second {
				continue
			}
			if _, err := h.apiCall(ctx, n, "POST", "/reinitialize", map[string]any{"force": true}); err == nil {
				asked[name] = time.Now()
				reinit = append(reinit, name)
			}
		}
		sleep(ctx, time.Second)
	}
}

// diverged returns the members whose copy of the history file of the
// leader's current timeline differs from the leader's: they promoted to
// that timeline number on their own.
func (h *harness) diverged(ctx context.Context, leader *node) []string {
	rows, err := h.sql(ctx, pgAddr(leader), "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
	if err != nil || len(rows) != 1 || rows[0][0] == "00000001" {
		return nil
	}
	q := fmt.Sprintf("SELECT coalesce(pg_read_file('pg_wal/%s.history', 0, 1000000, true), '')", rows[0][0])
	want, err := h.sql(ctx, pgAddr(leader), q)
	if err != nil || len(want) != 1 || want[0][0] == "" {
		return nil
	}
	var out []string
	for _, n := range h.nodes {
		if n == leader {
			continue
		}
		got, err := h.sql(ctx, pgAddr(n), q)
		if err == nil && len(got) == 1 && got[0][0] != "" && got[0][0] != want[0][0] {
			out = append(out, n.name)
		}
	}
	return out
}
