package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// pg15Bin is Debian's PostgreSQL 15 (package postgresql-15).
const pg15Bin = "/usr/lib/postgresql/15/bin"

// realPG is a PostgreSQL server of the test, run by postgres.
type realPG struct {
	t         *testing.T
	data, env string
	port      int
	sock      string
}

// asPostgres runs a command as postgres with the rendered pgBackRest
// configuration named by PGBACKREST_CONFIG (the commands stay verbatim).
func asPostgres(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", "env"}, append(env, append([]string{name}, args...)...)...)...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *realPG) psql(sql string) string {
	p.t.Helper()
	out, err := asPostgres(p.t, nil, pg15Bin+"/psql", "-h", p.sock, "-p", strconv.Itoa(p.port), "-XAtq", "-d", "postgres", "-c", sql)
	if err != nil {
		p.t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(out)
}

func (p *realPG) start(env []string) {
	p.t.Helper()
	out, err := asPostgres(p.t, env, pg15Bin+"/pg_ctl", "-D", p.data, "-l", p.data+".log", "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(p.data + ".log")
		p.t.Fatalf("pg_ctl start %s: %v\n%s\n%s", p.data, err, out, log)
	}
	p.t.Cleanup(func() { _, _ = asPostgres(p.t, nil, pg15Bin+"/pg_ctl", "-D", p.data, "-m", "immediate", "stop") })
}

// waitFor polls sql until it prints want.
func (p *realPG) waitFor(sql, want string) {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		out, err := asPostgres(p.t, nil, pg15Bin+"/psql", "-h", p.sock, "-p", strconv.Itoa(p.port), "-XAtq", "-d", "postgres", "-c", sql)
		if got = strings.TrimSpace(out); err == nil && got == want {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	p.t.Fatalf("%s on %s: %q, want %q", sql, p.data, got, want)
}

// conf appends settings to a data directory's postgresql.auto.conf.
func conf(t *testing.T, data string, kv ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(data, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	for i := 0; i < len(kv); i += 2 {
		_, err := fmt.Fprintf(f, "%s = '%s'\n", kv[i], strings.ReplaceAll(kv[i+1], "'", "''"))
		must(t, err)
	}
}

// realBackup is a PostgreSQL 15 primary that archives its WAL with the
// rendered archive_command into a pgBackRest 2.45 repository of the test,
// configured as pgha-bundle renders node pg2 (pgbackrest.conf, FACTS).
type realBackup struct {
	pg                          *realPG
	dir, root, repo, data, sock string
	facts, confPath, pgbackrest string
	env                         []string
	port                        int
	params                      map[string]interface{}
	restoreCmd, replicaCmd      string
	replicaMethods              []string
}

// newRealBackup renders pg2's files for a cluster whose PostgreSQL listens
// on port (its Unix socket only) and starts its primary, with a table t of
// 100 rows. It skips without root, pgBackRest or PostgreSQL 15.
func newRealBackup(t *testing.T, port int) *realBackup {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test runs PostgreSQL as postgres: run it as root")
		}
		t.Skip("needs root to run PostgreSQL as postgres")
	}
	pgbackrest := testutil.NeedTool(t, "pgbackrest", "pgbackrest")
	testutil.NeedTool(t, "runuser", "util-linux")
	if _, err := os.Stat(pg15Bin + "/postgres"); err != nil {
		testutil.NeedTool(t, pg15Bin+"/postgres", "postgresql-15")
	}

	dir, err := os.MkdirTemp("", "pgha-backup-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	must(t, exec.Command("chown", "postgres:postgres", dir).Run())
	root := filepath.Join(dir, "root")
	sock, repo, data := filepath.Join(dir, "sock"), filepath.Join(dir, "repo"), filepath.Join(dir, "data")
	for _, d := range []string{sock, repo, filepath.Join(dir, "log"), filepath.Join(dir, "lock")} {
		must(t, os.MkdirAll(d, 0o750))
		must(t, exec.Command("chown", "postgres:postgres", d).Run())
	}

	// The spec of the other tests, at this test's paths.
	spec := fixtureSpec(t, func(s *cluster.Spec) {
		s.Backup = backupSpec(t).Backup
		s.Backup.Repo.Path = repo
		s.PostgreSQL.DataDir = data
		s.Ports.PostgreSQL = port
		s.PostgreSQL.Parameters = map[string]interface{}{"unix_socket_directories": sock}
	})
	comp := fixtureComponents("/usr/bin")
	comp.PostgreSQL = rpm.PostgreSQLComponent{Major: 15, Version: "15", BinDir: pg15Bin}
	comp.PgBackRest = &rpm.PgBackRestComponent{Version: "2.45", Bin: pgbackrest}
	sec := fullSecrets(t, &secrets.Secrets{HAProxyStatsPassword: testStatsPassword, BackupCipherPass: testCipherPass})
	node, err := templates.Render(spec, "pg2", comp, sec)
	must(t, err)
	file := func(p string) payload.File {
		f, ok := node.Lookup(p)
		if !ok {
			t.Fatalf("no %s rendered", p)
		}
		return f
	}
	// The rendered pgbackrest.conf, with pgBackRest's log and lock files in
	// the test's directory and a shorter wait for a WAL segment.
	pbconf := strings.Replace(string(file(layout.PgBackRestConfig).Content), "log-path=/var/log/pgbackrest",
		"log-path="+dir+"/log\nlock-path="+dir+"/lock\narchive-timeout=15", 1)
	if !strings.Contains(pbconf, "pg1-socket-path="+sock) || !strings.Contains(pbconf, "repo1-cipher-type=aes-256-cbc") {
		t.Fatalf("pgbackrest.conf:\n%s", pbconf)
	}
	confPath := root + layout.PgBackRestConfig
	writeFile(t, confPath, pbconf)
	must(t, exec.Command("chown", "root:postgres", confPath).Run())
	must(t, os.Chmod(confPath, 0o640))
	must(t, os.Chmod(root, 0o755))
	for d := filepath.Dir(confPath); d != root; d = filepath.Dir(d) {
		must(t, os.Chmod(d, 0o755))
	}
	facts := filepath.Join(dir, "FACTS")
	writeFile(t, facts, string(file(layout.NodeFacts).Content))
	b := &realBackup{dir: dir, root: root, repo: repo, data: data, sock: sock, facts: facts, confPath: confPath,
		pgbackrest: pgbackrest, env: []string{"PGBACKREST_CONFIG=" + confPath}, port: port}

	var dcs struct {
		PostgreSQL struct {
			Parameters map[string]interface{} `yaml:"parameters"`
		} `yaml:"postgresql"`
	}
	must(t, yaml.Unmarshal(file(layout.DCSConfig).Content, &dcs))
	var pat struct {
		PostgreSQL struct {
			RecoveryConf  map[string]string `yaml:"recovery_conf"`
			ReplicaMethod []string          `yaml:"create_replica_methods"`
			PgBackRest    struct {
				Command string `yaml:"command"`
			} `yaml:"pgbackrest"`
		} `yaml:"postgresql"`
	}
	must(t, yaml.Unmarshal(file(layout.PatroniConfig).Content, &pat))
	b.params = dcs.PostgreSQL.Parameters
	b.restoreCmd = pat.PostgreSQL.RecoveryConf["restore_command"]
	b.replicaCmd, b.replicaMethods = pat.PostgreSQL.PgBackRest.Command, pat.PostgreSQL.ReplicaMethod

	// A primary with the rendered archive settings.
	if out, err := asPostgres(t, nil, pg15Bin+"/initdb", "-D", data, "-A", "peer", "--data-checksums"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf(t, data, "port", strconv.Itoa(port), "listen_addresses", "", "unix_socket_directories", sock,
		"archive_mode", fmt.Sprint(b.params["archive_mode"]), "archive_command", fmt.Sprint(b.params["archive_command"]),
		"archive_timeout", fmt.Sprint(b.params["archive_timeout"]), "wal_level", "replica")
	b.pg = &realPG{t: t, data: data, port: port, sock: sock}
	b.pg.start(b.env)
	b.pg.psql("create table t (id int primary key); insert into t select generate_series(1, 100)")
	return b
}

// pgbackrestRun runs pgBackRest as postgres for the stanza.
func (b *realBackup) pgbackrestRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := asPostgres(t, b.env, b.pgbackrest, append([]string{"--stanza=demo"}, args...)...)
	if err != nil {
		t.Fatalf("pgbackrest %v: %v\n%s", args, err, out)
	}
	return out
}

// The rendered backup configuration with the real pgBackRest 2.45 and a
// real PostgreSQL 15: archive_command from the DCS settings, the stanza and
// the health gate of lib.sh (stanza-create, check), a full backup that
// `pgbackrest info` and `backup.sh status` show encrypted, a restore to
// the latest WAL through the rendered restore_command that holds every
// row, and a replica made by the rendered create_replica_methods command.
// Then the repository turns unwritable: archiving fails, the WAL stays in
// pg_wal (measured), and the same gate fails and says why; repaired, the
// archive catches up and the gate passes.
func TestBackupWithRealPgBackRest(t *testing.T) {
	b := newRealBackup(t, 25432+os.Getpid()%1000)
	pg, env, pgbackrest, facts, root, repo, dir, sock, port := b.pg, b.env, b.pgbackrest, b.facts, b.root, b.repo, b.dir, b.sock, b.port
	restoreCmd := b.restoreCmd
	if b.params["archive_mode"] != "on" || restoreCmd == "" || strings.Join(b.replicaMethods, ",") != "pgbackrest,basebackup" {
		t.Fatalf("rendered archive %v, restore %q, replica methods %v", b.params, restoreCmd, b.replicaMethods)
	}

	// lib.sh's gate, as install.sh runs it on the leader.
	gate := func() (string, error) {
		cmd := exec.Command("bash", "-c", `set -euo pipefail; . "$1/lib.sh"; load_facts "$2"; stanza_gate`, "gate", filepath.Join(mustAbs(t, "scripts")), facts)
		cmd.Env = append(os.Environ(), "PGHA_ROOT="+root)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := gate()
	if err != nil || !strings.Contains(out, "pgbackrest check: WAL archiving reaches the repository") {
		t.Fatalf("gate on a working repository: %v\n%s", err, out)
	}
	if out, err := gate(); err != nil {
		t.Fatalf("gate again (stanza-create is idempotent): %v\n%s", err, out)
	}

	start := time.Now()
	if out, err := asPostgres(t, env, pgbackrest, "--stanza=demo", "backup", "--type=full"); err != nil {
		t.Fatalf("full backup: %v\n%s", err, out)
	}
	t.Logf("full backup of a fresh cluster: %v", time.Since(start).Round(time.Millisecond))
	infoOut, err := asPostgres(t, env, pgbackrest, "--stanza=demo", "--output=json", "info")
	if err != nil {
		t.Fatalf("info: %v\n%s", err, infoOut)
	}
	var info []struct {
		Cipher string `json:"cipher"`
		Status struct {
			Code int `json:"code"`
		} `json:"status"`
		Backup []struct {
			Type  string `json:"type"`
			Error bool   `json:"error"`
		} `json:"backup"`
	}
	must(t, json.Unmarshal([]byte(infoOut), &info))
	if len(info) != 1 || info[0].Cipher != "aes-256-cbc" || info[0].Status.Code != 0 || len(info[0].Backup) != 1 || info[0].Backup[0].Type != "full" {
		t.Fatalf("info: %s", infoOut)
	}
	if b, err := os.ReadFile(filepath.Join(repo, "backup", "demo", "backup.info")); err != nil || strings.Contains(string(b), "[backrest]") {
		t.Errorf("backup.info is readable without the passphrase (%v)", err)
	}
	cmd := exec.Command("bash", filepath.Join(mustAbs(t, "scripts"), "backup.sh"), "--facts", facts, "status")
	cmd.Env = append(os.Environ(), "PGHA_ROOT="+root)
	status, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(status), "stanza demo: ok (status 0)") || !strings.Contains(string(status), "last good backup: full ") ||
		!strings.Contains(string(status), "encrypted: yes") {
		t.Errorf("backup.sh status: %v\n%s", err, status)
	}

	// Rows after the backup reach the repository as WAL only.
	pg.psql("insert into t select generate_series(101, 150)")
	seg := pg.psql("select pg_walfile_name(pg_switch_wal())")
	pg.waitFor("select last_archived_wal >= '"+seg+"' from pg_stat_archiver", "t")

	// A restore to the latest WAL, replayed through the rendered
	// restore_command: every row is there.
	restored := filepath.Join(dir, "restored")
	if out, err := asPostgres(t, env, pgbackrest, "--stanza=demo", "--pg1-path="+restored, "--recovery-option=restore_command="+restoreCmd, "restore"); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if auto, _ := os.ReadFile(filepath.Join(restored, "postgresql.auto.conf")); !strings.Contains(string(auto), restoreCmd) {
		t.Fatalf("the restore does not use the rendered restore_command:\n%s", auto)
	}
	conf(t, restored, "port", strconv.Itoa(port+1), "archive_mode", "off")
	rp := &realPG{t: t, data: restored, port: port + 1, sock: sock}
	// (As on a node, where the restore lands in pg1-path itself.)
	rp.start(append(env, "PGBACKREST_PG1_PATH="+restored))
	rp.waitFor("select pg_is_in_recovery()", "f")
	if got := rp.psql("select count(*), max(id) from t"); got != "150|150" {
		t.Errorf("restored rows: %s, want 150|150", got)
	}

	// A replica made by the rendered create_replica_methods command, run
	// verbatim as Patroni runs it (no_params: PGDATA from the configuration).
	replica := filepath.Join(dir, "replica")
	if out, err := asPostgres(t, append(env, "PGBACKREST_PG1_PATH="+replica), "sh", "-c", b.replicaCmd); err != nil {
		t.Fatalf("replica command %q: %v\n%s", b.replicaCmd, err, out)
	}
	if _, err := os.Stat(filepath.Join(replica, "standby.signal")); err != nil {
		t.Fatalf("the replica command made no standby: %v", err)
	}
	conf(t, replica, "port", strconv.Itoa(port+2), "archive_mode", "off")
	sp := &realPG{t: t, data: replica, port: port + 2, sock: sock}
	sp.start(append(env, "PGBACKREST_PG1_PATH="+replica))
	sp.waitFor("select pg_is_in_recovery() and (select count(*) from t) = 150", "t")

	// The repository breaks: archiving fails, WAL piles up in pg_wal, and
	// the gate fails saying so.
	must(t, filepath.WalkDir(filepath.Join(repo, "archive"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o500)
		}
		return err
	}))
	out, err = gate()
	if err == nil || !strings.Contains(out, "pgbackrest check failed on the leader pg2") || !strings.Contains(out, "ERROR") {
		t.Fatalf("gate on an unwritable repository: %v\n%s", err, out)
	}
	if got := pg.psql("select count(*) > 0 from pg_ls_archive_statusdir() where name like '%.ready'"); got != "t" {
		t.Errorf("no WAL segment waits in pg_wal for the archive: %s", got)
	}
	if got := pg.psql("select failed_count > 0 from pg_stat_archiver"); got != "t" {
		t.Errorf("pg_stat_archiver shows no failure: %s", got)
	}

	// While the repository is down every finished segment stays in pg_wal.
	before := pg.psql("select sum(size) from pg_ls_waldir()")
	for i := 0; i < 4; i++ {
		pg.psql("insert into t select generate_series(1000*" + strconv.Itoa(i+1) + ", 1000*" + strconv.Itoa(i+1) + "+999); select pg_switch_wal(); checkpoint")
	}
	ready := pg.psql("select count(*) from pg_ls_archive_statusdir() where name like '%.ready'")
	after := pg.psql("select sum(size) from pg_ls_waldir()")
	if n, _ := strconv.Atoi(ready); n < 4 {
		t.Errorf("%s segments wait for the archive after 4 switches, want 4 or more", ready)
	}
	b0, _ := strconv.ParseInt(before, 10, 64)
	b1, _ := strconv.ParseInt(after, 10, 64)
	t.Logf("repository down: %s segments waiting, pg_wal %d MiB -> %d MiB after 4 WAL switches and checkpoints", ready, b0>>20, b1>>20)

	// Repaired, the archive catches up and the gate passes again.
	must(t, filepath.WalkDir(filepath.Join(repo, "archive"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o750)
		}
		return err
	}))
	if out, err := gate(); err != nil {
		t.Fatalf("gate on the repaired repository: %v\n%s", err, out)
	}
	pg.waitFor("select count(*) from pg_ls_archive_statusdir() where name like '%.ready'", "0")
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	must(t, err)
	return a
}
