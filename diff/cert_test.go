package diff

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// TestCertificateChangesByField: a reissued certificate is shown as the
// fields that changed (names, validity, serial), never as base64.
func TestCertificateChangesByField(t *testing.T) {
	s := &secrets.Secrets{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := []secrets.Identity{{Name: "pg1", IPs: []string{"10.0.0.1"}}}
	if _, err := s.EnsureTLS(rand.Reader, now, "demo", ids); err != nil {
		t.Fatal(err)
	}
	old := s.TLS.Nodes["pg1"].Cert
	ids[0].IPs = []string{"10.0.0.9"}
	if _, err := s.EnsureTLS(rand.Reader, now.Add(48*time.Hour), "demo", ids); err != nil {
		t.Fatal(err)
	}
	res := Compare(sideOf("a", file("/etc/pgha-bundle/pki/node.crt", old)),
		sideOf("b", file("/etc/pgha-bundle/pki/node.crt", s.TLS.Nodes["pg1"].Cert)))
	fd := res.Nodes[0].Files[0]
	if fd.Content != "certificate" || len(fd.Hunks) != 0 {
		t.Fatalf("content %q with %d hunks, want certificate fields", fd.Content, len(fd.Hunks))
	}
	got := map[string]string{}
	for _, k := range fd.Keys {
		got[k.Key] = *k.Old + " → " + *k.New
	}
	want := map[string]string{
		"names":      "pg1 10.0.0.1 → pg1 10.0.0.9",
		"not_before": "2025-12-31T23:00:00Z → 2026-01-02T23:00:00Z",
		"not_after":  "2035-12-30T00:00:00Z → 2036-01-01T00:00:00Z",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["serial"]; !ok {
		t.Error("the serial change is not shown")
	}
	if _, ok := got["issuer"]; ok {
		t.Error("issuer shown as changed; the CA is the same")
	}
	var buf strings.Builder
	if err := Write(&buf, &res, Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "BEGIN CERTIFICATE") || strings.Contains(buf.String(), "MII") {
		t.Errorf("base64 in the output:\n%s", buf.String())
	}
}

// TestTLSTurnedOnIsCalledOut: a node that gains the cluster's CA moves to TLS,
// which no rolling upgrade can do; a changed CA is called out too.
func TestTLSTurnedOnIsCalledOut(t *testing.T) {
	ca := "/etc/pgha-bundle/pki/ca.crt"
	plain := sideOf("a", file("/etc/patroni/dcs.yml", "ttl: 30\n"))
	withCA := sideOf("b", file("/etc/patroni/dcs.yml", "ttl: 30\n"))
	withCA.Nodes[0].Files = append(withCA.Nodes[0].Files, payload.File{Path: ca, Mode: 0o644, Content: []byte("CA one\n")})
	otherCA := sideOf("c", file("/etc/patroni/dcs.yml", "ttl: 30\n"))
	otherCA.Nodes[0].Files = append(otherCA.Nodes[0].Files, payload.File{Path: ca, Mode: 0o644, Content: []byte("CA two\n")})
	for name, c := range map[string]struct {
		a, b *Side
		want string
	}{
		"turned on": {plain, withCA, "TLS between the members turned on"},
		"new CA":    {withCA, otherCA, "the cluster's CA changed"},
	} {
		res := Compare(c.a, c.b)
		if len(res.Consequences) != 1 || res.Consequences[0].Kind != TrustChange ||
			!strings.HasPrefix(res.Consequences[0].Message, c.want) || res.Consequences[0].Nodes[0] != "pg1" {
			t.Errorf("%s: consequences %+v, want one %q on pg1", name, res.Consequences, c.want)
		}
	}
}
