package cluster

import (
	"regexp"
	"time"
)

// Bootstrap is how a new cluster gets its first data when it is not an
// empty initdb: nil when the spec has no bootstrap section.
type Bootstrap struct {
	// FromBackup makes the new cluster a copy of another cluster (a clone,
	// or a disaster-recovery copy) restored from that cluster's pgBackRest
	// repository.
	FromBackup *FromBackup `yaml:"from_backup"`
}

// FromBackup is the source of a cluster bootstrapped from another
// cluster's backups: its stanza in its repository, whether that repository
// is encrypted (the passphrase is then imported into this cluster's
// secrets file), and where the recovery stops. The first node of the spec
// restores it through Patroni's custom bootstrap; the other members are
// made replicas of it as usual. The source is only read.
type FromBackup struct {
	// Stanza is the source's pgBackRest stanza (its backup.stanza).
	Stanza string `yaml:"stanza"`
	// Repo is the source's repository, mounted on the first node.
	Repo SourceRepo `yaml:"repo"`
	// Encryption is the source repository's cipher: aes-256-cbc or none.
	Encryption string `yaml:"encryption"`
	// Target is where the recovery stops; neither key: at the end of the
	// source's archived WAL.
	Target RecoveryTarget `yaml:"target"`
	// Set, when given, is the backup set restored (pgBackRest's --set):
	// by default pgBackRest picks the newest one (for a time target, the
	// newest that ended before the time).
	Set string `yaml:"set"`
}

// SourceRepo is the source's repository on a POSIX path (read-only is
// enough).
type SourceRepo struct {
	Path string `yaml:"path"`
}

// RecoveryTarget is a time or a named restore point; neither: the end of
// the archive.
type RecoveryTarget struct {
	Time string `yaml:"time"`
	Name string `yaml:"name"`
}

// Recovery target types, pgBackRest's --type.
const (
	TargetLatest = "default"
	TargetTime   = "time"
	TargetName   = "name"
)

// Messages of the bootstrap section (TestEveryRuleHasABadSpec reads this
// file too).
const (
	msgBootstrapEmpty      = "bootstrap says nothing: write bootstrap.from_backup (the cluster to copy from its backups) or remove bootstrap"
	msgFromBackupStanzaReq = "bootstrap.from_backup.stanza is required: the source cluster's pgBackRest stanza (its backup.stanza, by default its cluster.name)"
	msgFromBackupStanza    = "bootstrap.from_backup.stanza %q must be letters, digits, '-' or '_', at most 64 characters, starting with a letter or digit (a pgBackRest stanza)"
	msgFromBackupRepoReq   = "bootstrap.from_backup.repo.path is required: where the source cluster's repository is mounted on the first node (read-only is enough)"
	msgFromBackupRepoSys   = "bootstrap.from_backup.repo.path %s is a system directory: mount the source's repository on a directory of its own, e.g. /mnt/source-backups"
	msgFromBackupRepoTree  = "bootstrap.from_backup.repo.path %s is inside %s, which holds no data (configuration, devices, or files emptied at boot); mount the source's repository elsewhere"
	msgFromBackupRepoOwn   = "bootstrap.from_backup.repo.path %s overlaps backup.repo.path %s: the new cluster writes into its own repository and must never write into the source's; mount them apart"
	msgFromBackupRepoData  = "bootstrap.from_backup.repo.path %s overlaps %s %s; mount the source's repository apart from the node's data"
	msgFromBackupNoBackup  = "bootstrap.from_backup needs a backup section: the new cluster archives its WAL into a repository of its own from its first start, and takes its first full backup there"
	msgFromBackupEncrypt   = "bootstrap.from_backup.encryption %q is not supported; use aes-256-cbc (the source's passphrase, imported with pgha-bundle secrets import-backup-passphrase) or none"
	msgFromBackupTwoTarget = "bootstrap.from_backup.target sets both time and name: the recovery stops at one target; keep one (neither: the end of the source's archived WAL)"
	msgFromBackupTime      = "bootstrap.from_backup.target.time %q is not a time with its zone like \"2026-12-04 05:40:00+00\": without the zone PostgreSQL would read it in the server's time zone"
	msgFromBackupName      = "bootstrap.from_backup.target.name %q must be 1-63 letters, digits or '._:+-' (the name given to pg_create_restore_point)"
	msgFromBackupSet       = "bootstrap.from_backup.set %q is not a pgBackRest backup label like 20261204-010000F or 20261204-010000F_20261205-010000D (pgbackrest info lists them)"
	msgFromBackupNameNoSet = "bootstrap.from_backup.target.name without set: pgBackRest restores the source's newest backup, and a backup that ended after the restore point cannot stop at it; name the backup set made before the point (pgbackrest info lists them)"
	msgFromBackupFirstNode = "bootstrap.from_backup: the first node %s restores the backup and leads the new cluster, so it cannot be %s; put another member first"
)

var (
	// targetTimeRe is a timestamp with its zone, as PostgreSQL's
	// recovery_target_time reads it.
	targetTimeRe = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,6})?(Z|[+-][0-9]{2}(:?[0-9]{2})?| UTC)$`)
	// targetNameRe is a restore point name the rendered commands carry
	// unquoted; PostgreSQL's own limit is 63 bytes.
	targetNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,62}$`)
	// backupLabelRe is a pgBackRest backup label: a full backup's, or a
	// differential or incremental one's after its full's.
	backupLabelRe = regexp.MustCompile(`^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$`)
)

// applyBootstrapDefaults fills the unset keys of bootstrap.from_backup.
func (s *Spec) applyBootstrapDefaults(set map[string]bool) {
	if s.Bootstrap == nil || s.Bootstrap.FromBackup == nil {
		return
	}
	if !set["bootstrap.from_backup.encryption"] {
		s.Bootstrap.FromBackup.Encryption = BackupCipherAES256CBC
	}
}

// FromBackup returns the source of a cluster bootstrapped from another
// cluster's backups, nil for an empty initdb.
func (s *Spec) FromBackup() *FromBackup {
	if s.Bootstrap == nil {
		return nil
	}
	return s.Bootstrap.FromBackup
}

// BootstrapNode is the member that restores the source's backup and leads
// the new cluster: the first node. Empty without bootstrap.from_backup.
func (s *Spec) BootstrapNode() string {
	if s.FromBackup() == nil || len(s.Nodes) == 0 {
		return ""
	}
	return s.Nodes[0].Name
}

// Encrypted reports whether the source repository is encrypted (its
// passphrase must be in this cluster's secrets file).
func (f *FromBackup) Encrypted() bool { return f != nil && f.Encryption == BackupCipherAES256CBC }

// RecoveryTarget returns pgBackRest's --type and --target of the restore:
// TargetTime, TargetName, or TargetLatest with no target.
func (f *FromBackup) RecoveryTarget() (typ, target string) {
	switch {
	case f.Target.Time != "":
		return TargetTime, f.Target.Time
	case f.Target.Name != "":
		return TargetName, f.Target.Name
	}
	return TargetLatest, ""
}

// bootstrap checks the bootstrap section.
func (c *checker) bootstrap() {
	s := c.s
	if s.Bootstrap == nil {
		if _, written := s.pos["bootstrap"]; written {
			c.errorf("bootstrap", msgBootstrapEmpty)
		}
		return
	}
	f := s.Bootstrap.FromBackup
	if f == nil {
		c.errorf("bootstrap", msgBootstrapEmpty)
		return
	}
	const p = "bootstrap.from_backup"
	if s.Backup == nil {
		c.errorf(p, msgFromBackupNoBackup)
	}
	switch {
	case f.Stanza == "":
		c.errorf(p+".stanza", msgFromBackupStanzaReq)
	case !backupStanzaRe.MatchString(f.Stanza):
		c.errorf(p+".stanza", msgFromBackupStanza, f.Stanza)
	}
	switch {
	case f.Repo.Path == "":
		c.errorf(p+".repo.path", msgFromBackupRepoReq)
	case c.checkPath(p+".repo.path", f.Repo.Path):
		c.sourceRepoDirs(f.Repo.Path)
	}
	if f.Encryption != BackupCipherAES256CBC && f.Encryption != BackupCipherNone {
		c.errorf(p+".encryption", msgFromBackupEncrypt, f.Encryption)
	}
	t := f.Target
	if t.Time != "" && t.Name != "" {
		c.errorf(p+".target", msgFromBackupTwoTarget)
	}
	if c.set[p+".target.time"] && !validTargetTime(t.Time) {
		c.errorf(p+".target.time", msgFromBackupTime, t.Time)
	}
	if c.set[p+".target.name"] && !targetNameRe.MatchString(t.Name) {
		c.errorf(p+".target.name", msgFromBackupName, t.Name)
	}
	if t.Name != "" && t.Time == "" && f.Set == "" && targetNameRe.MatchString(t.Name) {
		c.warnf(p+".target.name", msgFromBackupNameNoSet)
	}
	if c.set[p+".set"] && !backupLabelRe.MatchString(f.Set) {
		c.errorf(p+".set", msgFromBackupSet, f.Set)
	}
	if len(s.Nodes) > 0 {
		n := s.Nodes[0]
		switch {
		case n.Tags.NoFailover:
			c.errorf("nodes[0].tags.nofailover", msgFromBackupFirstNode, n.Name, "nofailover (Patroni never bootstraps on such a member)")
		case n.Joins:
			c.errorf("nodes[0].joins", msgFromBackupFirstNode, n.Name, "a member that joins a running cluster")
		}
	}
}

// validTargetTime reports whether v is a date and time with its zone.
func validTargetTime(v string) bool {
	m := targetTimeRe.FindStringSubmatch(v)
	if m == nil {
		return false
	}
	_, err := time.Parse("2006-01-02 15:04:05", m[1]+" "+m[2])
	return err == nil
}

// sourceRepoDirs checks the source repository's path (clean and absolute):
// no system directory nor tree, apart from this cluster's own repository
// and from the node's data.
func (c *checker) sourceRepoDirs(repo string) {
	const p = "bootstrap.from_backup.repo.path"
	switch {
	case isSystemDir(repo):
		c.errorf(p, msgFromBackupRepoSys, repo)
		return
	case systemTree(repo) != "":
		c.errorf(p, msgFromBackupRepoTree, repo, systemTree(repo))
		return
	}
	s := c.s
	if b := s.Backup; b != nil && b.Repo.Path != "" && (within(repo, b.Repo.Path) || within(b.Repo.Path, repo)) {
		c.errorf(p, msgFromBackupRepoOwn, repo, b.Repo.Path)
	}
	others := []struct{ what, dir string }{{"the etcd data directory", s.Etcd.DataDir}}
	if s.PostgreSQL.DataDir != "" {
		others = append(others, struct{ what, dir string }{"PGDATA", s.PostgreSQL.DataDir})
	}
	for _, o := range others {
		if o.dir != "" && (within(repo, o.dir) || within(o.dir, repo)) {
			c.errorf(p, msgFromBackupRepoData, repo, o.what, o.dir)
		}
	}
}

// sourceRepoPGDATA reports a source repository that overlaps PGDATA once
// its default is known (CheckForMajor).
func (s *Spec) sourceRepoPGDATA(pgdata string) Problems {
	f := s.FromBackup()
	if f == nil || pgdata == "" || s.PostgreSQL.DataDir != "" || f.Repo.Path == "" || !nodePathRe.MatchString(f.Repo.Path) {
		return nil
	}
	if within(f.Repo.Path, pgdata) || within(pgdata, f.Repo.Path) {
		return Problems{s.ProblemAt("bootstrap.from_backup.repo.path", false, msgFromBackupRepoData, f.Repo.Path, "PGDATA", pgdata)}
	}
	return nil
}
