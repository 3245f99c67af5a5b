package templates

import (
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
)

// The source repository's passphrase lands in source.conf on the first
// node only (root and postgres may read it), marked secret there; the
// other members have neither the file nor a bootstrap section, so they
// never initialise the cluster. Without the imported passphrase the build
// fails saying how to import it; a clear source needs none.
func TestBootstrapFromBackup(t *testing.T) {
	var c renderCase
	for _, rc := range renderCases(t) {
		if rc.name == "clone-el9" {
			c = rc
		}
	}
	spec := loadSpec(t, "clone.yaml", c.spec)
	sec := testSecrets(t)
	nodes, err := RenderAll(spec, c.comp, sec)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		src, has := n.Lookup(layout.PgBackRestSourceConfig)
		pat, _ := n.Lookup(layout.PatroniConfig)
		bootstraps := strings.Contains(string(pat.Content), "\nbootstrap:\n")
		if (i == 0) != has || (i == 0) != bootstraps {
			t.Errorf("%s: source.conf %v, bootstrap section %v", n.Name, has, bootstraps)
		}
		for _, f := range n.Files {
			if strings.Contains(string(f.Content), sec.SourceBackupCipherPass) && f.Path != layout.PgBackRestSourceConfig {
				t.Errorf("%s %s holds the source's passphrase", n.Name, f.Path)
			}
		}
		if !has {
			continue
		}
		if src.Mode != 0o640 || src.Owner != "root" || src.Group != "postgres" || !src.Secret || !covers(src, sec.SourceBackupCipherPass) {
			t.Errorf("source.conf: mode %o %s:%s secret %v spans %v", src.Mode, src.Owner, src.Group, src.Secret, src.Spans)
		}
		// The source is only read: the restore and archive-get, never a
		// command that writes a repository.
		for _, w := range []string{"archive-push", "backup", "stanza-create", "expire"} {
			if strings.Contains(string(pat.Content), "--config="+layout.PgBackRestSourceConfig+" --stanza=prod "+w) {
				t.Errorf("patroni.yml runs %s against the source", w)
			}
		}
	}

	sec.SourceBackupCipherPass = ""
	if _, err := Render(spec, "co7-node01", c.comp, sec); err == nil || !strings.Contains(err.Error(), "pgha-bundle secrets import-backup-passphrase") {
		t.Errorf("render without the source's passphrase: %v", err)
	}
	if _, err := Render(spec, "co7-node02", c.comp, sec); err != nil {
		t.Errorf("a member that does not bootstrap needs no source passphrase: %v", err)
	}
	clear := loadSpec(t, "clear.yaml", []byte(strings.Replace(string(c.spec), "    set: ", "    encryption: none\n    set: ", 1)))
	n, err := Render(clear, "co7-node01", c.comp, sec)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := n.Lookup(layout.PgBackRestSourceConfig); strings.Contains(string(f.Content), "cipher") {
		t.Errorf("a clear source's config names a cipher:\n%s", f.Content)
	}
	// A time target stays one word of the command (Patroni splits it as
	// a shell would); the end of the archive sets no target.
	at := loadSpec(t, "time.yaml", []byte(strings.Replace(string(c.spec), "name: before-migration-42", "time: \"2026-12-04 05:40:00+00\"", 1)))
	n, err = Render(at, "co7-node01", c.comp, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	pat, _ := n.Lookup(layout.PatroniConfig)
	for _, want := range []string{`--type=time --target='2026-12-04 05:40:00+00' --target-action=promote --set=20261204-010000F restore"`, `recovery_target_time: "2026-12-04 05:40:00+00"`} {
		if !strings.Contains(string(pat.Content), want) {
			t.Errorf("patroni.yml lacks %s", want)
		}
	}
	latest := loadSpec(t, "latest.yaml", []byte(strings.Replace(string(c.spec), "    target:\n      name: before-migration-42\n", "", 1)))
	n, err = Render(latest, "co7-node01", c.comp, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	pat, _ = n.Lookup(layout.PatroniConfig)
	if s := string(pat.Content); strings.Contains(s, "--target") || strings.Contains(s, "recovery_target_action") || !strings.Contains(s, "--set=20261204-010000F restore") {
		t.Errorf("the end of the archive:\n%s", s)
	}
}

// covers reports whether a secret span of f covers v.
func covers(f payload.File, v string) bool {
	at := strings.Index(string(f.Content), v)
	for _, sp := range f.Spans {
		if at >= 0 && sp[0] <= at && at+len(v) <= sp[1] {
			return true
		}
	}
	return false
}
