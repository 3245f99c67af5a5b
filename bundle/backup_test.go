package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

const testCipherPass = "backup-test-cipher-pass-0123456789"

// backupSpec is the fixture spec with the default backup section.
func backupSpec(t testing.TB) *cluster.Spec {
	return fixtureSpec(t, func(s *cluster.Spec) {
		s.Backup = &cluster.Backup{
			Stanza: "demo", Repo: cluster.BackupRepo{Path: cluster.DefaultBackupRepoPath},
			Retention:   cluster.BackupRetention{Full: 2, Diff: 7},
			Schedule:    cluster.BackupSchedule{Full: cluster.DefaultBackupScheduleFull, Diff: cluster.DefaultBackupScheduleDiff},
			Compression: "zst", Encryption: cluster.BackupCipherAES256CBC, ArchiveTimeout: 60, Verify: cluster.DefaultBackupVerify,
		}
	})
}

// backupInput is the test bundle of a cluster with backups: its facts and
// its backup files come from the real renderer, and the pgbackrest package
// is in the set.
func backupInput(t *testing.T, dir string) Input {
	in := testInput(t, dir)
	in.Payload.Files = append([]payload.File(nil), in.Payload.Files...)
	spec := backupSpec(t)
	in.Components.PgBackRest = &rpm.PgBackRestComponent{Package: "pgbackrest-2.45-1PGDG.rhel9.x86_64", Version: "2.45", Bin: binDir(dir) + "/pgbackrest"}
	sec := &secrets.Secrets{HAProxyStatsPassword: testStatsPassword, BackupCipherPass: testCipherPass}
	setFactsFrom(t, &in, spec, in.Components, sec)
	full := fullSecrets(t, sec)
	rendered, err := templates.Render(spec, in.Node, in.Components, full)
	must(t, err)
	for _, f := range rendered.Files {
		if f.Path == layout.PgBackRestConfig || strings.HasPrefix(f.Path, layout.UnitDir+"/pgha-backup") {
			in.Payload.Add(f)
		}
	}
	must(t, in.Payload.Sort())
	in.Packages = append(in.Packages, fakePackage(t, dir, "pgbackrest", "pgbackrest-2.45-1PGDG.rhel9.x86_64", 1200))
	return in
}

// fullSecrets completes sec with what Render needs (passwords and the
// nodes' certificates), keeping sec's values.
func fullSecrets(t *testing.T, sec *secrets.Secrets) *secrets.Secrets {
	t.Helper()
	s, _, err := secrets.LoadOrCreate(filepath.Join(t.TempDir(), "s.yaml"), secrets.Reader, secrets.Want{
		Cluster: "demo", Now: testEpoch, Backup: true,
		Nodes: secrets.NodeIdentities([]secrets.Member{{Name: "pg1", Address: "10.0.0.1"}, {Name: "pg2", Address: "10.0.0.2"}}, false),
	})
	must(t, err)
	s.HAProxyStatsPassword, s.BackupCipherPass = sec.HAProxyStatsPassword, sec.BackupCipherPass
	return s
}

// backupHost is a test host whose repository share is mounted.
func backupHost(t *testing.T, role string) (*host, Input) {
	h := newHost(t)
	in := backupInput(t, h.dir)
	h.extract(in)
	must(t, os.MkdirAll(h.root+cluster.DefaultBackupRepoPath, 0o755))
	writeFile(t, h.state+"/role", role)
	return h, in
}

// On the leader, install.sh creates the repository's directories (never the
// mount point), installs backup.sh, creates the stanza and runs pgbackrest
// check as postgres after Patroni's health gate, then enables the timers;
// a second run changes nothing; uninstall.sh disables the timers first,
// removes backup.sh and leaves the repository alone.
func TestInstallBackupLeader(t *testing.T) {
	t.Parallel()
	h, _ := backupHost(t, "leader")
	out, code := h.run("install.sh")
	if code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	calls := h.calls()
	conf := "--config=" + h.root + layout.PgBackRestConfig
	create := index(calls, "pgbackrest "+conf+" --stanza=demo stanza-create")
	check := index(calls, "pgbackrest "+conf+" --stanza=demo check")
	health := index(calls, "curl -s -o /dev/null -w %{http_code} --max-time 5 --cacert "+h.root+layout.CA+" https://10.0.0.2:8008/health")
	if create < 0 || check < create || health < 0 || create < health {
		t.Errorf("stanza-create %d then check %d, after Patroni's health %d\n%s", create, check, health, strings.Join(calls, "\n"))
	}
	if i := index(calls, "runuser -u postgres -- "); i < 0 || !strings.Contains(calls[i], "stanza-create") {
		t.Errorf("pgbackrest not run as postgres\n%s", strings.Join(calls, "\n"))
	}
	for _, u := range []string{"pgha-backup-full.timer", "pgha-backup-diff.timer", "pgha-backup-verify.timer"} {
		if e := index(calls, "systemctl enable "+u); e < 0 || e < check {
			t.Errorf("%s not enabled after the check", u)
		}
		if index(calls, "systemctl start --no-block "+u) < 0 {
			t.Errorf("%s not started", u)
		}
	}
	if index(calls, "systemctl enable pgha-backup-incr.timer") >= 0 {
		t.Error("the incremental timer is enabled though its schedule is empty")
	}
	for _, d := range []string{"archive", "backup"} {
		fi, err := os.Stat(h.root + cluster.DefaultBackupRepoPath + "/" + d)
		if err != nil || fi.Mode().Perm() != 0o750 {
			t.Errorf("repository directory %s: %v %v", d, fi, err)
		}
		if index(calls, "chown postgres:postgres "+h.root+cluster.DefaultBackupRepoPath+"/"+d) < 0 {
			t.Errorf("repository directory %s not given to postgres", d)
		}
	}
	lib := h.root + layout.LibexecDir
	for _, f := range []string{"backup.sh", "lib.sh"} {
		want, _ := os.ReadFile(filepath.Join(h.bd, f))
		got, err := os.ReadFile(lib + "/" + f)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s not installed in %s: %v", f, layout.LibexecDir, err)
		}
	}
	if dst, err := os.Readlink(lib + "/FACTS"); err != nil || dst != h.root+layout.NodeFacts {
		t.Errorf("FACTS in %s names %q (%v)", layout.LibexecDir, dst, err)
	}
	if conf := readFile(t, h.root+layout.PgBackRestConfig); !strings.Contains(conf, "repo1-cipher-pass="+testCipherPass) {
		t.Errorf("pgbackrest.conf:\n%s", conf)
	}
	noSecrets(t, "install output", out)
	if strings.Contains(out, testCipherPass) {
		t.Error("install printed the repository's passphrase")
	}

	if out, code := h.run("install.sh"); code != 0 || len(mutating(h.calls())) > 0 {
		t.Errorf("second run: exit %d, changes %v\n%s", code, mutating(h.calls()), out)
	}

	must(t, os.WriteFile(h.root+cluster.DefaultBackupRepoPath+"/backup/keep", []byte("a backup\n"), 0o644))
	out, code = h.run("uninstall.sh")
	if code != 0 {
		t.Fatalf("uninstall exit %d\n%s", code, out)
	}
	calls = h.calls()
	if tm, p := index(calls, "systemctl stop pgha-backup-full.timer"), index(calls, "systemctl stop patroni"); tm < 0 || tm > p {
		t.Errorf("timers must stop before Patroni: %d, %d\n%s", tm, p, strings.Join(calls, "\n"))
	}
	if index(calls, "systemctl disable pgha-backup-diff.timer") < 0 {
		t.Error("diff timer not disabled")
	}
	if _, err := os.Stat(lib); err == nil {
		t.Errorf("%s left behind", layout.LibexecDir)
	}
	for _, p := range []string{layout.PgBackRestConfig, layout.BackupUnit, layout.UnitDir + "/pgha-backup-full.timer"} {
		if _, err := os.Stat(h.root + p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if readFile(t, h.root+cluster.DefaultBackupRepoPath+"/backup/keep") != "a backup\n" {
		t.Error("uninstall touched the repository")
	}
}

// On a replica, install.sh creates no stanza: it waits until the leader's
// shows in the repository, and times out saying so when it never does.
func TestInstallBackupReplica(t *testing.T) {
	t.Parallel()
	h, _ := backupHost(t, "replica")
	out, code := h.run("install.sh")
	if code == 0 || !strings.Contains(out, "timed out after 2s waiting for stanza demo in the repository") {
		t.Fatalf("install without the leader's stanza: exit %d\n%s", code, out)
	}
	if i := index(h.calls(), "pgbackrest --config"); i >= 0 && strings.Contains(h.calls()[i], "stanza-create") {
		t.Error("a replica created the stanza")
	}
	writeFile(t, h.state+"/stanza", "")
	out, code = h.run("install.sh")
	if code != 0 || index(h.calls(), "systemctl enable pgha-backup-full.timer") < 0 {
		t.Fatalf("install with the stanza: exit %d\n%s", code, out)
	}
	for _, c := range h.calls() {
		if strings.Contains(c, "stanza-create") || strings.HasSuffix(c, " check") {
			t.Errorf("replica ran %q", c)
		}
	}
}

// The gates: a repository that is not mounted is refused before anything
// changes; a check that fails (WAL not archived) stops install.sh and
// upgrade.sh with pgBackRest's error and what it means, and leaves the
// timers off.
func TestBackupGates(t *testing.T) {
	t.Parallel()
	t.Run("no repository", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		h.extract(backupInput(t, h.dir))
		out, code := h.run("install.sh")
		if code == 0 || !strings.Contains(out, "the backup repository /var/lib/pgbackrest does not exist: mount the repository share there") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if m := mutating(h.calls()); len(m) > 0 {
			t.Errorf("changed the host before refusing: %v", m)
		}
		if _, err := os.Stat(h.root + cluster.DefaultBackupRepoPath); err == nil {
			t.Error("install.sh created the mount point")
		}
	})
	t.Run("check fails", func(t *testing.T) {
		t.Parallel()
		h, in := backupHost(t, "leader")
		writeFile(t, h.state+"/fail-pgbackrest-check", "")
		out, code := h.run("install.sh")
		if code == 0 || !strings.Contains(out, "was not archived before the 60000ms timeout") ||
			!strings.Contains(out, "pgbackrest check failed on the leader pg2") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if index(h.calls(), "systemctl enable pgha-backup-full.timer") >= 0 {
			t.Error("timers enabled though the check failed")
		}
		// Repaired, then a config-only upgrade runs the same gate.
		must(t, os.Remove(h.state+"/fail-pgbackrest-check"))
		if out, code := h.run("install.sh"); code != 0 {
			t.Fatalf("install exit %d\n%s", code, out)
		}
		writeFile(t, h.state+"/fail-pgbackrest-check", "")
		v2 := newer(t, h, in, "v2", func(n *Input) {
			setContent(n, "/etc/patroni/dcs.yml", "ttl: 40\nloop_wait: 10\n")
		})
		h.extract(v2)
		out, code = h.run("upgrade.sh")
		if code == 0 || !strings.Contains(out, "pgbackrest check failed on the leader pg2") {
			t.Fatalf("upgrade with a failing check: exit %d\n%s", code, out)
		}
	})
}

// backup.sh runs the job only on the leader, exits 0 quietly elsewhere,
// fails when Patroni cannot say, and reports the last good backup's age.
func TestBackupScript(t *testing.T) {
	t.Parallel()
	h, _ := backupHost(t, "leader")
	if out, code := h.run("install.sh"); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	lib := h.root + layout.LibexecDir
	run := func(args ...string) (string, int) {
		bd := h.bd
		h.bd = lib
		defer func() { h.bd = bd }()
		return h.run("backup.sh", args...)
	}
	out, code := run("full")
	if code != 0 || index(h.calls(), "pgbackrest --config="+h.root+layout.PgBackRestConfig+" --stanza=demo backup --repo=1 --type=full") < 0 {
		t.Fatalf("full on the leader: exit %d\n%s\n%s", code, out, strings.Join(h.calls(), "\n"))
	}
	writeFile(t, h.state+"/role", "replica")
	out, code = run("diff")
	if code != 0 || !strings.Contains(out, "pg2 is not the leader (GET /primary 503)") || index(h.calls(), "pgbackrest") >= 0 {
		t.Errorf("diff on a replica: exit %d\n%s\n%s", code, out, strings.Join(h.calls(), "\n"))
	}
	must(t, os.Remove(h.state+"/active/patroni"))
	out, code = run("incr")
	if code == 0 || !strings.Contains(out, "Patroni on pg2 does not answer") {
		t.Errorf("incr with Patroni down: exit %d\n%s", code, out)
	}
	if out, code = run("weekly"); code != 2 {
		t.Errorf("unknown action: exit %d\n%s", code, out)
	}

	// status: the newest backup without an error is the last good one.
	now := testEpoch.Unix()
	writeFile(t, h.state+"/info.json", `[{"archive":[],"backup":[`+
		`{"error":false,"info":{"size":1},"label":"20260101-000000F","lsn":{},"timestamp":{"start":`+itoa(now-7300)+`,"stop":`+itoa(now-7200)+`},"type":"full"},`+
		`{"error":false,"info":{"size":1},"label":"20260101-000000F_20260101-010000D","lsn":{},"timestamp":{"start":`+itoa(now-3700)+`,"stop":`+itoa(now-3600)+`},"type":"diff"},`+
		`{"error":true,"info":{"size":1},"label":"20260101-000000F_20260101-020000I","lsn":{},"timestamp":{"start":`+itoa(now-100)+`,"stop":`+itoa(now-60)+`},"type":"incr"}],`+
		`"cipher":"aes-256-cbc","name":"demo","repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]`)
	out, code = run("status")
	for _, want := range []string{"stanza demo: ok (status 0)", "encrypted: yes", "backups: 3 (1 full, 1 diff, 1 incr)",
		"last good backup: diff 20260101-000000F_20260101-010000D, finished "} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("status exit %d", code)
	}
	writeFile(t, h.state+"/info.json", `[{"backup":[],"name":"demo","status":{"code":2,"lock":{"backup":{"held":false}},"message":"no valid backups"}}]`)
	if out, code = run("status"); code != 1 || !strings.Contains(out, "last good backup: none") || !strings.Contains(out, "no valid backups (status 2)") {
		t.Errorf("status without a backup: exit %d\n%s", code, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// An upgrade that empties a schedule stops and disables that timer before
// its file goes; one that drops the backup section also removes backup.sh.
func TestUpgradeDropsBackupTimers(t *testing.T) {
	t.Parallel()
	h, in := backupHost(t, "leader")
	if out, code := h.run("install.sh"); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	withoutDiff := backupSpec(t)
	withoutDiff.Backup.Schedule.Diff = ""
	diffTimer := layout.BackupTimerFile("diff").Path
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setFactsFrom(t, n, withoutDiff, n.Components, &secrets.Secrets{HAProxyStatsPassword: testStatsPassword, BackupCipherPass: testCipherPass})
		n.Payload.Files = slices.DeleteFunc(n.Payload.Files, func(f payload.File) bool { return f.Path == diffTimer })
	})
	h.extract(v2)
	out, code := h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	calls := h.calls()
	if s, d := index(calls, "systemctl stop pgha-backup-diff.timer"), index(calls, "systemctl disable pgha-backup-diff.timer"); s < 0 || d < 0 {
		t.Errorf("the diff timer was not stopped and disabled\n%s", strings.Join(calls, "\n"))
	}
	if _, err := os.Stat(h.root + diffTimer); err == nil {
		t.Error("the diff timer's file is left")
	}
	if index(calls, "systemctl disable pgha-backup-full.timer") >= 0 {
		t.Error("the full timer was disabled")
	}

	plain := fixtureSpec(t, nil)
	v3 := newer(t, h, v2, "v3", func(n *Input) {
		n.Components.PgBackRest = nil
		setFactsFrom(t, n, plain, n.Components, &secrets.Secrets{HAProxyStatsPassword: testStatsPassword})
		n.Payload.Files = slices.DeleteFunc(n.Payload.Files, func(f payload.File) bool {
			return f.Path == layout.PgBackRestConfig || strings.HasPrefix(f.Path, layout.UnitDir+"/pgha-backup")
		})
	})
	h.extract(v3)
	out, code = h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade v3 exit %d\n%s", code, out)
	}
	for _, u := range []string{"pgha-backup-full.timer", "pgha-backup-verify.timer"} {
		if index(h.calls(), "systemctl disable "+u) < 0 {
			t.Errorf("%s not disabled when the backup section went", u)
		}
	}
	if _, err := os.Stat(h.root + layout.LibexecDir + "/backup.sh"); err == nil {
		t.Error("backup.sh left behind when the backup section went")
	}
	if _, err := os.Stat(h.root + cluster.DefaultBackupRepoPath + "/archive"); err != nil {
		t.Error("the repository was touched")
	}
}
