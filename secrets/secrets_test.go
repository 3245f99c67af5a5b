package secrets

import (
	crand "crypto/rand"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seeded is an endless deterministic byte source, so tests can assert exact
// reuse (key generation may still draw from the system's own source).
func seeded(seed uint64) io.Reader { return &pcgReader{rand.New(rand.NewPCG(seed, seed))} }

type pcgReader struct{ r *rand.Rand }

func (p *pcgReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p.r.Uint32())
	}
	return len(b), nil
}

// want is a three-node cluster's certificate needs at a fixed time.
var want = Want{Cluster: "pg", Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Nodes: []Identity{
	{Name: "n1", DNSNames: []string{"n1.db.example"}, IPs: []string{"10.0.0.1"}},
	{Name: "n2", IPs: []string{"10.0.0.2"}},
	{Name: "n3", IPs: []string{"fd00::3"}},
}}

func TestNewGeneratesDistinctSafePasswords(t *testing.T) {
	s, err := New(seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range s.Values() {
		if len(v) != passwordLength {
			t.Errorf("password length %d, want %d", len(v), passwordLength)
		}
		if strings.Trim(v, passwordAlphabet) != "" {
			t.Errorf("password %q has characters outside the alphabet", v)
		}
		if seen[v] {
			t.Errorf("password repeated")
		}
		seen[v] = true
	}
	if len(seen) != 5 {
		t.Fatalf("got %d secrets, want 5", len(seen))
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateReusesAndKeepsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.secrets.yaml")
	first, created, err := LoadOrCreate(path, seeded(2), want)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode %o, want 600", fi.Mode().Perm())
	}
	second, created, err := LoadOrCreate(path, seeded(3), want)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("a later build rotated the secrets")
	}
}

func TestFillMissingKeepsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	old := "superuser_password: AAAAAAAAAAAAAAAAAAAAAAAA\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	s, created, err := LoadOrCreate(path, seeded(4), want)
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	if s.SuperuserPassword != "AAAAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("existing secret rotated")
	}
	if s.ReplicationPassword == "" || s.HAProxyStatsPassword == "" {
		t.Errorf("missing secrets not generated")
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"group readable", "superuser_password: AAAAAAAAAAAAAAAAAAAA\n", 0o640, "readable by group or others: run chmod 0600"},
		{"unknown key", "superuser_pasword: x\n", 0o600, "field superuser_pasword not found"},
		{"short", "superuser_password: short\n", 0o600, "superuser_password is shorter than 16 characters"},
		{"short, last field", "haproxy_stats_password: short\n", 0o600, "haproxy_stats_password is shorter than 16 characters"},
		{"quote", "superuser_password: \"AAAAAAAAAAAAAAAA'AAAA\"\n", 0o600, "superuser_password holds a character that needs quoting"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.WriteFile(path, []byte(c.body), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreate(path, seeded(5), want)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if c.mode == 0o640 && !errors.Is(err, ErrTooOpen) {
				t.Errorf("error %v is not ErrTooOpen", err)
			}
		})
	}
}

func TestCryptoReaderIsDefault(t *testing.T) {
	if Reader != crand.Reader {
		t.Fatal("secrets.Reader must be crypto/rand.Reader")
	}
}
