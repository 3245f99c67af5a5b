package cluster

import (
	"strings"
	"testing"
)

// fromBackupOK is a valid bootstrap section after base and a backup
// section (lines 13-17).
const fromBackupOK = "backup:\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /mnt/prod-backups\n"

// bootstrapBadSpecs join badSpecs (TestBadSpecs, TestEveryRuleHasABadSpec):
// one case at least for every rule of bootstrap.go.
var bootstrapBadSpecs = []struct {
	name string
	yaml string
	want []string
}{
	{"bootstrap empty", base + "backup:\nbootstrap:\n", []string{
		`c.yaml:13:11: bootstrap says nothing: write bootstrap.from_backup (the cluster to copy from its backups) or remove bootstrap`}},
	{"bootstrap without from_backup", base + "backup:\nbootstrap: {}\n", []string{
		`c.yaml:13:1: bootstrap says nothing: write bootstrap.from_backup (the cluster to copy from its backups) or remove bootstrap`}},
	{"from_backup without backup", base + "bootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /mnt/prod-backups\n", []string{
		`c.yaml:13:3: bootstrap.from_backup needs a backup section: the new cluster archives its WAL into a repository of its own from its first start, and takes its first full backup there`}},
	{"from_backup stanza and repo missing", base + "backup:\nbootstrap:\n  from_backup:\n    encryption: none\n", []string{
		`c.yaml:14:3: bootstrap.from_backup.stanza is required: the source cluster's pgBackRest stanza (its backup.stanza, by default its cluster.name)`,
		`c.yaml:14:3: bootstrap.from_backup.repo.path is required: where the source cluster's repository is mounted on the first node (read-only is enough)`}},
	{"from_backup bad values", base + "backup:\nbootstrap:\n  from_backup:\n    stanza: prod/main\n    repo:\n      path: /mnt\n    encryption: aes-128\n    set: latest\n", []string{
		`c.yaml:15:13: bootstrap.from_backup.stanza "prod/main" must be letters, digits, '-' or '_', at most 64 characters, starting with a letter or digit (a pgBackRest stanza)`,
		`c.yaml:17:13: bootstrap.from_backup.repo.path /mnt is a system directory: mount the source's repository on a directory of its own, e.g. /mnt/source-backups`,
		`c.yaml:18:17: bootstrap.from_backup.encryption "aes-128" is not supported; use aes-256-cbc (the source's passphrase, imported with pgha-bundle secrets import-backup-passphrase) or none`,
		`c.yaml:19:10: bootstrap.from_backup.set "latest" is not a pgBackRest backup label like 20261204-010000F or 20261204-010000F_20261205-010000D (pgbackrest info lists them)`}},
	{"from_backup repo in a system tree", base + "backup:\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /run/prod\n", []string{
		`c.yaml:17:13: bootstrap.from_backup.repo.path /run/prod is inside /run, which holds no data (configuration, devices, or files emptied at boot); mount the source's repository elsewhere`}},
	{"from_backup repo relative", base + "backup:\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: prod\n", []string{
		`c.yaml:17:13: bootstrap.from_backup.repo.path "prod" must be an absolute path`}},
	{"from_backup repo is the own repository", base + "backup:\n  repo:\n    path: /srv/backups\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /srv/backups/prod\n", []string{
		`c.yaml:19:13: bootstrap.from_backup.repo.path /srv/backups/prod overlaps backup.repo.path /srv/backups: the new cluster writes into its own repository and must never write into the source's; mount them apart`}},
	{"from_backup repo in PGDATA", base + "postgresql:\n  data_dir: /srv/pg/data\nbackup:\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /srv/pg/data/src\n", []string{
		`c.yaml:19:13: bootstrap.from_backup.repo.path /srv/pg/data/src overlaps PGDATA /srv/pg/data; mount the source's repository apart from the node's data`}},
	{"from_backup repo in PGDATA by default", base + "postgresql:\n  major: 16\nbackup:\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /var/lib/pgsql/16/data/src\n", []string{
		`c.yaml:19:13: bootstrap.from_backup.repo.path /var/lib/pgsql/16/data/src overlaps PGDATA /var/lib/pgsql/16/data; mount the source's repository apart from the node's data`}},
	{"from_backup restore point without a set", base + fromBackupOK + "    target:\n      name: before-migration-42\n", []string{
		`warning: c.yaml:19:13: bootstrap.from_backup.target.name without set: pgBackRest restores the source's newest backup, and a backup that ended after the restore point cannot stop at it; name the backup set made before the point (pgbackrest info lists them)`}},
	{"from_backup two targets", base + "backup:\nbootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /mnt/prod\n    target:\n      time: \"2026-12-04 05:40:00\"\n      name: \"before migration\"\n", []string{
		`c.yaml:18:5: bootstrap.from_backup.target sets both time and name: the recovery stops at one target; keep one (neither: the end of the source's archived WAL)`,
		`c.yaml:19:13: bootstrap.from_backup.target.time "2026-12-04 05:40:00" is not a time with its zone like "2026-12-04 05:40:00+00": without the zone PostgreSQL would read it in the server's time zone`,
		`c.yaml:20:13: bootstrap.from_backup.target.name "before migration" must be 1-63 letters, digits or '._:+-' (the name given to pg_create_restore_point)`}},
	{"from_backup first node nofailover", strings.Replace(base, "10.0.0.1\n", "10.0.0.1\n    tags:\n      nofailover: true\n", 1) + fromBackupOK, []string{
		`c.yaml:9:19: bootstrap.from_backup: the first node n1 restores the backup and leads the new cluster, so it cannot be nofailover (Patroni never bootstraps on such a member); put another member first`}},
	{"from_backup first node joins", strings.Replace(base, "10.0.0.1\n", "10.0.0.1\n    joins: true\n", 1) + fromBackupOK, []string{
		`c.yaml:8:12: bootstrap.from_backup: the first node n1 restores the backup and leads the new cluster, so it cannot be a member that joins a running cluster; put another member first`}},
}

func init() { badSpecs = append(badSpecs, bootstrapBadSpecs...) }

func TestFromBackup(t *testing.T) {
	for _, tt := range []struct {
		name, extra    string
		typ, target    string
		encrypted      bool
		set, bootstrap string
	}{
		{"latest", "", TargetLatest, "", true, "", "n1"},
		{"time", "    target:\n      time: \"2026-12-04 05:40:00.25+01:00\"\n", TargetTime, "2026-12-04 05:40:00.25+01:00", true, "", "n1"},
		{"time UTC", "    target:\n      time: \"2026-12-04T05:40:00Z\"\n", TargetTime, "2026-12-04T05:40:00Z", true, "", "n1"},
		{"name and set, clear", "    target:\n      name: before-migration-42\n    set: 20261204-010000F_20261205-010000I\n    encryption: none\n", TargetName, "before-migration-42", false, "20261204-010000F_20261205-010000I", "n1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ps, err := parse("c.yaml", []byte(base+fromBackupOK+tt.extra))
			if err != nil || len(ps) != 0 {
				t.Fatalf("%v\n%s", err, ps)
			}
			f := s.FromBackup()
			typ, target := f.RecoveryTarget()
			if typ != tt.typ || target != tt.target || f.Encrypted() != tt.encrypted || f.Set != tt.set ||
				f.Stanza != "prod" || f.Repo.Path != "/mnt/prod-backups" || s.BootstrapNode() != tt.bootstrap {
				t.Errorf("from_backup %+v: target %s %q, encrypted %v, bootstrap node %q", *f, typ, target, f.Encrypted(), s.BootstrapNode())
			}
		})
	}
	s, _, err := parse("c.yaml", []byte(base))
	if err != nil || s.FromBackup() != nil || s.BootstrapNode() != "" || s.FromBackup().Encrypted() {
		t.Fatalf("a spec without bootstrap: %+v, %v", s.Bootstrap, err)
	}
	for _, bad := range []string{"2026-13-04 05:40:00+00", "2026-12-04 05:40+00", "yesterday", "2026-12-04 05:40:00 CET"} {
		if validTargetTime(bad) {
			t.Errorf("%q taken as a target time", bad)
		}
	}
}
