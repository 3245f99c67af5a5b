package secrets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A cluster with a VIP gets a vrrp_password once, kept by later builds; a
// cluster without one never gets the key; the certificates name the VIP.
func TestVRRPPassword(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.secrets.yaml")
	ids := NodeIdentities([]Member{{Name: "n1", Address: "10.0.0.1"}, {Name: "n2", Address: "10.0.0.2"}}, false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	s, _, err := LoadOrCreate(path, Reader, Want{Cluster: "c", Nodes: ids, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if s.VRRPPassword != "" {
		t.Fatal("a cluster without a VIP got a vrrp_password")
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "vrrp_password") {
		t.Fatal("the file names vrrp_password for a cluster without a VIP")
	}

	want := Want{Cluster: "c", Nodes: WithVIP(ids, "10.0.0.10"), Now: now, VRRP: true}
	s, rep, err := LoadOrCreate(path, Reader, want)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Filled, "vrrp_password") || len(s.VRRPPassword) != passwordLength {
		t.Fatalf("filled %v, password of %d characters", rep.Filled, len(s.VRRPPassword))
	}
	if got := s.VRRPAuthPass(); len(got) != VRRPAuthLength || !strings.HasPrefix(s.VRRPPassword, got) {
		t.Errorf("auth pass %d characters, not the password's start", len(got))
	}
	if vals := s.Values(); !slices.Contains(vals, s.VRRPPassword) || !slices.Contains(vals, s.VRRPAuthPass()) {
		t.Error("Values lacks the VRRP password or the part keepalived.conf carries: it would not be redacted")
	}
	if !slices.Equal(rep.Issued, []string{"n1", "n2"}) {
		t.Errorf("issued %v: adding the VIP must reissue every certificate", rep.Issued)
	}
	for _, n := range []string{"n1", "n2"} {
		nc, _ := s.NodeCertificate(n)
		cert, err := ParseCertificate(nc.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.VerifyHostname("10.0.0.10"); err != nil {
			t.Errorf("%s's certificate does not name the VIP: %v", n, err)
		}
	}

	again, rep, err := LoadOrCreate(path, Reader, want)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed() || again.VRRPPassword != s.VRRPPassword {
		t.Errorf("a second build changed the file: %+v", rep)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
}

// A damaged vrrp_password is refused by name, its value never shown.
func TestVRRPPasswordChecked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.secrets.yaml")
	ids := NodeIdentities([]Member{{Name: "n1", Address: "10.0.0.1"}}, false)
	if _, _, err := LoadOrCreate(path, Reader, Want{Cluster: "c", Nodes: ids, Now: time.Now(), VRRP: true}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), s.VRRPPassword, "short'one", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), "vrrp_password") || strings.Contains(err.Error(), "short'one") {
		t.Fatalf("err = %v", err)
	}
}
