package bundle

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// needRealPG skips (fails in CI) unless PostgreSQL 15 can run here as
// postgres.
func needRealPG(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test runs PostgreSQL as postgres: run it as root")
		}
		t.Skip("needs root to run PostgreSQL as postgres")
	}
	testutil.NeedTool(t, "runuser", "util-linux")
	if _, err := os.Stat(pg15Bin + "/postgres"); err != nil {
		testutil.NeedTool(t, pg15Bin+"/postgres", "postgresql-15")
	}
}

// rotationSQL is upgrade.sh's rotation_sql for roles ("kind user hash"
// lines): the very function, cut out of the script.
func rotationSQL(t *testing.T, roles string) string {
	t.Helper()
	script, err := filepath.Abs("scripts/upgrade.sh")
	must(t, err)
	cmd := exec.Command("bash", "-c", `set -euo pipefail; eval "$(sed -n '/^rotation_sql() {$/,/^}$/p' "$1")"; rotation_sql`, "bash", script)
	cmd.Stdin = strings.NewReader(roles)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ALTER ROLE") {
		t.Fatalf("rotation_sql: %v\n%s", err, out)
	}
	return string(out)
}

// tcpPSQL runs sql on host:port as user with password (in the
// environment, as upgrade.sh does), within limit; it returns the output
// and whether psql succeeded.
func tcpPSQL(t *testing.T, host string, port int, user, password, sql string, limit time.Duration) (string, bool) {
	t.Helper()
	conn := fmt.Sprintf("host=%s port=%d user=%s dbname=postgres connect_timeout=5", host, port, user)
	cmd := exec.Command(pg15Bin+"/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conn)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	cmd.Stdin = strings.NewReader(sql)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		return string(out) + "\n(killed after " + limit.String() + ")", false
	}
	return string(out), err == nil
}

// replication is what the primary's pg_stat_replication says of the
// standby: "state:sync_state", empty when it is not connected.
func replication(p *realPG) string {
	return p.psql("SELECT coalesce(string_agg(state || ':' || sync_state, ','), '') FROM pg_stat_replication WHERE application_name = 'standby'")
}

// TestRotationOrderWithRealPostgres: a primary and a streaming standby
// of PostgreSQL 15 on 127.0.0.2 and 127.0.0.3, in strict synchronous
// replication (synchronous_standby_names names the standby), the standby
// connecting with its password in a passfile as Patroni writes it.
//
// The wrong order first, to show what the upgrade's order prevents: the
// standby given a new password the primary does not know yet stops
// streaming, and the primary's commits wait for it. The rotation SQL of
// upgrade.sh then still commits (synchronous_commit = local; without it,
// it waits too) and the standby reconnects with the new password. Then the right order: the
// primary first (the standby keeps streaming on its open connection),
// then the standby's new password, and a reconnection streams again. The
// SCRAM hashes pgha-bundle computes are accepted for their password and
// refuse the old one; so is an md5 hash on an md5 pg_hba line.
func TestRotationOrderWithRealPostgres(t *testing.T) {
	needRealPG(t)
	dir, err := os.MkdirTemp("", "pgha-rotate-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	port := freePort(t)
	primary := &realPG{t: t, data: filepath.Join(dir, "primary"), port: port, sock: filepath.Join(dir, "sock1")}
	standby := &realPG{t: t, data: filepath.Join(dir, "standby"), port: port, sock: filepath.Join(dir, "sock2")}
	for _, d := range []string{primary.sock, standby.sock} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, exec.Command("chown", "-R", "postgres:postgres", dir).Run())

	gen := func(n int) *secrets.Secrets { return rotationSecrets(strconv.Itoa(n)) }
	if out, err := asPostgres(t, nil, pg15Bin+"/initdb", "-D", primary.data, "-A", "peer"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	writeFile(t, primary.data+"/pg_hba.conf", "local all all peer\n"+
		"host all md5_user 127.0.0.0/8 md5\n"+
		"host all all 127.0.0.0/8 scram-sha-256\n"+
		"host replication replicator 127.0.0.0/8 scram-sha-256\n")
	conf(t, primary.data, "listen_addresses", "127.0.0.2", "port", strconv.Itoa(port), "unix_socket_directories", primary.sock,
		"wal_level", "replica", "wal_keep_size", "64MB")
	must(t, exec.Command("chown", "-R", "postgres:postgres", primary.data).Run())
	primary.start(nil)
	g1 := gen(1)
	primary.psql(fmt.Sprintf("ALTER ROLE postgres PASSWORD '%s'", g1.SuperuserPassword))
	primary.psql(fmt.Sprintf("CREATE ROLE replicator REPLICATION LOGIN PASSWORD '%s'", g1.ReplicationPassword))
	primary.psql("CREATE TABLE rows (n int)")
	primary.psql("CREATE ROLE control LOGIN")

	// The standby, its password in a passfile (Patroni's pgpass).
	passfile := filepath.Join(dir, "pgpass")
	setPass := func(pw string) {
		writeFile(t, passfile, fmt.Sprintf("127.0.0.2:%d:*:replicator:%s\n", port, pw))
		must(t, os.Chmod(passfile, 0o600))
		must(t, exec.Command("chown", "postgres:postgres", passfile).Run())
	}
	setPass(g1.ReplicationPassword)
	if out, err := asPostgres(t, []string{"PGPASSFILE=" + passfile}, pg15Bin+"/pg_basebackup", "-w", "-D", standby.data,
		"-d", fmt.Sprintf("host=127.0.0.2 port=%d user=replicator", port), "-X", "stream"); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	conf(t, standby.data, "listen_addresses", "127.0.0.3", "unix_socket_directories", standby.sock, "synchronous_standby_names", "",
		"primary_conninfo", fmt.Sprintf("host=127.0.0.2 port=%d user=replicator passfile=%s application_name=standby", port, passfile),
		"wal_retrieve_retry_interval", "500ms")
	writeFile(t, standby.data+"/standby.signal", "")
	must(t, exec.Command("chown", "-R", "postgres:postgres", standby.data).Run())
	standby.start(nil)
	// Strict synchronous replication from now on: a commit waits for the
	// standby, however long.
	primary.psql("ALTER SYSTEM SET synchronous_standby_names = 'standby'")
	primary.psql("SELECT pg_reload_conf()")
	primary.waitFor("SELECT coalesce(string_agg(state || ':' || sync_state, ','), '') FROM pg_stat_replication WHERE application_name = 'standby'", "streaming:sync")
	reconnect := func() {
		primary.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'standby'")
	}
	syncWrite := func(n int) (string, bool) {
		return tcpPSQL(t, "127.0.0.2", port, "postgres", gen(n).SuperuserPassword, "INSERT INTO rows VALUES (1);\n", 10*time.Second)
	}
	roles := func(s *secrets.Secrets) string {
		var b strings.Builder
		for _, r := range [][3]string{{"superuser", "postgres", s.SuperuserPassword}, {"replication", "replicator", s.ReplicationPassword}} {
			h, err := secrets.SCRAMVerifier(r[1], r[2])
			must(t, err)
			fmt.Fprintf(&b, "%s %s %s\n", r[0], r[1], h)
		}
		return b.String()
	}

	// The wrong order: the standby reconnects with a password the
	// primary does not know yet.
	g2 := gen(2)
	setPass(g2.ReplicationPassword)
	reconnect()
	time.Sleep(2 * time.Second)
	if got := replication(primary); got != "" {
		t.Fatalf("the standby streams (%q) with a password the primary does not know", got)
	}
	// The commit waits for the standby for good (statement_timeout does
	// not cut a commit's wait): psql is killed after 10 s.
	if out, ok := syncWrite(1); ok || !strings.Contains(out, "killed after") {
		t.Fatalf("a commit did not wait for the standby that cannot connect (ok %v):\n%s", ok, out)
	}
	// Without synchronous_commit = local the rotation would wait as well.
	h, err := secrets.SCRAMVerifier("control", g2.RewindPassword)
	must(t, err)
	control := strings.Replace(rotationSQL(t, "superuser control "+h+"\n"), "SET LOCAL synchronous_commit = local;\n", "", 1)
	if out, ok := tcpPSQL(t, "127.0.0.2", port, "postgres", g1.SuperuserPassword, control, 10*time.Second); ok || !strings.Contains(out, "killed after") {
		t.Fatalf("the rotation without synchronous_commit = local did not wait (ok %v):\n%s", ok, out)
	}
	// upgrade.sh's transaction commits all the same, from another member
	// with the installed superuser password, and the standby is back.
	if out, ok := tcpPSQL(t, "127.0.0.2", port, "postgres", g1.SuperuserPassword, rotationSQL(t, roles(g2)), 20*time.Second); !ok || out != "postgres\nreplicator\n" {
		t.Fatalf("the rotation did not commit without the synchronous standby (ok %v):\n%s", ok, out)
	}
	primary.waitFor("SELECT coalesce(string_agg(state || ':' || sync_state, ','), '') FROM pg_stat_replication WHERE application_name = 'standby'", "streaming:sync")
	if out, ok := syncWrite(2); !ok || strings.Contains(out, "WARNING") {
		t.Fatalf("a commit after the rotation: ok %v\n%s", ok, out)
	}

	// The right order: the primary first, the standby keeps streaming on
	// its connection, then takes the new password and reconnects with it.
	g3 := gen(3)
	pid := primary.psql("SELECT pid FROM pg_stat_replication WHERE application_name = 'standby'")
	if out, ok := tcpPSQL(t, "127.0.0.2", port, "postgres", g3.SuperuserPassword, rotationSQL(t, roles(g3)), 20*time.Second); ok {
		t.Fatalf("the primary took a superuser password it was never given:\n%s", out)
	}
	if out, ok := tcpPSQL(t, "127.0.0.2", port, "postgres", g2.SuperuserPassword, rotationSQL(t, roles(g3)), 20*time.Second); !ok || out != "postgres\nreplicator\n" {
		t.Fatalf("rotation: ok %v\n%s", ok, out)
	}
	if got, now := replication(primary), primary.psql("SELECT pid FROM pg_stat_replication WHERE application_name = 'standby'"); got != "streaming:sync" || now != pid {
		t.Fatalf("after the primary's rotation the standby's connection is %q (walsender %s, was %s)", got, now, pid)
	}
	if out, ok := syncWrite(3); !ok || strings.Contains(out, "WARNING") {
		t.Fatalf("a commit while the standby streams on its old connection: ok %v\n%s", ok, out)
	}
	setPass(g3.ReplicationPassword)
	reconnect()
	primary.waitFor("SELECT coalesce(string_agg(state || ':' || sync_state, ','), '') FROM pg_stat_replication WHERE application_name = 'standby' AND pid <> "+pid, "streaming:sync")
	if out, ok := syncWrite(3); !ok || strings.Contains(out, "WARNING") {
		t.Fatalf("a commit after the standby reconnected with the new password: ok %v\n%s", ok, out)
	}
	// Done: the same SQL again changes nothing.
	if out, ok := tcpPSQL(t, "127.0.0.2", port, "postgres", g3.SuperuserPassword, rotationSQL(t, roles(g3)), 20*time.Second); !ok || out != "" {
		t.Errorf("a second run: ok %v, selected %q, want nothing", ok, out)
	}

	// Each hash takes its password and refuses the others, the standby's
	// replica of the catalogue included.
	for _, c := range []struct {
		host     string
		user, pw string
		ok       bool
	}{
		{"127.0.0.2", "postgres", g3.SuperuserPassword, true},
		{"127.0.0.2", "postgres", g2.SuperuserPassword, false},
		{"127.0.0.2", "replicator", g3.ReplicationPassword, true},
		{"127.0.0.2", "replicator", g1.ReplicationPassword, false},
		{"127.0.0.3", "postgres", g3.SuperuserPassword, true},
		{"127.0.0.3", "postgres", g1.SuperuserPassword, false},
	} {
		if out, ok := tcpPSQL(t, c.host, port, c.user, c.pw, "SELECT 1;\n", 10*time.Second); ok != c.ok {
			t.Errorf("%s on %s with the %s password: connected %v, want %v\n%s", c.user, c.host, map[bool]string{true: "new", false: "old"}[c.ok], ok, c.ok, out)
		}
	}
	primary.psql(fmt.Sprintf("CREATE ROLE md5_user LOGIN PASSWORD '%s'", secrets.MD5Verifier("md5_user", g3.RewindPassword)))
	if out, ok := tcpPSQL(t, "127.0.0.2", port, "md5_user", g3.RewindPassword, "SELECT 1;\n", 10*time.Second); !ok {
		t.Errorf("the md5 hash does not take its password:\n%s", out)
	}
	if _, ok := tcpPSQL(t, "127.0.0.2", port, "md5_user", g2.RewindPassword, "SELECT 1;\n", 10*time.Second); ok {
		t.Error("the md5 hash takes another password")
	}
}
