package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// testBackupHostRepo is the backup host's repository in these tests.
const testBackupHostRepo = "/srv/pgbackrest"

// backupHostInput is the bundle of the backup host "bk" of the test
// cluster with backups, rendered by the real renderer.
func backupHostInput(t *testing.T, dir string) Input {
	t.Helper()
	spec := backupSpec(t)
	spec.Backup.Host = &cluster.BackupHost{Name: "bk", Address: "10.0.0.9", Port: cluster.DefaultBackupHostPort, Path: testBackupHostRepo}
	comp := fixtureComponents(binDir(dir))
	comp.PgBackRest = &rpm.PgBackRestComponent{Package: "pgbackrest-2.45-1PGDG.rhel9.x86_64", Version: "2.45", Bin: binDir(dir) + "/pgbackrest"}
	var members []secrets.Member
	for _, n := range append(append([]cluster.Node(nil), spec.Nodes...), spec.BackupHostNode()) {
		members = append(members, secrets.Member{Name: n.Name, Address: n.Address})
	}
	sec, _, err := secrets.LoadOrCreate(t.TempDir()+"/s.yaml", secrets.Reader, secrets.Want{
		Cluster: "demo", Now: testEpoch, Backup: true, Nodes: secrets.NodeIdentities(members, false)})
	must(t, err)
	p, ok, err := templates.RenderBackupHost(spec, comp, sec)
	must(t, err)
	if !ok {
		t.Fatal("no backup host rendered")
	}
	in := testInput(t, dir)
	in.Node, in.Payload, in.Components = "bk", p, comp
	in.Packages = []rpm.Package{fakePackage(t, dir, "pgbackrest", "pgbackrest-2.45-1PGDG.rhel9.x86_64", 1200)}
	return in
}

// The backup host's install.sh installs pgBackRest alone: its repository
// (made on its own disk), its files, firewall rules letting the members
// only reach its TLS server, the server and the timers; no member daemon.
// A second run changes nothing, upgrade.sh of the same bundle neither;
// uninstall.sh refuses --purge, then removes what install.sh made and
// keeps the repository.
func TestBackupHostLifecycle(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.env = append(h.env, "STUB_ADDR=10.0.0.9")
	writeFile(t, h.state+"/firewalld", "")
	in := backupHostInput(t, h.dir)
	h.extract(in)
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	calls := h.calls()
	server := index(calls, "systemctl start --no-block pgha-pgbackrest.service")
	if server < 0 || index(calls, "systemctl enable pgha-pgbackrest.service") < 0 {
		t.Errorf("pgBackRest's TLS server not enabled and started\n%s", strings.Join(calls, "\n"))
	}
	for _, u := range []string{"pgha-backup-full.timer", "pgha-backup-diff.timer", "pgha-backup-verify.timer"} {
		if e := index(calls, "systemctl enable "+u); e < server {
			t.Errorf("%s not enabled after the server started", u)
		}
	}
	for _, c := range calls {
		for _, u := range []string{"etcd", "patroni", "haproxy", "keepalived"} {
			if strings.HasPrefix(c, "systemctl start --no-block "+u) || strings.HasPrefix(c, "systemctl enable "+u) {
				t.Errorf("the backup host started a member's daemon: %s", c)
			}
		}
		if strings.Contains(c, "stanza-create") {
			t.Errorf("the backup host made the stanza (the members' leader does): %s", c)
		}
	}
	for _, d := range []string{testBackupHostRepo, testBackupHostRepo + "/archive", testBackupHostRepo + "/backup"} {
		if fi, err := os.Stat(h.root + d); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Errorf("repository directory %s: %v %v", d, fi, err)
		}
	}
	fw := permRules(t, h)
	for _, a := range []string{"10.0.0.1", "10.0.0.2"} {
		if !strings.Contains(fw, `source address="`+a+`/32" port port="8432" protocol="tcp" accept`) {
			t.Errorf("no permanent rule letting member %s reach port 8432:\n%s", a, fw)
		}
	}
	if strings.Count(fw, "accept") != 2 {
		t.Errorf("firewall rules beyond the two members':\n%s", fw)
	}
	if _, err := os.Stat(h.root + layout.BackupHostKey); err != nil {
		t.Errorf("the backup host's key: %v", err)
	}
	if _, err := os.Stat(h.root + layout.PatroniConfig); err == nil {
		t.Error("the backup host got patroni.yml")
	}

	if out, code := h.run("install.sh"); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("second install: exit %d\n%s", code, out)
	}
	if out, code := h.run("upgrade.sh"); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("upgrade.sh of the installed bundle: exit %d\n%s", code, out)
	}

	if out, code := h.run("uninstall.sh", "--purge", "--yes"); code == 0 || !strings.Contains(out, "never deletes the backup host's repository") {
		t.Errorf("uninstall --purge on the backup host: exit %d\n%s", code, out)
	}
	out, code = h.run("uninstall.sh")
	if code != 0 {
		t.Fatalf("uninstall exit %d\n%s", code, out)
	}
	calls = h.calls()
	if stop, timers := index(calls, "systemctl stop pgha-pgbackrest.service"), index(calls, "systemctl disable pgha-backup-full.timer"); stop < 0 || timers < 0 || timers > stop {
		t.Errorf("uninstall: timers disabled %d, then the server stopped %d\n%s", timers, stop, strings.Join(calls, "\n"))
	}
	if fi, err := os.Stat(h.root + testBackupHostRepo); err != nil || !fi.IsDir() {
		t.Errorf("uninstall removed the repository: %v", err)
	}
	for _, f := range []string{layout.PgBackRestConfig, layout.BackupServerUnit, layout.BackupHostKey, layout.Receipt} {
		if _, err := os.Stat(h.root + f); err == nil {
			t.Errorf("uninstall left %s", f)
		}
	}
	if fw := permRules(t, h); strings.Contains(fw, "8432") {
		t.Errorf("uninstall left the firewall rules:\n%s", fw)
	}
}

// permRules are the permanent rich rules the firewall-cmd stand-in holds.
func permRules(t *testing.T, h *host) string {
	t.Helper()
	files, err := filepath.Glob(h.state + "/ports/perm-rule-*")
	must(t, err)
	var b strings.Builder
	for _, f := range files {
		c, err := os.ReadFile(f)
		must(t, err)
		b.Write(c)
	}
	return b.String()
}
