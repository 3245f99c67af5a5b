package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// restoreScript returns a runner of the bundle's restore.sh on the test's
// node: the real pgBackRest and PostgreSQL, stand-ins (testdata/stubs) for
// systemd, curl, Patroni and etcd, where this member's Patroni is not
// running and no other member's answers. Its FACTS are pg2's rendered
// facts without the system trees (the test's data lies in /tmp, one of
// them).
func (b *realBackup) restoreScript(t *testing.T) func(args ...string) (string, int) {
	t.Helper()
	bd, bin, state := filepath.Join(b.dir, "bundle"), filepath.Join(b.dir, "stubs"), filepath.Join(b.dir, "stub-state")
	for _, d := range []string{bd, bin, state} {
		must(t, os.MkdirAll(d, 0o755))
	}
	for _, f := range []string{"restore.sh", "lib.sh"} {
		src, err := os.ReadFile(filepath.Join("scripts", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(bd, f), src, 0o755))
	}
	facts := "bundle_format 2\nbundle_id restore-test\nbundle_cluster demo\nbundle_node pg2\n"
	for _, l := range strings.SplitAfter(readFile(t, b.facts), "\n") {
		if !strings.HasPrefix(l, "system_tree ") {
			facts += l
		}
	}
	writeFile(t, filepath.Join(bd, "FACTS"), facts)
	stub := mustAbs(t, "testdata/stubs/stub")
	for _, name := range []string{"systemctl", "curl", "patronictl", "etcdctl"} {
		must(t, os.Symlink(stub, filepath.Join(bin, name)))
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "STUB_LOG="+filepath.Join(b.dir, "calls.log"),
		"STUB_STATE="+state, "PGHA_ROOT="+b.root, "PGHA_POLL_INTERVAL=0", "PGHA_TIMEOUT_RECOVERY=120")
	return func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{filepath.Join(bd, "restore.sh")}, args...)...)
		cmd.Env = env
		return runCode(t, cmd)
	}
}

// state is what a failed restore must leave as it was: PGDATA itself (its
// inode), the directories beside it (but the recovery's logs), the rows
// and the primary's role.
func (b *realBackup) state(t *testing.T) string {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Stat(b.data, &st))
	s := fmt.Sprintf("inode %d\n", st.Ino)
	ents, err := os.ReadDir(filepath.Dir(b.data))
	must(t, err)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "data") && !strings.HasPrefix(e.Name(), "data.recovery-") {
			s += e.Name() + "\n"
		}
	}
	return s + b.pg.psql("select count(*), max(id), pg_is_in_recovery() from t")
}

// A WAL segment the recovery needs, damaged in the repository (truncated:
// pgBackRest's archive-get fails to decrypt it) or missing: restore.sh's
// recovery in the staging copy fails naming the file and pgBackRest's error,
// for a time, a restore point and --latest alike (with no target PostgreSQL
// itself ends the recovery at the damaged file and promotes, which would
// drop every later write: restore.sh catches it); the primary's data,
// rows and role are untouched and no staging copy is left behind. On the
// intact repository the same --latest recovery replays to the end of the
// archive and goes on (to the stop of Patroni, where this test ends).
func TestRestoreDamagedWALWithRealPgBackRest(t *testing.T) {
	b := newRealBackup(t, 26432+os.Getpid()%1000)
	b.pgbackrestRun(t, "stanza-create")
	b.pgbackrestRun(t, "backup", "--type=full")
	var info []struct {
		Backup []struct {
			Archive struct{ Start string } `json:"archive"`
		} `json:"backup"`
	}
	must(t, json.Unmarshal([]byte(b.pgbackrestRun(t, "--output=json", "info")), &info))
	start := info[0].Backup[0].Archive.Start

	// Rows after the backup, in segments of their own; then a restore
	// point and a time after them all.
	for i := 1; i <= 4; i++ {
		b.pg.psql(fmt.Sprintf("insert into t select generate_series(%d, %d); select pg_switch_wal()", i*1000, i*1000+999))
	}
	b.pg.psql("select pg_create_restore_point('after-rows')")
	time.Sleep(1100 * time.Millisecond)
	target := b.pg.psql("select clock_timestamp()")
	seg := b.pg.psql("select pg_walfile_name(pg_switch_wal())")
	b.pg.waitFor("select last_archived_wal >= '"+seg+"' from pg_stat_archiver", "t")

	// The segment two after the backup's first holds rows of the second
	// batch; a copy of the repository with it truncated, one without it.
	n, err := strconv.ParseUint(start[16:], 16, 32)
	must(t, err)
	damagedSeg := fmt.Sprintf("%s%08X", start[:16], n+2)
	nextSeg := fmt.Sprintf("%s%08X", start[:16], n+3)
	files, err := filepath.Glob(filepath.Join(b.repo, "archive", "demo", "*", start[:16], damagedSeg+"-*"))
	must(t, err)
	if len(files) != 1 {
		t.Fatalf("segment %s in the archive: %v", damagedSeg, files)
	}
	copyRepo := func(name string, damage func(f string) error) string {
		c := filepath.Join(b.dir, name)
		if out, err := exec.Command("cp", "-a", b.repo, c).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v\n%s", err, out)
		}
		must(t, damage(strings.Replace(files[0], b.repo, c, 1)))
		return c
	}
	damaged := copyRepo("repo-damaged", func(f string) error {
		fi, err := os.Stat(f)
		if err != nil {
			return err
		}
		return os.Truncate(f, fi.Size()/2)
	})
	missing := copyRepo("repo-missing", os.Remove)

	restore := b.restoreScript(t)
	before := b.state(t)
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"a time after the damaged segment", []string{"--time", target, "--repo-path", damaged},
			[]string{"pgBackRest could not read a WAL file the recovery needs from the repository (ERROR: [042]: unable to get " + damagedSeg,
				"recovery ended before configured recovery target was reached"}},
		{"a restore point after the damaged segment", []string{"--name", "after-rows", "--repo-path", damaged},
			[]string{"pgBackRest could not read a WAL file the recovery needs from the repository (ERROR: [042]: unable to get " + damagedSeg}},
		{"the end of the archive past the damaged segment", []string{"--latest", "--repo-path", damaged},
			[]string{"pgBackRest could not read a WAL file the recovery needs from the repository (ERROR: [042]: unable to get " + damagedSeg,
				"selected new timeline ID"}},
		{"the end of the archive past a missing segment", []string{"--latest", "--repo-path", missing},
			[]string{"but the repository holds WAL of that timeline after it (" + nextSeg + "): a WAL file before it is missing or damaged, and promoting here would lose every write after"}},
	} {
		s := time.Now()
		out, code := restore(append(c.args, "--yes-destroy-current-state", "--no-backup")...)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", c.name, code)
		}
		for _, w := range append(c.want, "nothing was changed: PGDATA "+b.data+", Patroni and etcd are as before (the staging copy was deleted)") {
			if !strings.Contains(out, w) {
				t.Errorf("%s: restore.sh does not say %q", c.name, w)
			}
		}
		if after := b.state(t); after != before {
			t.Errorf("%s: the node changed:\nbefore:\n%s\nafter:\n%s", c.name, before, after)
		}
		if t.Failed() {
			t.Fatalf("%s: restore.sh %v:\n%s", c.name, c.args, out)
		}
		t.Logf("%s: refused in %.1fs: %s", c.name, time.Since(s).Seconds(), firstLine(out, "error: "))
		if m := regexp.MustCompile(`(?m)^ERROR: .*\n.*$`).FindString(out); m != "" {
			t.Logf("  pgBackRest: %s", strings.Join(strings.Fields(m), " "))
		}
		if m := regexp.MustCompile(`(?m)LOG: +redo done at \S+`).FindString(out); m != "" {
			t.Logf("  PostgreSQL: %s", m)
		}
	}

	// The intact repository: the recovery replays to the archive's end and
	// restore.sh goes on to stop this member's Patroni, where the test's
	// PostgreSQL, which no Patroni runs, stops it.
	out, code := restore("--latest", "--yes-destroy-current-state", "--no-backup")
	if code != 1 || !strings.Contains(out, "the recovery replayed timeline 1's WAL to the end of the archive") ||
		!strings.Contains(out, "PostgreSQL still runs in "+b.data+" after Patroni stopped") {
		t.Fatalf("--latest on the intact repository: exit %d\n%s", code, out)
	}
	stages, _ := filepath.Glob(b.data + ".restore-*")
	if len(stages) != 1 {
		t.Fatalf("the recovered copy is not kept beside PGDATA: %v", stages)
	}
	t.Logf("--latest on the intact repository: %s", firstLine(out, "    the recovery replayed"))
}

// firstLine returns the first line of out that starts with prefix.
func firstLine(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(l)
		}
	}
	return "(none)"
}
