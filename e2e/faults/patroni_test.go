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
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("https://%s:%d%s", n.addr, portAPI, path), bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(h.apiUser, h.sec.RestAPIPassword)
	req.Header.Set("Content-Type", "application/json")
	c := h.api()
	c.Timeout = 30 * time.Second
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s %s on %s: %s: %s", method, path, n.name, resp.Status, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// topology is a healthy cluster as the harness wants it before a fault.
type topology struct {
	leader *node
	sync   *node
	others []*node // replicas, sync included
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
	for i, n := range h.nodes {
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
		if len(ms) != len(h.nodes) {
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

// notStreaming returns the members that do not stream from leader, as its
// pg_stat_replication says (Patroni 3.0's "running" does not tell).
func (h *harness) notStreaming(ctx context.Context, leader *node) []string {
	rows, err := h.sql(ctx, pgAddr(leader), "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
	if err != nil {
		return []string{"(" + err.Error() + ")"}
	}
	got := map[string]bool{}
	for _, r := range rows {
		got[r[0]] = true
	}
	var missing []string
	for _, n := range h.nodes {
		if n != leader && !got[n.name] {
			missing = append(missing, n.name)
		}
	}
	return missing
}

// repair reinitialises (a new base backup) every member that still does not
// stream from the leader 20 s after the members agree on the leader: what
// an operator does for a member left on a diverged timeline.
func (h *harness) repair(ctx context.Context) ([]string, error) {
	var reinit []string
	var stuck time.Time
	deadline := time.Now().Add(3 * time.Minute)
	for {
		topo, why := h.healthy(ctx, false)
		if why == "" {
			return reinit, nil
		}
		if time.Now().After(deadline) {
			return reinit, fmt.Errorf("not healthy: %s", why)
		}
		missing := []string(nil)
		if topo.leader != nil && strings.HasPrefix(why, "not streaming") {
			missing = h.notStreaming(ctx, topo.leader)
		}
		switch {
		case len(missing) == 0:
			stuck = time.Time{}
		case stuck.IsZero():
			stuck = time.Now()
		case time.Since(stuck) > 20*time.Second:
			for _, name := range missing {
				n := h.byName(name)
				if n == nil || n == topo.leader {
					continue
				}
				if _, err := h.apiCall(ctx, n, "POST", "/reinitialize", map[string]any{"force": true}); err == nil {
					reinit = append(reinit, name)
				}
			}
			stuck = time.Now().Add(40 * time.Second) // give the base backup time
		}
		sleep(ctx, time.Second)
	}
}
