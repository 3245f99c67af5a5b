//go:build e2e

package faults

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
	args := []string{"secrets", "rotate", "-f", filepath.Join(dir, "cluster.yaml"), "--secrets", secPath}
	for _, n := range h.nodes {
		args = append(args, "--node-cert", n.name)
	}
	// Every password by default; with --node-cert, say so too.
	for _, name := range secrets.Rotatable {
		args = append(args, "--password", name)
	}
	out, err := run(h.ctx, e2eBin(dir), args...)
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
	for _, n := range h.nodes {
		if !strings.Contains(string(out), "  certificate of "+n.name+"\n") {
			return fmt.Errorf("secrets rotate does not name the certificate of %s:\n%s", n.name, out)
		}
		nc, _ := sec.NodeCertificate(n.name)
		oc, _ := h.sec.NodeCertificate(n.name)
		if nc.Cert == oc.Cert || nc.Key == oc.Key {
			return fmt.Errorf("secrets rotate kept the certificate or key of %s", n.name)
		}
	}
	h.oldSec, h.sec = h.sec, sec
	h.redact = redactor(h.sec, h.oldSec)
	return nil
}

// checkServedCerts wants every member to serve the certificate want holds
// for it on each TLS port (PostgreSQL, Patroni's REST API, etcd's client
// and peer ports), which is not the one other holds: the old certificates
// before the rolling upgrade, the reissued ones after it. Only etcd is
// restarted for it: Patroni reloads its REST API's certificate when its
// serial changes, and PostgreSQL its own on reload.
func (h *harness) checkServedCerts(ctx context.Context, want, other *secrets.Secrets) error {
	der := func(s *secrets.Secrets, n *node) ([]byte, error) {
		nc, _ := s.NodeCertificate(n.name)
		blk, _ := pem.Decode([]byte(nc.Cert))
		if blk == nil {
			return nil, fmt.Errorf("%s: the secrets file's certificate is not PEM", n.name)
		}
		return blk.Bytes, nil
	}
	for _, n := range h.nodes {
		w, err := der(want, n)
		if err != nil {
			return err
		}
		o, err := der(other, n)
		if err != nil {
			return err
		}
		if bytes.Equal(w, o) {
			return fmt.Errorf("%s: the old and the new certificate are the same", n.name)
		}
		for _, p := range []struct {
			what     string
			port     int
			postgres bool
		}{{"PostgreSQL", portPG, true}, {"Patroni's REST API", portAPI, false}, {"etcd (clients)", portEtcd, false}, {"etcd (peers)", portPeer, false}} {
			got, err := h.servedCert(ctx, net.JoinHostPort(n.addr, strconv.Itoa(p.port)), p.postgres)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", n.name, p.what, err)
			}
			switch {
			case bytes.Equal(got, o):
				return fmt.Errorf("%s: %s serves the other certificate", n.name, p.what)
			case !bytes.Equal(got, w):
				return fmt.Errorf("%s: %s serves a certificate that is neither the old nor the new one", n.name, p.what)
			}
		}
	}
	return nil
}

// servedCert returns the DER certificate a member serves on addr; postgres:
// after PostgreSQL's SSLRequest. It is taken as soon as the server sends it,
// so a server that then wants a client certificate still shows its own.
func (h *harness) servedCert(ctx context.Context, addr string, postgres bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := h.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if postgres {
		// SSLRequest: length 8, code 80877103; the server answers 'S'.
		if _, err := c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
			return nil, err
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			return nil, err
		}
		if b[0] != 'S' {
			return nil, fmt.Errorf("SSLRequest answered %q, want S", b)
		}
	}
	var served []byte
	tc := tls.Client(c, &tls.Config{
		InsecureSkipVerify: true, // only the certificate is compared, below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				served = cs.PeerCertificates[0].Raw
			}
			return nil
		},
	})
	err = tc.HandshakeContext(ctx)
	if served != nil {
		return served, nil
	}
	return nil, fmt.Errorf("TLS handshake: %v", err)
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
