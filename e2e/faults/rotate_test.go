//go:build e2e

package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// portStats is HAProxy's stats port (the spec's default).
const portStats = 7000

// e2eBin is the pgha-bundle the harness builds with.
func e2eBin(dir string) string {
	if bin := os.Getenv("PGHA_E2E_BIN"); bin != "" {
		return bin
	}
	return filepath.Join(dir, "pgha-bundle")
}

// rotatePasswords makes every password of the harness's secrets file anew
// with `pgha-bundle secrets rotate`, which must name each one and print
// no value; the harness keeps the old ones for the rolling window.
func (h *harness) rotatePasswords() error {
	dir := filepath.Join(h.work, "build")
	secPath := filepath.Join(dir, "secrets.yaml")
	out, err := run(h.ctx, e2eBin(dir), "secrets", "rotate", "-f", filepath.Join(dir, "cluster.yaml"), "--secrets", secPath)
	if err != nil {
		return err
	}
	sec, err := secrets.Load(secPath)
	if err != nil {
		return err
	}
	for _, v := range append(h.sec.Values(), sec.Values()...) {
		if strings.Contains(string(out), v) {
			return fmt.Errorf("secrets rotate printed a secret value")
		}
	}
	for _, name := range secrets.Rotatable {
		if !strings.Contains(string(out), "  password "+name+"\n") {
			return fmt.Errorf("secrets rotate does not name %s:\n%s", name, out)
		}
	}
	old := []string{h.sec.SuperuserPassword, h.sec.ReplicationPassword, h.sec.RewindPassword, h.sec.RestAPIPassword, h.sec.HAProxyStatsPassword}
	for i, v := range []string{sec.SuperuserPassword, sec.ReplicationPassword, sec.RewindPassword, sec.RestAPIPassword, sec.HAProxyStatsPassword} {
		if v == old[i] {
			return fmt.Errorf("secrets rotate kept the %s password", secrets.Rotatable[i])
		}
	}
	if sec.TLS.CACert != h.sec.TLS.CACert {
		return fmt.Errorf("secrets rotate changed the CA")
	}
	h.oldSec, h.sec = h.sec, sec
	h.redact = redactor(h.sec, h.oldSec)
	return nil
}

// checkRotated wants, after the rolling upgrade of rotated passwords:
// every replica streaming; on every member the new database passwords
// accepted and the old ones refused (superuser, replication and rewind
// roles), HAProxy's stats and Patroni's REST API taking the new
// credentials and refusing the old, and patronictl's authenticated calls
// working.
func (h *harness) checkRotated(ctx context.Context) error {
	topo, err := h.waitHealthy(ctx, 60*time.Second, true)
	if err != nil {
		return err
	}
	rows, err := h.sql(ctx, pgAddr(topo.leader), "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
	if err != nil {
		return err
	}
	if got := rows[0][0]; got != fmt.Sprint(len(h.nodes)-1) {
		return fmt.Errorf("%s replicas stream from %s, want %d", got, topo.leader.name, len(h.nodes)-1)
	}
	for _, n := range h.nodes {
		for _, r := range []struct{ user, cur, old string }{
			{h.pgUser, h.sec.SuperuserPassword, h.oldSec.SuperuserPassword},
			{"replicator", h.sec.ReplicationPassword, h.oldSec.ReplicationPassword},
			{"rewind_user", h.sec.RewindPassword, h.oldSec.RewindPassword},
		} {
			if err := h.login(ctx, n, r.user, r.cur); err != nil {
				return fmt.Errorf("%s: %s with the new password: %w", n.name, r.user, err)
			}
			if err := h.login(ctx, n, r.user, r.old); !authFailed(err) {
				return fmt.Errorf("%s: %s with the old password: %v, want it refused", n.name, r.user, err)
			}
		}
		for _, c := range []struct {
			pw   string
			want int
		}{{h.sec.HAProxyStatsPassword, http.StatusOK}, {h.oldSec.HAProxyStatsPassword, http.StatusUnauthorized}} {
			if got, err := h.statsCode(ctx, n, c.pw); err != nil || got != c.want {
				return fmt.Errorf("%s: HAProxy stats: %d (%v), want %d", n.name, got, err, c.want)
			}
		}
		for _, c := range []struct {
			pw   string
			want int
		}{{h.sec.RestAPIPassword, http.StatusAccepted}, {h.oldSec.RestAPIPassword, http.StatusUnauthorized}} {
			resp, out, err := h.apiDo(ctx, n, http.MethodPost, "/reload", nil, c.pw)
			if err != nil || resp.StatusCode != c.want {
				return fmt.Errorf("%s: POST /reload: %v %s, want %d", n.name, err, out, c.want)
			}
		}
		if out, err := n.exec(ctx, "patronictl", "-c", "/etc/patroni/patroni.yml", "reload", clusterName, n.name, "--force"); err != nil {
			return fmt.Errorf("%s: patronictl reload: %v\n%s", n.name, err, h.redact.Replace(string(out)))
		}
	}
	return nil
}

// login opens and closes a session on n's PostgreSQL as user.
func (h *harness) login(ctx context.Context, n *node, user, password string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := Connect(ctx, h.dial, pgAddr(n), user, password, "postgres")
	if err != nil {
		return err
	}
	return c.Close()
}

// statsCode is the status of a GET of n's HAProxy stats page as the stats
// user with password.
func (h *harness) statsCode(ctx context.Context, n *node, password string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d/;csv", n.addr, portStats), nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("haproxy", password)
	resp, err := h.api().Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
