package templates

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/payload"
)

// loopbackSpec is a three-member cluster on loopback addresses, on ports no
// other test uses.
const loopbackSpec = `apiVersion: pgha-bundle/v1
cluster: {name: etcdcheck, os: el9, allow_loopback: true}
nodes:
  - {name: m1, address: 127.0.0.21}
  - {name: m2, address: 127.0.0.22}
  - {name: m3, address: 127.0.0.23}
network: {mode: dhcp}
ports: {etcd_client: 23791, etcd_peer: 23801}
`

// TestEtcdStartsFromRenderedConfig starts Debian's etcd (3.4) on every
// rendered etcd.conf.yml, unchanged but for data-dir and the directory of the
// TLS files, and checks that the members form one healthy cluster over TLS,
// serve the /v3 gateway Patroni needs to a client with the node certificate,
// and refuse a client without one.
func TestEtcdStartsFromRenderedConfig(t *testing.T) {
	etcd := testutil.NeedTool(t, "etcd", "etcd-server")
	etcdctl := testutil.NeedTool(t, "etcdctl", "etcd-client")
	out, err := exec.Command(etcd, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`etcd Version: (\S+)`).FindSubmatch(out)
	if version == nil {
		t.Fatalf("cannot read etcd's version from %q", out)
	}
	comp := el9Components
	comp.Etcd.Version = string(version[1])

	spec := loadSpec(t, "loopback.yaml", []byte(loopbackSpec))
	nodes, err := RenderAll(spec, comp, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range nodes {
		f, _ := n.Lookup("/etc/etcd/etcd.conf.yml")
		data := filepath.Join(dir, n.Name+".etcd")
		cfg := strings.Replace(string(f.Content), `data-dir: "/var/lib/etcd"`, fmt.Sprintf("data-dir: %q", data), 1)
		if cfg == string(f.Content) {
			t.Fatal("rendered etcd.conf.yml has no data-dir line to redirect")
		}
		pkiDir := writePKI(t, n, filepath.Join(dir, n.Name+".pki"))
		if cfg = strings.ReplaceAll(cfg, path.Dir(pki.CA)+"/", pkiDir+"/"); !strings.Contains(cfg, pkiDir) {
			t.Fatal("rendered etcd.conf.yml names no TLS file")
		}
		path := filepath.Join(dir, n.Name+".yml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, etcd, "--config-file", path)
		logf, err := os.Create(filepath.Join(dir, n.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", n.Name, b)
			}
		})
	}

	endpoints := "https://127.0.0.21:23791,https://127.0.0.22:23791,https://127.0.0.23:23791"
	// etcdctl as the scripts run it: with m1's certificate and key.
	clientPKI := filepath.Join(dir, "m1.pki")
	tlsArgs := []string{"--cacert", filepath.Join(clientPKI, "ca.crt"), "--cert", filepath.Join(clientPKI, "node.crt"),
		"--key", filepath.Join(clientPKI, "etcd.key")}
	var last []byte
	for ctx.Err() == nil {
		last, err = exec.CommandContext(ctx, etcdctl, append([]string{"--endpoints", endpoints, "endpoint", "health"}, tlsArgs...)...).CombinedOutput()
		if err == nil && strings.Count(string(last), "is healthy") == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatalf("the etcd members never became healthy: %s", last)
	}
	members, err := exec.Command(etcdctl, append([]string{"--endpoints", endpoints, "member", "list"}, tlsArgs...)...).CombinedOutput()
	if err != nil || strings.Count(string(members), "started") != 3 {
		t.Fatalf("member list: %v\n%s", err, members)
	}
	// Patroni's etcd3 client speaks JSON to the gRPC gateway, with the
	// node's client certificate (the copy Patroni reads).
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(clientPKI, "ca.crt"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("CA: %v", err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(clientPKI, "node.crt"), filepath.Join(clientPKI, "patroni.key"))
	if err != nil {
		t.Fatal(err)
	}
	post := func(certs []tls.Certificate) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		return c.Post("https://127.0.0.22:23791/v3/kv/range", "application/json", strings.NewReader(`{"key":"Zm9v"}`))
	}
	resp, err := post([]tls.Certificate{pair})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v3/kv/range answered %s: Patroni's etcd3 client would wait forever", resp.Status)
	}
	if resp, err := post(nil); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s: etcd must require client certificates", resp.Status)
	}
}

// writePKI writes the node's TLS files from its payload into dir, under their
// base names, and returns dir.
func writePKI(t *testing.T, n payload.Node, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pki.CA, pki.Cert, pki.EtcdKey, pki.PatroniKey} {
		f, ok := n.Lookup(p)
		if !ok {
			t.Fatalf("%s: no %s in the payload", n.Name, p)
		}
		if err := os.WriteFile(filepath.Join(dir, path.Base(p)), f.Content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
