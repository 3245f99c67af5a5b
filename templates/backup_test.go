package templates

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// backupCase is the render case with a backup section.
func backupCase(t *testing.T) (renderCase, *cluster.Spec) {
	t.Helper()
	for _, c := range renderCases(t) {
		if c.name == "backup-el9" {
			return c, loadSpec(t, c.name+".yaml", c.spec)
		}
	}
	t.Fatal("no backup-el9 render case")
	return renderCase{}, nil
}

// The repository's passphrase lands in pgbackrest.conf only (root and
// postgres may read it), marked secret there so that diff and inspect
// hide it; never in the facts, the units or Patroni's files.
func TestBackupPassphraseOnlyInPgBackRestConf(t *testing.T) {
	c, spec := backupCase(t)
	sec := testSecrets(t)
	n, err := Render(spec, "co7-node01", c.comp, sec)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range n.Files {
		if !strings.Contains(string(f.Content), sec.BackupCipherPass) {
			continue
		}
		if f.Path != layout.PgBackRestConfig {
			t.Errorf("%s holds the repository's passphrase", f.Path)
			continue
		}
		found = true
		if f.Mode != 0o640 || f.Owner != "root" || f.Group != "postgres" || !f.Secret {
			t.Errorf("pgbackrest.conf: mode %o %s:%s secret %v", f.Mode, f.Owner, f.Group, f.Secret)
		}
		// diff and inspect hide the spans: one covers the passphrase.
		at := strings.Index(string(f.Content), sec.BackupCipherPass)
		covered := false
		for _, sp := range f.Spans {
			covered = covered || (sp[0] <= at && at+len(sec.BackupCipherPass) <= sp[1])
		}
		if !covered {
			t.Errorf("the passphrase at %d is outside the secret spans %v", at, f.Spans)
		}
	}
	if !found {
		t.Fatal("pgbackrest.conf lacks the passphrase")
	}
}

// Without encryption there is no passphrase; without the pgbackrest
// package a spec with backups cannot render, and says what to add.
func TestBackupRenderRules(t *testing.T) {
	c, _ := backupCase(t)
	plain := loadSpec(t, "plain.yaml", []byte(strings.Replace(string(c.spec), "backup:\n", "backup:\n  encryption: none\n", 1)))
	n, err := Render(plain, "co7-node01", c.comp, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := n.Lookup(layout.PgBackRestConfig)
	if strings.Contains(string(f.Content), "cipher") {
		t.Errorf("an unencrypted repository's config names a cipher:\n%s", f.Content)
	}
	facts, _ := n.Lookup(layout.NodeFacts)
	if !strings.Contains(string(facts.Content), "\nbackup_encrypted no\n") {
		t.Error("facts do not say the repository is unencrypted")
	}
	without := c.comp
	without.PgBackRest = nil
	if _, err := Render(plain, "co7-node01", without, testSecrets(t)); err == nil || err.Error() != rpm.NeedPgBackRest().Error() {
		t.Errorf("render without pgbackrest: %v", err)
	}
	sec := testSecrets(t)
	sec.BackupCipherPass = ""
	_, spec := backupCase(t)
	if _, err := Render(spec, "co7-node01", c.comp, sec); err == nil || !strings.Contains(err.Error(), "backup_cipher_pass") {
		t.Errorf("render without the passphrase: %v", err)
	}
}

// systemd reads the backup job's unit and every timer: systemd-analyze
// verify accepts them (backup.sh's path rewritten to a stand-in in the
// test's directory), and refuses a timer whose calendar it cannot parse.
func TestBackupUnitsVerify(t *testing.T) {
	sa := testutil.NeedTool(t, "systemd-analyze", "systemd")
	c, spec := backupCase(t)
	spec.Backup.Schedule.Incr = "hourly"
	n, err := Render(spec, "co7-node01", c.comp, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "backup.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var units []string
	for _, f := range n.Files {
		if !strings.HasPrefix(f.Path, layout.UnitDir+"/pgha-backup") {
			continue
		}
		p := filepath.Join(dir, filepath.Base(f.Path))
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(f.Content), layout.BackupScript, script)), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, p)
	}
	if len(units) != 5 {
		t.Fatalf("want the unit and 4 timers, got %v", units)
	}
	verify := func(units ...string) (string, error) {
		cmd := exec.Command(sa, append([]string{"verify"}, units...)...)
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify(units...); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, layout.BackupTimerName("diff"))
	b, _ := os.ReadFile(bad)
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), "OnCalendar=Mon..Sat *-*-* 01:00:00", "OnCalendar=Mon..Sat 25:00", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(bad); err == nil || !strings.Contains(out, "calendar") {
		t.Errorf("systemd-analyze verify accepted a bad calendar: %v\n%s", err, out)
	}
}
