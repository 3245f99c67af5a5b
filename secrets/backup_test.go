package secrets

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A cluster with encrypted backups gets a backup_cipher_pass once, kept by
// every later build (rotating it would make the repository unreadable); a
// cluster without never gets the key; the value is redacted and refused by
// name when damaged.
func TestBackupCipherPass(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.secrets.yaml")
	ids := NodeIdentities([]Member{{Name: "n1", Address: "10.0.0.1"}}, false)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	s, _, err := LoadOrCreate(path, Reader, Want{Cluster: "c", Nodes: ids, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if s.BackupCipherPass != "" || strings.Contains(string(data), "backup_cipher_pass") {
		t.Fatal("a cluster without encrypted backups got a backup_cipher_pass")
	}

	want := Want{Cluster: "c", Nodes: ids, Now: now, Backup: true}
	s, rep, err := LoadOrCreate(path, Reader, want)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Filled, []string{"backup_cipher_pass"}) || len(s.BackupCipherPass) != BackupCipherPassLength {
		t.Fatalf("filled %v, passphrase of %d characters", rep.Filled, len(s.BackupCipherPass))
	}
	if len(rep.Issued) != 0 {
		t.Errorf("issued %v: a passphrase reissues no certificate", rep.Issued)
	}
	if !slices.Contains(s.Values(), s.BackupCipherPass) {
		t.Error("Values lacks the passphrase: it would not be redacted")
	}
	again, rep, err := LoadOrCreate(path, Reader, want)
	if err != nil || rep.Changed() || again.BackupCipherPass != s.BackupCipherPass {
		t.Fatalf("second build: changed %v, same passphrase %v, err %v", rep.Changed(), again.BackupCipherPass == s.BackupCipherPass, err)
	}

	// A new cluster's file gets it at once.
	fresh := filepath.Join(dir, "d.secrets.yaml")
	d, rep, err := LoadOrCreate(fresh, Reader, Want{Cluster: "d", Nodes: ids, Now: now, Backup: true})
	if err != nil || !rep.New || len(d.BackupCipherPass) != BackupCipherPassLength {
		t.Fatalf("new file: %v, %+v, %d characters", err, rep, len(d.BackupCipherPass))
	}

	// Damaged: refused by name, the value never shown.
	data, _ = os.ReadFile(path)
	bad := strings.Replace(string(data), s.BackupCipherPass, "short'one", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if err == nil || !strings.Contains(err.Error(), "backup_cipher_pass") || strings.Contains(err.Error(), "short'one") {
		t.Fatalf("damaged passphrase: %v", err)
	}
}
