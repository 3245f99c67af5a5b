package bundle

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
)

// freePort returns a loopback TCP port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// libCall runs a lib.sh function in bash with env and returns its output.
func libCall(t *testing.T, env []string, script string) (string, error) {
	t.Helper()
	lib, err := filepath.Abs("scripts/lib.sh")
	must(t, err)
	// The paths the facts would give (load_facts is not run here).
	var paths strings.Builder
	for k, v := range layout.PathKeys {
		fmt.Fprintf(&paths, "P[%s]=%s; ", k, v)
	}
	cmd := exec.Command("bash", "-c", "set -euo pipefail; . \"$1\"; POLL_INTERVAL=0.2; "+paths.String()+script, "lib", lib)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestEtcdGateWithRealEtcd: the etcd health gate fails while etcd is down and
// passes once a real etcd serves the local member.
func TestEtcdGateWithRealEtcd(t *testing.T) {
	etcd := testutil.NeedTool(t, "etcd", "etcd-server")
	etcdctl := testutil.NeedTool(t, "etcdctl", "etcd-client")
	client, peer := freePort(t), freePort(t)
	env := []string{"PGHA_ADDRESS=127.0.0.1", "PGHA_ETCDCTL_BIN=" + etcdctl,
		fmt.Sprintf("PGHA_ETCD_ENDPOINT=http://127.0.0.1:%d", client)}
	if out, err := libCall(t, env, "wait_for 'etcd healthy' 1 etcd_healthy"); err == nil || !strings.Contains(out, "timed out after 1s waiting for etcd healthy") {
		t.Fatalf("gate passed with etcd down: %v\n%s", err, out)
	}
	cmd := exec.Command(etcd, "--name", "pg2", "--data-dir", t.TempDir(),
		"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client),
		"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client),
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("pg2=http://127.0.0.1:%d", peer))
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if out, err := libCall(t, env, "wait_for 'etcd healthy' 60 etcd_healthy"); err != nil {
		t.Fatalf("gate failed with etcd up: %v\n%s", err, out)
	}
}

// TestHAProxyGateWithRealHAProxy: haproxy -c accepts the config, and the
// stats gate passes only once HAProxy has checked every server, reading the
// real stats CSV with the credentials given on stdin.
func TestHAProxyGateWithRealHAProxy(t *testing.T) {
	haproxy := testutil.NeedTool(t, "haproxy", "haproxy")
	testutil.NeedTool(t, "curl", "curl")
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	go up.Serve(l)
	t.Cleanup(func() { up.Close() })
	stats, front, down := freePort(t), freePort(t), freePort(t)
	root := t.TempDir()
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen stats
    bind 127.0.0.1:%d
    stats enable
    stats uri /
    stats auth admin:%s
listen primary
    bind 127.0.0.1:%d
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
    server pg1 %s check
    server pg2 127.0.0.1:%d check
`, stats, testStatsPassword, front, l.Addr(), down)
	writeFile(t, root+"/etc/haproxy/haproxy.cfg", cfg)
	// What the facts give the gate: the stats page, its credentials and the
	// read-write proxy (templates writes them as haproxy.cfg does).
	env := []string{"PGHA_ROOT=" + root, "PGHA_HAPROXY_BIN=" + haproxy,
		fmt.Sprintf("HAPROXY_STATS_URL=http://127.0.0.1:%d/;csv", stats), "HAPROXY_STATS_AUTH=admin:" + testStatsPassword,
		"HAPROXY_RW_PROXY=primary"}
	if out, err := libCall(t, env, "haproxy_config_ok"); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	if out, err := libCall(t, env, "haproxy_checked"); err == nil {
		t.Fatalf("stats gate passed with HAProxy down\n%s", out)
	}
	cmd := exec.Command(haproxy, "-db", "-f", root+"/etc/haproxy/haproxy.cfg")
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out, err := libCall(t, env, "wait_for 'every server checked' 30 haproxy_checked; haproxy_stats_csv")
	if err != nil {
		t.Fatalf("stats gate: %v\n%s", err, out)
	}
	t.Logf("stats:\n%s", out)
	if !strings.Contains(out, "primary,pg1,") || strings.Contains(out, "INI") {
		t.Errorf("stats after the gate:\n%s", out)
	}
	noSecrets(t, "the gate's output", out)

	// Two servers UP behind the read-write port (a replica taking writes):
	// every server is checked, yet the gate must not pass.
	cmd.Process.Kill()
	cmd.Wait()
	writeFile(t, root+"/etc/haproxy/haproxy.cfg", strings.Replace(cfg, fmt.Sprintf("127.0.0.1:%d check", down), l.Addr().String()+" check", 1))
	cmd = exec.Command(haproxy, "-db", "-f", root+"/etc/haproxy/haproxy.cfg")
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out, err = libCall(t, env, `all_checked() { local c; c=$(haproxy_stats_csv) || return 1; ! printf '%s\n' "$c" | grep -q INI; }
		wait_for 'checks done' 30 all_checked
		if haproxy_checked; then echo GATE-PASSED; fi`)
	if err != nil || strings.Contains(out, "GATE-PASSED") {
		t.Errorf("gate with two UP servers behind the read-write port: %v\n%s", err, out)
	}

	// A config HAProxy rejects stops the gate, without printing the credentials.
	writeFile(t, root+"/etc/haproxy/haproxy.cfg", strings.Replace(cfg, "stats auth admin:", "stats bogus-auth admin:", 1))
	out, err = libCall(t, env, "haproxy_config_ok")
	if err == nil || !strings.Contains(out, "haproxy -c rejects") {
		t.Errorf("haproxy_config_ok accepted a bad config: %v\n%s", err, out)
	}
	noSecrets(t, "haproxy -c's complaint", out)
}
