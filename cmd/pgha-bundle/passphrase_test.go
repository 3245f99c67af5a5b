package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// secrets import-backup-passphrase: the source's passphrase lands in the
// clone's secrets file, created for it, and is never printed; a spec that
// bootstraps from no backup, or from a clear one, and a source without the
// passphrase are refused with exit 2, nothing written.
func TestImportBackupPassphraseCommand(t *testing.T) {
	dir := t.TempDir()
	example := string(cluster.Example())
	srcSpec := filepath.Join(dir, "prod.yaml")
	writeFile(t, srcSpec, example+"backup:\n")
	s, _, err := cluster.Load(srcSpec)
	if err != nil {
		t.Fatal(err)
	}
	var members []secrets.Member
	for _, n := range s.Nodes {
		members = append(members, secrets.Member{Name: n.Name, FQDN: s.FQDN(n), Address: n.Address})
	}
	srcSecrets := filepath.Join(dir, "prod.secrets.yaml")
	src, _, err := secrets.LoadOrCreate(srcSecrets, secrets.Reader, secrets.Want{Cluster: s.Cluster.Name, Nodes: secrets.NodeIdentities(members, false), Now: time.Now(), Backup: true})
	if err != nil {
		t.Fatal(err)
	}
	clone := strings.Replace(example, "name: "+s.Cluster.Name+"\n", "name: clone\n", 1) + "backup:\n  repo:\n    path: /var/lib/pgbackrest-clone\nbootstrap:\n  from_backup:\n    stanza: " + s.Cluster.Name + "\n    repo:\n      path: /mnt/prod-backups\n"
	cloneSpec := filepath.Join(dir, "clone.yaml")
	writeFile(t, cloneSpec, clone)
	cloneSecrets := filepath.Join(dir, "clone.secrets.yaml")

	code, out, errOut := runCLI(t, "secrets", "import-backup-passphrase", "-f", cloneSpec, "--from", srcSecrets)
	if code != exitOK || !strings.Contains(out, "created "+cloneSecrets+" for cluster clone with the backup passphrase of cluster "+s.Cluster.Name) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, src.BackupCipherPass) {
		t.Fatal("the passphrase was printed")
	}
	got, err := secrets.Load(cloneSecrets)
	if err != nil || got.SourceBackupCipherPass != src.BackupCipherPass || got.Cluster != "clone" {
		t.Fatalf("clone's secrets: %v, cluster %q", err, got.Cluster)
	}
	if code, out, _ = runCLI(t, "secrets", "import-backup-passphrase", "-f", cloneSpec, "--from", srcSecrets); code != exitOK || !strings.Contains(out, "nothing changed") {
		t.Errorf("again: exit %d, %s", code, out)
	}

	before, _ := os.ReadFile(cloneSecrets)
	for _, tt := range []struct {
		name, spec, from, stderr string
	}{
		{"no --from", cloneSpec, "", "needs --from"},
		{"no bootstrap", srcSpec, srcSecrets, "the spec has no bootstrap.from_backup"},
		{"clear source", writeSpec(t, dir, "clear.yaml", clone+"    encryption: none\n"), srcSecrets, "encryption is none"},
		{"source without passphrase", cloneSpec, writeSecretsWithout(t, dir, s), "holds no backup_cipher_pass"},
		{"own file", cloneSpec, cloneSecrets, "is this cluster's own secrets file"},
	} {
		args := []string{"secrets", "import-backup-passphrase", "-f", tt.spec, "--secrets", cloneSecrets}
		if tt.from != "" {
			args = append(args, "--from", tt.from)
		}
		code, out, errOut := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(errOut, tt.stderr) || strings.Contains(out+errOut, src.BackupCipherPass) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tt.name, code, errOut, tt.stderr)
		}
		if after, _ := os.ReadFile(cloneSecrets); string(after) != string(before) {
			t.Errorf("%s: the clone's secrets file changed", tt.name)
		}
	}
}

func writeSpec(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	writeFile(t, p, body)
	return p
}

// writeSecretsWithout writes a secrets file of s's cluster without encrypted
// backups, hence without a backup passphrase.
func writeSecretsWithout(t *testing.T, dir string, s *cluster.Spec) string {
	t.Helper()
	p := filepath.Join(dir, "clear.secrets.yaml")
	if _, _, err := secrets.LoadOrCreate(p, secrets.Reader, secrets.Want{Cluster: s.Cluster.Name, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return p
}
