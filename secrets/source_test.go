package secrets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ImportBackupPassphrase copies the source cluster's backup passphrase,
// and only it, into this cluster's secrets file (creating it as a build
// would), never shows a value, and refuses a source file without the
// passphrase, this cluster's own file, or a copy of it.
func TestImportBackupPassphrase(t *testing.T) {
	dir := t.TempDir()
	ids := NodeIdentities([]Member{{Name: "n1", Address: "10.0.0.1"}}, false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srcPath := filepath.Join(dir, "prod.secrets.yaml")
	src, _, err := LoadOrCreate(srcPath, Reader, Want{Cluster: "prod", Nodes: ids, Now: now, Backup: true})
	if err != nil {
		t.Fatal(err)
	}
	srcBefore, _ := os.ReadFile(srcPath)

	path := filepath.Join(dir, "clone.secrets.yaml")
	want := Want{Cluster: "clone", Nodes: ids, Now: now, Backup: true}
	rep, err := ImportBackupPassphrase(path, srcPath, Reader, want)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Created || rep.Replaced || rep.Unchanged || rep.SourceCluster != "prod" {
		t.Errorf("report %+v", rep)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.SourceBackupCipherPass != src.BackupCipherPass || s.Cluster != "clone" {
		t.Fatalf("imported %v for cluster %q", s.SourceBackupCipherPass != "", s.Cluster)
	}
	// Only that value: this cluster's own passwords, passphrase and CA.
	if s.BackupCipherPass == src.BackupCipherPass || s.SuperuserPassword == src.SuperuserPassword || s.TLS.CACert == src.TLS.CACert {
		t.Error("more than the passphrase came from the source's file")
	}
	if !slices.Contains(s.Values(), s.SourceBackupCipherPass) {
		t.Error("Values lacks the source's passphrase: it would not be redacted")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if after, _ := os.ReadFile(srcPath); string(after) != string(srcBefore) {
		t.Error("the source's secrets file changed")
	}
	// A build of the clone loads its file: it is its own.
	if _, _, err := LoadOrCreate(path, Reader, want); err != nil {
		t.Fatalf("the clone's build refuses its file: %v", err)
	}

	// Again: unchanged, nothing written.
	before, _ := os.ReadFile(path)
	rep, err = ImportBackupPassphrase(path, srcPath, Reader, want)
	if err != nil || !rep.Unchanged || rep.Created {
		t.Fatalf("again: %+v, %v", rep, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("an unchanged import rewrote the file")
	}

	// Another source replaces it, the previous version kept.
	other := filepath.Join(dir, "other.secrets.yaml")
	o, _, err := LoadOrCreate(other, Reader, Want{Cluster: "other", Nodes: ids, Now: now, Backup: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = ImportBackupPassphrase(path, other, Reader, want); err != nil || !rep.Replaced {
		t.Fatalf("another source: %+v, %v", rep, err)
	}
	if s, _ = Load(path); s.SourceBackupCipherPass != o.BackupCipherPass {
		t.Error("not replaced")
	}
	if _, err := os.Stat(PrevPath(path)); err != nil {
		t.Error("no previous version kept")
	}

	refused := func(what, from, reason string) {
		t.Helper()
		before, _ := os.ReadFile(path)
		_, err := ImportBackupPassphrase(path, from, Reader, want)
		if err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want %q", what, err, reason)
		}
		for _, v := range []string{src.BackupCipherPass, o.BackupCipherPass, s.BackupCipherPass} {
			if err != nil && strings.Contains(err.Error(), v) {
				t.Errorf("%s: the error shows a passphrase", what)
			}
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("%s: the file changed", what)
		}
	}
	// A source without encrypted backups has no passphrase to give.
	clear := filepath.Join(dir, "clear.secrets.yaml")
	if _, _, err := LoadOrCreate(clear, Reader, Want{Cluster: "clear", Nodes: ids, Now: now}); err != nil {
		t.Fatal(err)
	}
	refused("a source without the passphrase", clear, "holds no backup_cipher_pass")
	refused("this cluster's own file", path, "is this cluster's own secrets file")
	cp := filepath.Join(dir, "copy.secrets.yaml")
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	refused("a copy of this cluster's own file", cp, "holds this cluster's own backup passphrase")
	refused("a missing source", filepath.Join(dir, "nope.yaml"), "no such file")
	if err := os.Chmod(srcPath, 0o644); err != nil {
		t.Fatal(err)
	}
	refused("a source readable by others", srcPath, "readable by group or others")
}
