package secrets

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// verifyNode checks a node certificate the way etcd and HAProxy will: a chain
// to the CA, usable as server and as client, for every name and address.
func verifyNode(t *testing.T, s *Secrets, id Identity, at time.Time) {
	t.Helper()
	nc, ok := s.NodeCertificate(id.Name)
	if !ok {
		t.Fatalf("no certificate for %s", id.Name)
	}
	pair, err := tls.X509KeyPair([]byte(nc.Cert), []byte(nc.Key))
	if err != nil {
		t.Fatalf("%s: certificate and key do not pair: %v", id.Name, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(s.TLS.CACert)) {
		t.Fatal("CA is not PEM")
	}
	for _, host := range append(id.dnsNames(), id.IPs...) {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("%s for %s (usage %v): %v", id.Name, host, usage, err)
			}
		}
	}
	if got, wantN := len(cert.DNSNames)+len(cert.IPAddresses), len(id.dnsNames())+len(id.IPs); got != wantN {
		t.Errorf("%s names %v %v, want exactly %v %v", id.Name, cert.DNSNames, cert.IPAddresses, id.dnsNames(), id.IPs)
	}
}

func TestEnsureTLSIssuesVerifiableCertificates(t *testing.T) {
	s, err := New(seeded(10))
	if err != nil {
		t.Fatal(err)
	}
	changed, err := s.EnsureTLS(seeded(11), want.Now, want.Cluster, want.Nodes)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	for _, id := range want.Nodes {
		verifyNode(t, s, id, want.Now)
		// still valid on a node whose clock is a few minutes behind
		verifyNode(t, s, id, want.Now.Add(-10*time.Minute))
	}
	again, err := s.EnsureTLS(seeded(12), want.Now.Add(24*time.Hour), want.Cluster, want.Nodes)
	if err != nil || again {
		t.Fatalf("a second EnsureTLS changed=%v err=%v; want nothing reissued", again, err)
	}
}

func TestEnsureTLSReissuesOnlyWhatNeedsIt(t *testing.T) {
	base, err := New(seeded(20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.EnsureTLS(seeded(21), want.Now, want.Cluster, want.Nodes); err != nil {
		t.Fatal(err)
	}
	moved := append([]Identity(nil), want.Nodes...)
	moved[1] = Identity{Name: "n2", IPs: []string{"10.0.0.22"}}
	cases := []struct {
		name     string
		ids      []Identity
		now      time.Time
		reissued []string // nodes with a new certificate
	}{
		{"address changed", moved, want.Now, []string{"n2"}},
		{"node removed", want.Nodes[:2], want.Now, nil},
		{"node added", append(append([]Identity(nil), want.Nodes...), Identity{Name: "n4", IPs: []string{"10.0.0.4"}}), want.Now, []string{"n4"}},
		{"within a year of expiry", want.Nodes, want.Now.Add(nodeValidity - renewBefore + time.Hour), []string{"n1", "n2", "n3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := *base
			s.TLS.Nodes = map[string]NodeCert{}
			for k, v := range base.TLS.Nodes {
				s.TLS.Nodes[k] = v
			}
			changed, err := s.EnsureTLS(seeded(22), c.now, want.Cluster, c.ids)
			if err != nil || !changed {
				t.Fatalf("changed=%v err=%v", changed, err)
			}
			if s.TLS.CACert != base.TLS.CACert {
				t.Error("the CA was replaced")
			}
			if len(s.TLS.Nodes) != len(c.ids) {
				t.Errorf("%d node certificates for %d nodes", len(s.TLS.Nodes), len(c.ids))
			}
			for _, id := range c.ids {
				verifyNode(t, &s, id, c.now)
				same := s.TLS.Nodes[id.Name] == base.TLS.Nodes[id.Name]
				wantNew := false
				for _, r := range c.reissued {
					wantNew = wantNew || r == id.Name
				}
				if same == wantNew {
					t.Errorf("%s reissued=%v, want %v", id.Name, !same, wantNew)
				}
			}
		})
	}
}

// TestForeignCertificateReissued: a node certificate from another CA (a
// secrets file edited by hand) is replaced by one from the cluster's CA.
func TestForeignCertificateReissued(t *testing.T) {
	s, _ := New(seeded(23))
	other, _ := New(seeded(24))
	for _, x := range []*Secrets{s, other} {
		if _, err := x.EnsureTLS(seeded(25), want.Now, want.Cluster, want.Nodes); err != nil {
			t.Fatal(err)
		}
	}
	s.TLS.Nodes["n2"] = other.TLS.Nodes["n2"]
	changed, err := s.EnsureTLS(seeded(26), want.Now, want.Cluster, want.Nodes)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if s.TLS.Nodes["n2"] == other.TLS.Nodes["n2"] {
		t.Fatal("the foreign certificate was kept")
	}
	verifyNode(t, s, want.Nodes[1], want.Now)
}

func TestExpiringCAIsAnError(t *testing.T) {
	s, _ := New(seeded(25))
	if _, err := s.EnsureTLS(seeded(26), want.Now, want.Cluster, want.Nodes); err != nil {
		t.Fatal(err)
	}
	before := s.TLS.CACert
	_, err := s.EnsureTLS(seeded(27), want.Now.Add(caValidity-renewBefore+time.Hour), want.Cluster, want.Nodes)
	if err == nil || !strings.Contains(err.Error(), "the cluster's CA expires on") || s.TLS.CACert != before {
		t.Fatalf("error %v (CA replaced: %v); want an error and the CA kept", err, s.TLS.CACert != before)
	}
}

func TestSecretsFileKeepsTLS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.secrets.yaml")
	first, rep, err := LoadOrCreate(path, seeded(30), want)
	if err != nil || !rep.New {
		t.Fatalf("report %+v err=%v", rep, err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	second, rep, err := LoadOrCreate(path, seeded(31), want)
	if err != nil || rep.Changed() {
		t.Fatalf("second load report %+v err=%v", rep, err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) || !reflect.DeepEqual(first.TLS, second.TLS) {
		t.Fatal("a second build rewrote the CA or a certificate")
	}
	if !strings.Contains(string(after), "BEGIN PRIVATE KEY") {
		t.Fatal("the file holds no keys")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o", fi.Mode().Perm())
	}
}

func TestBrokenCAIsReported(t *testing.T) {
	s, err := New(seeded(40))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.EnsureTLS(seeded(41), want.Now, want.Cluster, want.Nodes); err != nil {
		t.Fatal(err)
	}
	other, _ := New(seeded(42))
	if _, err := other.EnsureTLS(seeded(43), want.Now, want.Cluster, want.Nodes); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		breakIt func(*TLS)
		want    string
	}{
		{"not PEM", func(x *TLS) { x.CACert = "garbage" }, "tls.ca_cert is not a PEM certificate that parses"},
		{"key of another", func(x *TLS) { x.CAKey = other.TLS.CAKey }, "tls.ca_key is not the key of tls.ca_cert"},
		{"node as CA", func(x *TLS) { x.CACert, x.CAKey = x.Nodes["n1"].Cert, x.Nodes["n1"].Key }, "tls.ca_cert is not a CA certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := *s
			c.breakIt(&x.TLS)
			before := x.TLS.CACert
			_, err := x.EnsureTLS(seeded(44), want.Now, want.Cluster, want.Nodes)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if x.TLS.CACert != before {
				t.Fatal("a broken CA was replaced")
			}
		})
	}
}

func TestIdentityIPsMustParse(t *testing.T) {
	s, _ := New(seeded(50))
	_, err := s.EnsureTLS(seeded(51), want.Now, "pg", []Identity{{Name: "x", IPs: []string{"not-an-ip"}}})
	if err == nil || !strings.Contains(err.Error(), `certificate of x: address "not-an-ip" is not an IP address`) {
		t.Fatalf("error %v", err)
	}
}

// TestNodeIdentities: on a real network a certificate names its node, its
// FQDN and its address only (etcd checks a peer's certificate against the
// address it connects from); the test-only shared loopback widening adds
// 127.0.0.1 and every other member's address.
func TestNodeIdentities(t *testing.T) {
	members := []Member{
		{Name: "pg1", FQDN: "pg1.db.example", Address: "10.0.0.1"},
		{Name: "pg2", FQDN: "pg2", Address: "10.0.0.2"},
		{Name: "pg3", Address: "10.0.0.3"},
	}
	for _, tc := range []struct {
		name     string
		loopback bool
		want     []string
	}{
		{"network", false, []string{
			"pg1 dns=[pg1.db.example] ips=[10.0.0.1]",
			"pg2 dns=[] ips=[10.0.0.2]",
			"pg3 dns=[] ips=[10.0.0.3]",
		}},
		{"test-only shared loopback", true, []string{
			"pg1 dns=[pg1.db.example] ips=[10.0.0.1 127.0.0.1 10.0.0.2 10.0.0.3]",
			"pg2 dns=[] ips=[10.0.0.2 127.0.0.1 10.0.0.1 10.0.0.3]",
			"pg3 dns=[] ips=[10.0.0.3 127.0.0.1 10.0.0.1 10.0.0.2]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, id := range NodeIdentities(members, tc.loopback) {
				got = append(got, fmt.Sprintf("%s dns=%v ips=%v", id.Name, id.DNSNames, id.IPs))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("identities\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
