package templates

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// TestHAProxyCheckTrustsOnlyTheServersOwnCertificate runs Debian's haproxy
// with the rendered server lines of co7-node01 and co7-node02, both pointed
// at one HTTPS server that shows co7-node01's certificate and answers like
// Patroni's /primary. The co7-node01 line must see it UP; the co7-node02
// line DOWN: its check wants co7-node02's own certificate.
func TestHAProxyCheckTrustsOnlyTheServersOwnCertificate(t *testing.T) {
	haproxy := testutil.NeedTool(t, "haproxy", "haproxy")
	spec := loadSpec(t, "ex.yaml", cluster.Example())
	nodes, err := RenderAll(spec, el7Components, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	n1 := nodes[0]
	dir := t.TempDir()
	files := map[string]string{}
	for _, p := range []string{pki.CA, pki.Cert, pki.PatroniKey} {
		f, _ := n1.Lookup(p)
		files[p] = filepath.Join(dir, filepath.Base(p))
		if err := os.WriteFile(files[p], f.Content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.LoadX509KeyPair(files[pki.Cert], files[pki.PatroniKey])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.URL.Path == "/primary" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}), ErrorLog: log.New(io.Discard, "", 0)} // the refused handshakes are expected
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	apiPort := ln.Addr().(*net.TCPAddr).Port

	// The rendered lines of listen primary, moved to the test server.
	cfgFile, _ := n1.Lookup(haproxyPath)
	var servers []string
	for _, s := range parseHAProxyServers(cfgFile.Content) {
		if s.listen != "primary" {
			continue
		}
		for _, line := range strings.Split(string(cfgFile.Content), "\n") {
			f := strings.Fields(line)
			if len(f) > 2 && f[0] == "server" && f[1] == s.name && strings.Contains(line, "check-ssl") {
				line = strings.Replace(line, s.addr, fmt.Sprintf("127.0.0.1:%d", apiPort), 1)
				line = strings.Replace(line, "port "+s.checkPort, fmt.Sprintf("port %d", apiPort), 1)
				line = strings.Replace(line, pki.CA, files[pki.CA], 1)
				servers = append(servers, line+" inter 200ms")
				break
			}
		}
	}
	if len(servers) != 3 {
		t.Fatalf("found %d server lines in listen primary", len(servers))
	}
	statsPort := freePort(t)
	cfg := fmt.Sprintf(`defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout check 2s
listen stats
    mode http
    bind 127.0.0.1:%d
    stats enable
    stats uri /
listen primary
    bind 127.0.0.1:%d
    option httpchk OPTIONS /primary
    http-check expect status 200
%s
`, statsPort, freePort(t), strings.Join(servers, "\n"))
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, haproxy, "-db", "-f", path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	want := map[string]string{"co7-node01": "UP", "co7-node02": "DOWN", "co7-node03": "DOWN"}
	var got map[string]string
	for ctx.Err() == nil {
		got = serverStates(fmt.Sprintf("http://127.0.0.1:%d/;csv", statsPort))
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("server states %v, want %v\nhaproxy: %s\n%s", got, want, out.String(), cfg)
}

// serverStates reads each server's status from HAProxy's stats CSV.
func serverStates(url string) map[string]string {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) > 17 && f[0] == "primary" && f[1] != "FRONTEND" && f[1] != "BACKEND" {
			out[f[1]] = f[17]
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
