package bundle

import (
	"os"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// rotationSecrets are the test cluster's passwords, generation gen: each
// password names its generation, so a log shows which one was used.
func rotationSecrets(gen string) *secrets.Secrets {
	return &secrets.Secrets{
		SuperuserPassword:    "superuser-pw-" + gen + "-xxxxxxxx",
		ReplicationPassword:  "replication-pw-" + gen + "-xxxxxx",
		RewindPassword:       "rewind-pw-" + gen + "-xxxxxxxxxxx",
		RestAPIPassword:      "restapi-pw-" + gen + "-xxxxxxxxxx",
		HAProxyStatsPassword: testStatsPassword,
	}
}

// rotationHost is a host running bundle v1 of the passwords of generation
// 1, whose psql is the stand-in, and bundle v2 with generation 2 extracted.
func rotationHost(t *testing.T) (*host, *secrets.Secrets, *secrets.Secrets) {
	t.Helper()
	h := newHost(t)
	comp := fixtureComponents(binDir(h.dir))
	comp.PostgreSQL.BinDir = h.bin
	for _, b := range pgBinaries {
		writeFile(t, h.root+h.bin+"/"+b, "#!/bin/sh\n")
		must(t, os.Chmod(h.root+h.bin+"/"+b, 0o755))
	}
	old, cur := rotationSecrets("1"), rotationSecrets("2")
	in := testInput(t, h.dir)
	in.Components = comp
	setFactsFrom(t, &in, fixtureSpec(t, nil), comp, old)
	h.extract(in)
	if out, code := h.run("install.sh"); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	writeFile(t, h.state+"/restapi-auth", "patroni:"+old.RestAPIPassword)
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setFactsFrom(t, n, fixtureSpec(t, nil), comp, cur)
		setContent(n, "/etc/patroni/patroni.yml", "scope: demo\nname: pg2\n# generation 2\n")
	})
	h.extract(v2)
	writeFile(t, h.state+"/restapi-auth-next", "patroni:"+cur.RestAPIPassword)
	return h, old, cur
}

// assertNoPassword fails when a recorded command line or the output holds
// a password of s.
func assertNoPassword(t *testing.T, h *host, out string, ss ...*secrets.Secrets) {
	t.Helper()
	log := strings.Join(h.calls(), "\n")
	for _, s := range ss {
		for _, pw := range []string{s.SuperuserPassword, s.ReplicationPassword, s.RewindPassword, s.RestAPIPassword} {
			if strings.Contains(log, pw) || strings.Contains(out, pw) {
				t.Errorf("a password shows on a command line or in the output")
			}
		}
	}
}

// TestUpgradeRotatesPasswordsLeaderFirst: a bundle with new database
// passwords gives the leader their hashes (ALTER ROLE in one transaction
// with synchronous_commit = local, the superuser's new password tried
// first, then the installed one) before patroni.yml is replaced and Patroni
// reloaded; the REST API's new credentials are waited for; no password is
// ever on a command line. A second member finds the leader done.
func TestUpgradeRotatesPasswordsLeaderFirst(t *testing.T) {
	t.Parallel()
	h, old, cur := rotationHost(t)
	// The first member upgraded: the leader still knows the old superuser password only.
	writeFile(t, h.state+"/psql-password", old.SuperuserPassword)
	writeFile(t, h.state+"/psql-out", "postgres\nreplicator\nrewind_user\n")
	out, code := h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	calls := h.calls()
	psql, reload := index(calls, "psql "), index(calls, "systemctl reload patroni")
	if psql < 0 || reload < 0 || psql > reload {
		t.Fatalf("want psql on the leader before Patroni's reload:\n%s", strings.Join(calls, "\n"))
	}
	if !strings.Contains(calls[psql], "-d host=10.0.0.1 port=5432 user=postgres dbname=postgres") ||
		!strings.Contains(calls[psql], "sslmode=verify-ca sslrootcert="+h.root+"/etc/pgha-bundle/pki/ca.crt") {
		t.Errorf("psql does not reach the leader pg1 over verified TLS: %s", calls[psql])
	}
	if saw := readFile(t, h.state+"/psql-saw-patroni.yml"); strings.Contains(saw, "generation 2") {
		t.Error("patroni.yml was replaced before the leader had the new passwords")
	}
	if got, want := readFile(t, h.state+"/psql-auth"), "refused "+cur.SuperuserPassword+"\npassword "+old.SuperuserPassword+"\n"; got != want {
		t.Errorf("psql authenticated as:\n%s\nwant the new password tried, then the installed one:\n%s", got, want)
	}
	sql := readFile(t, h.state+"/psql-sql")
	for _, want := range []string{"BEGIN;\nSET LOCAL synchronous_commit = local;", "ALTER ROLE %I PASSWORD %L", "COMMIT;"} {
		if !strings.Contains(sql, want) {
			t.Errorf("the SQL lacks %q:\n%s", want, sql)
		}
	}
	for _, u := range []struct{ user, pw string }{{"postgres", cur.SuperuserPassword}, {"replicator", cur.ReplicationPassword}, {"rewind_user", cur.RewindPassword}} {
		v, err := secrets.SCRAMVerifier(u.user, u.pw)
		must(t, err)
		if !strings.Contains(sql, "('"+u.user+"', '"+v+"')") {
			t.Errorf("the SQL does not give %s its new SCRAM hash:\n%s", u.user, sql)
		}
	}
	assertNoPassword(t, h, out+sql, old, cur)
	if !strings.Contains(out, "the leader pg1 has the new passwords of postgres, replicator, rewind_user") {
		t.Errorf("the output does not say what the leader got:\n%s", out)
	}
	if !strings.Contains(out, "takes the new REST API credentials") || !strings.Contains(out, "streams from the leader") {
		t.Errorf("no gate on the REST API's new credentials or on streaming:\n%s", out)
	}
	if again, code := h.run("upgrade.sh"); code != 0 || index(h.calls(), "psql ") >= 0 {
		t.Errorf("a second run asks the leader again (exit %d):\n%s", code, again)
	}
}

// TestUpgradeRotationFindsTheLeaderDone: on a later member the leader
// accepts the new superuser password and selects no role: nothing to do.
// On the leader itself psql goes through the socket as postgres.
func TestUpgradeRotationFindsTheLeaderDone(t *testing.T) {
	t.Parallel()
	for _, leads := range []bool{false, true} {
		t.Run(map[bool]string{false: "replica", true: "leader"}[leads], func(t *testing.T) {
			t.Parallel()
			h, _, cur := rotationHost(t)
			writeFile(t, h.state+"/psql-password", cur.SuperuserPassword)
			if leads {
				writeFile(t, h.state+"/role", "master\n")
				writeFile(t, h.state+"/members.tsv", patronictlList(replica("pg1"), leader1("pg2")))
			}
			out, code := h.run("upgrade.sh")
			if code != 0 {
				t.Fatalf("upgrade exit %d\n%s", code, out)
			}
			calls := h.calls()
			auth := readFile(t, h.state+"/psql-auth")
			if leads {
				if i := index(calls, "runuser -u postgres -- "+h.bin+"/psql"); i < 0 || auth != "peer none\n" {
					t.Errorf("the leader is not asked through its socket as postgres (auth %q):\n%s", auth, strings.Join(calls, "\n"))
				}
			} else if auth != "password "+cur.SuperuserPassword+"\n" {
				t.Errorf("psql authenticated as %q, want the new password only", auth)
			}
			if !strings.Contains(out, "already has the new passwords") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}

// TestUpgradeRotationStopsBeforeAnyChange: when the leader cannot be given
// the new passwords, upgrade.sh stops before replacing a file.
func TestUpgradeRotationStopsBeforeAnyChange(t *testing.T) {
	t.Parallel()
	h, old, cur := rotationHost(t)
	writeFile(t, h.state+"/psql-password", "neither")
	before := readFile(t, h.root+"/etc/patroni/patroni.yml")
	out, code := h.run("upgrade.sh")
	if code == 0 || !strings.Contains(out, "could not give the leader pg1 the new passwords") {
		t.Fatalf("exit %d, want a refusal naming the leader\n%s", code, out)
	}
	if readFile(t, h.root+"/etc/patroni/patroni.yml") != before {
		t.Error("patroni.yml was replaced although the leader does not have the new passwords")
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("changed the host: %v", m)
	}
	assertNoPassword(t, h, out, old, cur)
}

// TestUpgradePackagesRotationSwitchover: a package upgrade on the leader
// switches over first; when the bundle rotates database passwords the
// demoted leader, still holding the old ones, cannot stream from the new
// leader (which has the new ones) until its files are replaced, so the
// switchover gate asks only that another member leads. Without a rotation
// the gate still wants the whole cluster healthy and times out.
func TestUpgradePackagesRotationSwitchover(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{true, false} {
		t.Run(map[bool]string{true: "rotation", false: "no rotation"}[rotate], func(t *testing.T) {
			t.Parallel()
			h, old, cur := rotationHost(t)
			if !rotate {
				cur = old
			}
			writeFile(t, h.state+"/role", "master\n")
			writeFile(t, h.state+"/members.tsv", patronictlList(leader1("pg2"), replica("pg1")))
			writeFile(t, h.state+"/demoted-state", "starting\n")
			writeFile(t, h.state+"/members-after-start.tsv", patronictlList(leader1("pg1"), replica("pg2")))
			comp := fixtureComponents(binDir(h.dir))
			comp.PostgreSQL.BinDir = h.bin
			in := testInput(t, h.dir)
			in.Components = comp
			setFactsFrom(t, &in, fixtureSpec(t, nil), comp, old)
			v3 := newer(t, h, in, "v3", func(n *Input) {
				setFactsFrom(t, n, fixtureSpec(t, nil), comp, cur)
				n.Packages[1] = fakePackage(t, h.dir, "etcd", "etcd-3.5.13-1.el9.x86_64", 2000)
			})
			h.extract(v3)
			out, code := h.run("upgrade.sh")
			if rotate {
				if code != 0 {
					t.Fatalf("upgrade exit %d\n%s", code, out)
				}
				calls := h.calls()
				psql, sw, start := index(calls, "psql "), index(calls, "patronictl -c "+h.root+"/etc/patroni/patroni.yml switchover"), index(calls, "systemctl start patroni")
				if psql < 0 || sw < psql || start < sw {
					t.Errorf("want the leader's new passwords, the switchover, then Patroni started with the new files:\n%s", strings.Join(calls, "\n"))
				}
				return
			}
			if want := "waiting for pg1 leads, pg2 is a healthy replica"; code == 0 || !strings.Contains(out, want) {
				t.Fatalf("exit %d, want the switchover gate to wait for the whole cluster (%q)\n%s", code, want, out)
			}
		})
	}
}
