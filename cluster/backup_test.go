package cluster

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// backupBadSpecs join badSpecs (TestBadSpecs, TestEveryRuleHasABadSpec): one
// case at least for every rule of backup.go.
var backupBadSpecs = []struct {
	name string
	yaml string
	want []string
}{
	{"backup stanza bad", base + "backup:\n  stanza: pg/main\n", []string{
		`c.yaml:13:11: backup.stanza "pg/main" must be letters, digits, '-' or '_', at most 64 characters, starting with a letter or digit: pgBackRest names the repository's directories after it`}},
	{"backup repo empty", base + "backup:\n  repo:\n    path: \"\"\n", []string{
		`c.yaml:14:11: backup.repo.path is required: the repository every member mounts`}},
	{"backup repo relative", base + "backup:\n  repo:\n    path: backups\n", []string{
		`c.yaml:14:11: backup.repo.path "backups" must be an absolute path`}},
	{"backup repo system dir", base + "backup:\n  repo:\n    path: /var/lib\n", []string{
		`c.yaml:14:11: backup.repo.path /var/lib is a system directory: pgBackRest would write the cluster's backups into it; mount the repository on a directory of its own, e.g. /var/lib/pgbackrest`}},
	{"backup repo in a system tree", base + "backup:\n  repo:\n    path: /tmp/pgbackrest\n", []string{
		`c.yaml:14:11: backup.repo.path /tmp/pgbackrest is inside /tmp, which holds no data (configuration, devices, or files emptied at boot); mount the repository under /var/lib or on a data file system`}},
	{"backup repo in the tools' directory", base + "backup:\n  repo:\n    path: /var/lib/pgha-bundle/repo\n", []string{
		`c.yaml:14:11: backup.repo.path /var/lib/pgha-bundle/repo overlaps /var/lib/pgha-bundle, which the node's tools use; choose another directory`}},
	{"backup repo inside PGDATA", base + "postgresql:\n  data_dir: /srv/pg/data\nbackup:\n  repo:\n    path: /srv/pg/data/backups\n", []string{
		`c.yaml:16:11: backup.repo.path /srv/pg/data/backups overlaps PGDATA /srv/pg/data: the backups would be copied, or lost, with that data; mount the repository apart from it`}},
	{"backup repo inside PGDATA by default", base + "postgresql:\n  major: 16\nbackup:\n  repo:\n    path: /var/lib/pgsql/16/data/repo\n", []string{
		`c.yaml:16:11: backup.repo.path /var/lib/pgsql/16/data/repo overlaps PGDATA /var/lib/pgsql/16/data: the backups would be copied, or lost, with that data; mount the repository apart from it`}},
	{"backup retention out of range", base + "backup:\n  retention:\n    full: 0\n    diff: 10000000\n", []string{
		`c.yaml:14:11: backup.retention.full 0 is out of range 1-9999999 (backups kept)`,
		`c.yaml:15:11: backup.retention.diff 10000000 is out of range 1-9999999 (backups kept)`}},
	{"backup schedule bad", base + "backup:\n  schedule:\n    full: \"Sun; rm -rf /\"\n    diff: \"\"\n", []string{
		`c.yaml:14:11: backup.schedule.full "Sun; rm -rf /" is not a systemd calendar expression like "Sun *-*-* 01:00:00" or "daily"; leave it empty ("") to run none`}},
	{"backup schedule control", base + "backup:\n  verify: \"daily\\nweekly\"\n", []string{
		`c.yaml:13:11: backup.verify holds a control character; write the calendar expression on one line`}},
	{"backup schedule none", base + "backup:\n  schedule:\n    full: \"\"\n    diff: \"\"\n", []string{
		`warning: c.yaml:13:3: backup.schedule runs no full, differential or incremental backup: backups are taken only by hand (backup.sh full); set backup.schedule.full`}},
	{"backup compression bad", base + "backup:\n  compression: xz\n", []string{
		`c.yaml:13:16: backup.compression "xz" is not supported; use none, gz, lz4, zst or bz2`}},
	{"backup encryption bad", base + "backup:\n  encryption: aes-128\n", []string{
		`c.yaml:13:15: backup.encryption "aes-128" is not supported; use aes-256-cbc (the passphrase is generated into the secrets file) or none`}},
	{"backup archive timeout bad", base + "backup:\n  archive_timeout: -1\n", []string{
		`c.yaml:13:20: backup.archive_timeout -1 is out of range 0-1073741823 seconds`}},
	{"backup with archive", base + "archive:\n  enabled: true\n  restore_command: cp /x/%f %p\nbackup:\n  stanza: main\n", []string{
		`c.yaml:13:12: archive.enabled is true but the spec has a backup section (line 15): with backup, pgBackRest archives the WAL (archive_command, restore_command); remove archive.enabled`,
		`c.yaml:14:20: archive.restore_command is set but the spec has a backup section (line 15), whose restore_command fetches WAL from the repository; remove archive.restore_command`}},
	{"archive local directory", base + "archive:\n  enabled: true\n  directory: /var/lib/pgsql/wal\n", []string{
		`warning: c.yaml:14:14: archive.directory: each member copies WAL into a directory of its own, so after a failover the WAL chain is split across machines and no point-in-time recovery is possible; use a backup section (pgBackRest, one repository for every member) instead`}},
	{"backup host bad", base + "backup:\n  host:\n    name: Backup_1\n    address: 10.0.0.300\n    port: 80\n    path: /var/lib\n", []string{
		`c.yaml:14:11: backup.host.name "Backup_1" must be a DNS label (lowercase letters, digits and '-', at most 63 characters, starting and ending with a letter or digit)`,
		`c.yaml:15:14: address "10.0.0.300" is not a valid IPv4 or IPv6 address`,
		`c.yaml:16:11: backup.host.port 80 is out of range 1024-65535 (pgBackRest's TLS server runs as postgres)`,
		`c.yaml:17:11: backup.host.path /var/lib is a system directory: pgBackRest would write the cluster's backups into it; mount the repository on a directory of its own, e.g. /var/lib/pgbackrest`}},
	{"backup host a member's", base + "backup:\n  host:\n    name: n1\n    address: 10.0.0.1\n    port: 5432\n", []string{
		`c.yaml:14:11: backup.host.name "n1" is the name of nodes[0]: the backup host is a machine of its own, apart from the members`,
		`c.yaml:15:14: address 10.0.0.1 is already used by node "n1"`,
		`c.yaml:16:11: backup.host.port 5432 is ports.postgresql: every member runs pgBackRest's TLS server on it too; choose another port`}},
	{"every backup problem at once", base + "backup:\n  stanza: \"\"\n  repo:\n    path: /etc/pgbackrest\n  retention:\n    diff: 0\n  compression: lzma\n  encryption: yes-please\n  archive_timeout: 2000000000\n  schedule:\n    incr: \"hourly!\"\n", []string{
		`c.yaml:13:11: backup.stanza "" must be letters, digits, '-' or '_', at most 64 characters, starting with a letter or digit: pgBackRest names the repository's directories after it`,
		`c.yaml:15:11: backup.repo.path /etc/pgbackrest is inside /etc, which holds no data (configuration, devices, or files emptied at boot); mount the repository under /var/lib or on a data file system`,
		`c.yaml:17:11: backup.retention.diff 0 is out of range 1-9999999 (backups kept)`,
		`c.yaml:18:16: backup.compression "lzma" is not supported; use none, gz, lz4, zst or bz2`,
		`c.yaml:19:15: backup.encryption "yes-please" is not supported; use aes-256-cbc (the passphrase is generated into the secrets file) or none`,
		`c.yaml:20:20: backup.archive_timeout 2000000000 is out of range 0-1073741823 seconds`,
		`c.yaml:22:11: backup.schedule.incr "hourly!" is not a systemd calendar expression like "Sun *-*-* 01:00:00" or "daily"; leave it empty ("") to run none`}},
}

func init() { badSpecs = append(badSpecs, backupBadSpecs...) }

func TestBackupDefaults(t *testing.T) {
	for _, section := range []string{"backup:\n", "backup: {}\n"} {
		s, ps, err := parse("c.yaml", []byte(base+section))
		if err != nil || len(ps) != 0 {
			t.Fatalf("%q: %v\n%s", section, err, ps)
		}
		want := Backup{
			Stanza: "pg", Repo: BackupRepo{Path: "/var/lib/pgbackrest"},
			Retention:   BackupRetention{Full: 2, Diff: 7},
			Schedule:    BackupSchedule{Full: "Sun *-*-* 01:00:00", Diff: "Mon..Sat *-*-* 01:00:00"},
			Compression: "zst", Encryption: "aes-256-cbc", ArchiveTimeout: 60, Verify: "Sun *-*-* 05:00:00",
		}
		if s.Backup == nil || *s.Backup != want {
			t.Fatalf("%q: backup = %+v, want %+v", section, s.Backup, want)
		}
		if !s.Backup.Encrypted() {
			t.Error("the default repository is not encrypted")
		}
		if got := strings.Join(s.Backup.BackupTimerKinds(), " "); got != "full diff verify" {
			t.Errorf("timer kinds %q", got)
		}
	}
	s, ps, err := parse("c.yaml", []byte(base+"backup:\n  stanza: main\n  encryption: none\n  schedule:\n    diff: \"\"\n    incr: hourly\n  verify: \"\"\n  archive_timeout: 0\n"))
	if err != nil || len(ps) != 0 {
		t.Fatalf("%v\n%s", err, ps)
	}
	if b := s.Backup; b.Stanza != "main" || b.Encrypted() || b.ArchiveTimeout != 0 || strings.Join(b.BackupTimerKinds(), " ") != "full incr" {
		t.Errorf("backup = %+v", *b)
	}
}

func TestBackupAbsent(t *testing.T) {
	s, _, err := parse("c.yaml", []byte(base))
	if err != nil || s.Backup != nil || s.Backup.Encrypted() {
		t.Fatalf("backup = %+v, err %v", s.Backup, err)
	}
}

// The default calendar expressions, and those the docs show, are ones the
// node's systemd reads: systemd-analyze calendar parses each; and a shape
// the validation lets through that systemd refuses is still caught there
// (the check is systemd's, on the node, when the timer loads).
func TestBackupCalendarsParse(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing: install systemd")
		}
		t.Skip("systemd-analyze not installed")
	}
	for _, expr := range []string{DefaultBackupScheduleFull, DefaultBackupScheduleDiff, DefaultBackupVerify, "hourly", "daily", "*-*-* 00/6:00:00"} {
		if out, err := exec.Command("systemd-analyze", "calendar", expr).CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze calendar %q: %v\n%s", expr, err, out)
		}
		if _, ps, err := parse("c.yaml", []byte(base+"backup:\n  schedule:\n    incr: \""+expr+"\"\n")); err != nil || len(ps) != 0 {
			t.Errorf("%q refused: %s", expr, ps)
		}
	}
	// systemd refuses this one too: the validation is no looser than the
	// characters it allows.
	if err := exec.Command("systemd-analyze", "calendar", "Sun; rm -rf /").Run(); err == nil {
		t.Error("systemd-analyze accepted a command as a calendar expression")
	}
}
