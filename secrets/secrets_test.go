package secrets

import (
	crand "crypto/rand"
	"errors"
	"io"
	"io/fs"
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
	first, rep, err := LoadOrCreate(path, seeded(2), want)
	if err != nil || !rep.New {
		t.Fatalf("first LoadOrCreate: report %+v err=%v", rep, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode %o, want 600", fi.Mode().Perm())
	}
	second, rep, err := LoadOrCreate(path, seeded(3), want)
	if err != nil || rep.Changed() {
		t.Fatalf("second LoadOrCreate: report %+v err=%v", rep, err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("a later build rotated the secrets")
	}
	if first.Cluster != "pg" {
		t.Fatalf("the file names cluster %q, want pg", first.Cluster)
	}
	if _, err := os.Stat(PrevPath(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a new file has a previous version: %v", err)
	}
}

func TestCryptoReaderIsDefault(t *testing.T) {
	if Reader != crand.Reader {
		t.Fatal("secrets.Reader must be crypto/rand.Reader")
	}
}
