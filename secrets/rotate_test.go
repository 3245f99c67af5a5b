package secrets

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rotationFile writes a build's secrets file of cluster "pg" in a new
// directory and returns its path and the secrets in it.
func rotationFile(t *testing.T) (string, *Secrets) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pg.secrets.yaml")
	s, _, err := LoadOrCreate(path, seeded(1), want)
	if err != nil {
		t.Fatal(err)
	}
	return path, s
}

func TestRotate(t *testing.T) {
	n2 := want.Nodes[1]
	tests := []struct {
		name      string
		rot       Rotation
		passwords []string // reported and changed
		certs     []string
		err       error // a sentinel the error wraps; nil: none expected
		errText   string
	}{
		{name: "every password", rot: Rotation{Passwords: Rotatable}, passwords: Rotatable},
		{name: "one password", rot: Rotation{Passwords: []string{"replication"}}, passwords: []string{"replication"}},
		{name: "reported in a fixed order", rot: Rotation{Passwords: []string{"haproxy_stats", "superuser"}}, passwords: []string{"superuser", "haproxy_stats"}},
		{name: "a node certificate", rot: Rotation{Nodes: []Identity{n2}}, certs: []string{"n2"}},
		{name: "unknown name", rot: Rotation{Passwords: []string{"admin"}}, err: ErrNotRotatable, errText: `"admin"`},
		{name: "backup passphrase refused", rot: Rotation{Passwords: []string{"backup_cipher_pass"}}, err: ErrNotRotatable},
		{name: "CA refused", rot: Rotation{Passwords: []string{"ca"}}, err: ErrCARotation},
		{name: "CA key refused", rot: Rotation{Passwords: []string{"superuser", "ca_key"}}, err: ErrCARotation},
		{name: "unknown node", rot: Rotation{Nodes: []Identity{{Name: "n9", IPs: []string{"10.0.0.9"}}}}, errText: "n9 has no certificate"},
		{name: "other cluster", rot: Rotation{Cluster: "other", Passwords: Rotatable}, errText: `belongs to cluster "pg"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, before := rotationFile(t)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.rot.Now = want.Now
			if tt.rot.Cluster == "" {
				tt.rot.Cluster = "pg"
			}
			rep, err := Rotate(path, seeded(2), tt.rot)
			if tt.err != nil || tt.errText != "" {
				if err == nil {
					t.Fatal("rotated; want an error")
				}
				if tt.err != nil && !errors.Is(err, tt.err) {
					t.Errorf("error %v does not wrap %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q does not say %q", err, tt.errText)
				}
				assertNoValue(t, err.Error(), before)
				if now, _ := os.ReadFile(path); string(now) != string(orig) {
					t.Error("a refused rotation changed the file")
				}
				if _, err := os.Stat(PrevPath(path)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a refused rotation left %s (%v)", PrevPath(path), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Passwords, tt.passwords) || !slices.Equal(rep.Certificates, tt.certs) {
				t.Errorf("report %+v, want passwords %v certificates %v", rep, tt.passwords, tt.certs)
			}
			after, err := Load(path)
			if err != nil {
				t.Fatalf("the rotated file does not load: %v", err)
			}
			bf, af := before.fields(), after.fields()
			for i, name := range Rotatable {
				changed := bf[i].String() != af[i].String()
				if changed != slices.Contains(tt.passwords, name) {
					t.Errorf("%s changed: %v, want %v", name, changed, !changed)
				}
			}
			for _, id := range want.Nodes {
				changed := before.TLS.Nodes[id.Name] != after.TLS.Nodes[id.Name]
				if changed != slices.Contains(tt.certs, id.Name) {
					t.Errorf("certificate of %s changed: %v", id.Name, changed)
				}
				verifyNode(t, after, id, want.Now)
			}
			if before.TLS.CACert != after.TLS.CACert || before.TLS.CAKey != after.TLS.CAKey {
				t.Error("the CA changed")
			}
			prev, err := os.ReadFile(PrevPath(path))
			if err != nil || string(prev) != string(orig) {
				t.Errorf("%s does not keep the previous version (%v)", PrevPath(path), err)
			}
			for _, p := range []string{path, PrevPath(path)} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v (%v), want 0600", p, fi.Mode().Perm(), err)
				}
			}
		})
	}
}

// assertNoValue fails when out holds a password of s.
func assertNoValue(t *testing.T, out string, s *Secrets) {
	t.Helper()
	for _, v := range s.Values() {
		if strings.Contains(out, v) {
			t.Errorf("output holds a secret value: %q", out)
		}
	}
}

func TestRotateRefusesAbsentAndDamagedFiles(t *testing.T) {
	rot := Rotation{Cluster: "pg", Passwords: Rotatable, Now: want.Now}
	dir := t.TempDir()
	absent := filepath.Join(dir, "none.yaml")
	if _, err := Rotate(absent, seeded(2), rot); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("absent file: %v", err)
	}
	if _, err := os.Stat(absent); !errors.Is(err, fs.ErrNotExist) {
		t.Error("rotating an absent file created it")
	}

	path, _ := rotationFile(t)
	body, _ := os.ReadFile(path)
	damaged := []byte(strings.Replace(string(body), "replication_password:", "replication_pasword:", 1))
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Rotate(path, seeded(2), rot)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("damaged file: %v, want an *Error", err)
	}
	if now, _ := os.ReadFile(path); string(now) != string(damaged) {
		t.Error("a damaged file was changed")
	}

	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Rotate(path, seeded(2), rot); !errors.Is(err, ErrTooOpen) {
		t.Errorf("a file others can read: %v, want ErrTooOpen", err)
	}
}
