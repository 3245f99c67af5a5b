package bundle

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestoreRefusals: restore.sh stops before touching anything on a
// wrong command line and on a bundle without a backup section, saying why
// (its real runs are the harness's, make e2e-backup).
func TestRestoreRefusals(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.extract(testInput(t, h.dir))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: restore.sh"},
		{[]string{"--name", "t1", "--latest"}, 1, "choose one of --time, --name, --latest and --rejoin"},
		{[]string{"--latest", "--timeline", "two"}, 1, "--timeline two: a number, current or latest"},
		{[]string{"--rejoin", "--set", "20261204-054401F"}, 1, "belong to a restore, not to --rejoin"},
		{[]string{"--latest", "--dry-run"}, 1, "restore.sh has no --dry-run"},
		{[]string{"--name", "t1", "--yes-destroy-current-state"}, 1, "this bundle has no backup section"},
		{[]string{"--rejoin"}, 1, "this bundle has no backup section"},
	} {
		out, code := h.run("restore.sh", c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("restore.sh %v: exit %d, want %d saying %q:\n%s", c.args, code, c.code, c.want, out)
		}
		// Only the root check (id -u) may have run.
		for _, call := range h.calls() {
			if call != "" && call != "id -u" {
				t.Errorf("restore.sh %v ran %q", c.args, call)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, "var/log/pgha-bundle")); err == nil {
		t.Error("a refused restore.sh wrote its log")
	}
}

// restoreHost is a backup host on which restore.sh gets past its first
// checks: its FACTS put PGDATA under the test's root and name the stand-in
// PostgreSQL programs there, and drop the system trees (the root lies in
// /tmp, one of them). Every other member's Patroni is down.
func restoreHost(t *testing.T) *host {
	t.Helper()
	h, _ := backupHost(t, "leader")
	data := h.root + "/var/lib/pgsql/16/data"
	must(t, os.MkdirAll(data, 0o700))
	var facts []string
	for _, l := range strings.Split(readFile(t, filepath.Join(h.bd, "FACTS")), "\n") {
		switch {
		case strings.HasPrefix(l, "system_tree "):
			continue
		case strings.HasPrefix(l, "pgdata "):
			l = "pgdata " + data
		case strings.HasPrefix(l, "pg_bin_dir "):
			l = "pg_bin_dir " + h.root + "/usr/pgsql-16/bin"
		}
		facts = append(facts, l)
	}
	writeFile(t, filepath.Join(h.bd, "FACTS"), strings.Join(facts, "\n"))
	writeFile(t, h.state+"/stanza", "")
	return h
}

// backupSet is a set in `pgbackrest info --output=json`.
type backupSet struct {
	label, wal string // wal: its first segment
	stop, size int64
}

// infoOutput writes what pgBackRest 2.45's info prints for sets (oldest
// first) and an archive ending at max: as JSON, its keys sorted as
// pgBackRest writes them, and as text.
func infoOutput(t *testing.T, h *host, max string, sets ...backupSet) {
	t.Helper()
	var js, txt []string
	for _, s := range sets {
		typ := map[byte]string{'F': "full", 'D': "diff", 'I': "incr"}[s.label[len(s.label)-1]]
		js = append(js, `{"archive":{"start":"`+s.wal+`","stop":"`+s.wal+`"},"backrest":{"format":5,"version":"2.45"},`+
			`"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":`+itoa(s.size)+`,"repository":{"delta":1000,"size":1000},"size":`+itoa(s.size)+`},`+
			`"label":"`+s.label+`","lsn":{"start":"0/2000028","stop":"0/2000100"},"prior":null,"reference":null,`+
			`"timestamp":{"start":`+itoa(s.stop-5)+`,"stop":`+itoa(s.stop)+`},"type":"`+typ+`"}`)
		txt = append(txt, "        "+typ+" backup: "+s.label)
	}
	writeFile(t, h.state+"/info.json", `[{"archive":[{"database":{"id":1,"repo-key":1},"id":"16-1","max":"`+max+`","min":"000000010000000000000001"}],`+
		`"backup":[`+strings.Join(js, ",")+`],"cipher":"aes-256-cbc","db":[{"id":1,"repo-key":1,"system-id":7715512944706471151,"version":"16"}],`+
		`"name":"demo","repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]`)
	writeFile(t, h.state+"/info.txt", "stanza: demo\n    status: ok\n    cipher: aes-256-cbc\n\n    db (current)\n"+strings.Join(txt, "\n")+"\n")
}

// The room check before a restore stages anything: the backup set
// pgBackRest would restore (the one given, the newest, or for a time the
// newest that ended before it), its database size from pgbackrest info and
// the WAL from its first segment to the archive's end, plus the margin,
// against the free space of PGDATA's file system. Too little refuses with
// both figures, the path and what to do; pgbackrest info failing refuses.
// Nothing is changed either way (the runs stop at the confirmation).
func TestRestoreSpaceCheck(t *testing.T) {
	t.Parallel()
	const (
		mib  = int64(1) << 20
		huge = int64(1) << 60 // more than any file system here holds
		full = "20261204-054401F"
		diff = "20261204-054401F_20261205-054401D"
	)
	// A target between the sets' ends, and one after both.
	t1, t2 := int64(1796400000), int64(1796500000)
	at := func(sec int64) string { return time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05+00") }
	for _, c := range []struct {
		name   string
		args   []string
		max    string
		sets   []backupSet
		fail   string // a stand-in failure
		kept   bool   // a PGDATA kept aside by an earlier restore
		want   []string
		refuse bool
	}{
		{name: "enough room", args: []string{"--latest"}, max: "000000010000000000000004",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, 20 * mib}},
			want: []string{"backup set " + full + ": 20 MiB restored, up to 48 MiB of WAL to replay (3 segments from 000000010000000000000002 to 000000010000000000000004)",
				"needs about 203 MiB (with 10% and 128 MiB of margin)", "MiB available"}},
		{name: "database too large", args: []string{"--latest"}, max: "000000010000000000000002",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}}, kept: true, refuse: true,
			want: []string{"not enough room for the restore: the staging copy ", "/var/lib/pgsql/16/data.restore-",
				"backup set " + full + " with its WAL, plus 10% and 128 MiB", "and the file system of ", "/var/lib/pgsql/16 has ",
				"MiB available. Free space there (the data kept aside by earlier runs: ", "data.before-restore-20261201T000000Z)",
				"nothing was changed"}},
		{name: "too much WAL to replay", args: []string{"--latest"}, max: "000000010000100000000000",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, 20 * mib}}, refuse: true,
			want: []string{"up to 16777200 MiB of WAL to replay (1048575 segments", "or take a full backup first (less WAL to replay)", "not enough room for the restore"}},
		{name: "the newest set", args: []string{"--latest"}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}, {diff, "000000010000000000000010", t2 - 100, 20 * mib}},
			want: []string{"backup set " + diff + ": 20 MiB restored, up to 16 MiB of WAL"}},
		{name: "a time before the newest set", args: []string{"--time", at(t1)}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}, {diff, "000000010000000000000010", t2 - 100, 20 * mib}}, refuse: true,
			want: []string{"backup set " + full + " with its WAL", "or --set a later backup set made before the target (less WAL to replay)"}},
		{name: "a time after the newest set", args: []string{"--time", at(t2)}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}, {diff, "000000010000000000000010", t2 - 100, 20 * mib}},
			want: []string{"backup set " + diff + ": 20 MiB restored"}},
		{name: "a time before every set", args: []string{"--time", at(t1 - 1000)}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}, {diff, "000000010000000000000010", t2 - 100, 20 * mib}},
			want: []string{"backup set " + diff + ": 20 MiB restored"}},
		{name: "a time date cannot read counts the largest set", args: []string{"--time", "the day before"}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, 20 * mib}, {diff, "000000010000000000000010", t2 - 100, huge}}, refuse: true,
			want: []string{"backup set " + diff + " with its WAL"}},
		{name: "a set given", args: []string{"--latest", "--set", full}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}, {diff, "000000010000000000000010", t2 - 100, 20 * mib}}, refuse: true,
			want: []string{"backup set " + full + " with its WAL"}},
		{name: "a restore point starts from the oldest full set", args: []string{"--name", "before-migration"}, max: "000000010000000000000010",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, huge}, {diff, "000000010000000000000010", t2 - 100, 20 * mib}}, refuse: true,
			want: []string{"starting from the oldest full backup, " + full, "backup set " + full + " with its WAL"}},
		{name: "info failing", args: []string{"--latest"}, max: "000000010000000000000002",
			sets: []backupSet{{full, "000000010000000000000002", t1 - 100, 20 * mib}}, fail: "pgbackrest-info-json", refuse: true,
			want: []string{"pgbackrest info --output=json failed: ERROR: [103]: unable to find a valid repository; cannot tell how much room the restore needs; nothing was changed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := restoreHost(t)
			infoOutput(t, h, c.max, c.sets...)
			if c.fail != "" {
				writeFile(t, h.state+"/fail-"+c.fail, "")
			}
			if c.kept {
				must(t, os.MkdirAll(h.root+"/var/lib/pgsql/16/data.before-restore-20261201T000000Z", 0o700))
			}
			out, code := h.run("restore.sh", c.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if planned := strings.Contains(out, "==> plan: "); planned == c.refuse {
				t.Errorf("plan printed: %v, want %v", planned, !c.refuse)
			}
			if !c.refuse && !strings.Contains(out, "without --yes-destroy-current-state") {
				t.Error("the run did not stop at the confirmation")
			}
			if m := mutating(h.calls()); len(m) > 0 {
				t.Errorf("changed the host: %v", m)
			}
			if t.Failed() {
				t.Logf("restore.sh %v:\n%s", c.args, out)
			}
		})
	}
}

// A restore.sh stopped while its staging copy is not yet recovered and
// checked (here: SIGTERM while PostgreSQL, a stand-in that never finishes,
// recovers it) deletes the copy on its way out: nothing left beside PGDATA
// may look like a good copy.
func TestRestoreStoppedWhileStaging(t *testing.T) {
	t.Parallel()
	h := restoreHost(t)
	infoOutput(t, h, "000000010000000000000002", backupSet{"20261204-054401F", "000000010000000000000002", 1796400000, 1 << 20})
	cmd := exec.Command("bash", filepath.Join(h.bd, "restore.sh"), "--latest", "--yes-destroy-current-state")
	cmd.Env = h.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	data := h.root + "/var/lib/pgsql/16/data"
	deadline := time.Now().Add(30 * time.Second)
	var stages []string
	for len(stages) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		stages, _ = filepath.Glob(data + ".restore-*")
	}
	if len(stages) == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("no staging copy appeared:\n%s", out.String())
	}
	time.Sleep(500 * time.Millisecond)
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if err := cmd.Wait(); err == nil {
		t.Fatal("restore.sh stopped by SIGTERM exited 0")
	}
	if _, err := os.Stat(stages[0]); err == nil {
		t.Errorf("%s is left behind", stages[0])
	}
	if !strings.Contains(out.String(), "deleted the unfinished staging copy "+stages[0]) {
		t.Errorf("restore.sh does not say it deleted the copy:\n%s", out.String())
	}
	if _, err := os.Stat(data); err != nil {
		t.Errorf("PGDATA: %v", err)
	}
}
