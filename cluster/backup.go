package cluster

import (
	"net/netip"
	"regexp"
	"strings"
)

// Backup is the cluster's backups with pgBackRest: WAL archived by every
// primary into one repository that all the members share, scheduled full,
// differential and incremental backups taken by whichever member leads,
// and replicas rebuilt from the repository. nil when the spec has no backup
// section; `backup: {}` (or `backup:` alone) takes every default.
type Backup struct {
	// Stanza is pgBackRest's name for the cluster in the repository; the
	// cluster name by default.
	Stanza string `yaml:"stanza"`
	// Repo is the repository every member mounts (pgBackRest's repo1);
	// its path is empty when the spec has a backup host and writes no
	// repo.path: the backup host's repository is then the only one.
	Repo BackupRepo `yaml:"repo"`
	// Host, when set, is a dedicated backup host holding a repository of
	// its own, reached over pgBackRest's TLS server (no SSH): repo2 beside
	// a mounted repository, else repo1. It takes the scheduled backups of
	// that repository from whichever member leads.
	Host *BackupHost `yaml:"host"`
	// Retention is how many backups of each kind the repository keeps.
	Retention BackupRetention `yaml:"retention"`
	// Schedule holds systemd OnCalendar expressions: when each kind of
	// backup runs; an empty one runs none of that kind.
	Schedule BackupSchedule `yaml:"schedule"`
	// Compression is pgBackRest's compress-type.
	Compression string `yaml:"compression"`
	// Encryption is the repository's cipher: aes-256-cbc (the passphrase
	// is generated into the secrets file) or none.
	Encryption string `yaml:"encryption"`
	// ArchiveTimeout is PostgreSQL's archive_timeout in seconds: the most
	// WAL time a lost primary can take with it when little is written.
	ArchiveTimeout int `yaml:"archive_timeout"`
	// Verify is when `pgbackrest verify` checks the repository (an
	// OnCalendar expression; empty: never on schedule).
	Verify string `yaml:"verify"`
}

// BackupRepo is a repository on a POSIX path that every member mounts (NFS
// in production): the same files seen from every node.
type BackupRepo struct {
	Path string `yaml:"path"`
}

// BackupHost is the dedicated backup host: a machine of its own, with its
// own bundle and seed, running pgBackRest's TLS server. Each member runs one
// too, so that the backup host reaches the leader's PostgreSQL for its
// backups; both sides authenticate with certificates of the cluster's CA.
type BackupHost struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	// Port is the TLS servers' port, on the backup host and on every member.
	Port int `yaml:"port"`
	// Path is the repository on the backup host's own disk.
	Path string `yaml:"path"`
}

// BackupHostNode is the backup host as a machine of the cluster's network
// (its name and address), for the hosts block and its certificate.
func (s *Spec) BackupHostNode() Node {
	h := s.Backup.Host
	return Node{Name: h.Name, Address: h.Address}
}

// BackupRepoRef is one repository as pgBackRest numbers it on a member
// (repoN-*): a mounted path, or a path on the backup host over TLS.
type BackupRepoRef struct {
	Index int
	// Kind is BackupRepoPOSIX or BackupRepoTLS.
	Kind string
	Path string
	// Host is the backup host of a BackupRepoTLS repository.
	Host *BackupHost
}

// Kinds of repository.
const (
	BackupRepoPOSIX = "posix"
	BackupRepoTLS   = "tls"
)

// Repos lists the repositories in pgBackRest's order: the mounted one
// first (repo1), then the backup host's.
func (b *Backup) Repos() []BackupRepoRef {
	var out []BackupRepoRef
	if b.Repo.Path != "" {
		out = append(out, BackupRepoRef{Index: 1, Kind: BackupRepoPOSIX, Path: b.Repo.Path})
	}
	if b.Host != nil {
		out = append(out, BackupRepoRef{Index: len(out) + 1, Kind: BackupRepoTLS, Path: b.Host.Path, Host: b.Host})
	}
	return out
}

// POSIXRepo is the mounted repository, if the spec has one.
func (b *Backup) POSIXRepo() (BackupRepoRef, bool) {
	for _, r := range b.Repos() {
		if r.Kind == BackupRepoPOSIX {
			return r, true
		}
	}
	return BackupRepoRef{}, false
}

// BackupRetention counts full and differential backups kept
// (repo1-retention-full, repo1-retention-diff).
type BackupRetention struct {
	Full int `yaml:"full"`
	Diff int `yaml:"diff"`
}

// BackupSchedule is when each kind of backup runs.
type BackupSchedule struct {
	Full string `yaml:"full"`
	Diff string `yaml:"diff"`
	Incr string `yaml:"incr"`
}

// Defaults of the backup section, documented in docs/spec.md.
const (
	DefaultBackupRepoPath       = "/var/lib/pgbackrest"
	DefaultBackupRetentionFull  = 2
	DefaultBackupRetentionDiff  = 7
	DefaultBackupScheduleFull   = "Sun *-*-* 01:00:00"
	DefaultBackupScheduleDiff   = "Mon..Sat *-*-* 01:00:00"
	DefaultBackupScheduleIncr   = ""
	DefaultBackupCompression    = "zst"
	DefaultBackupEncryption     = BackupCipherAES256CBC
	DefaultBackupArchiveTimeout = 60
	DefaultBackupVerify         = "Sun *-*-* 05:00:00"
	// DefaultBackupHostPort is pgBackRest's own default tls-server-port.
	DefaultBackupHostPort = 8432
	// MaxBackupRetention is pgBackRest's largest retention count.
	MaxBackupRetention = 9999999
)

// Ciphers of the repository.
const (
	BackupCipherAES256CBC = "aes-256-cbc"
	BackupCipherNone      = "none"
)

// BackupCompressions are pgBackRest's compress-type values (2.45).
var BackupCompressions = []string{"none", "gz", "lz4", "zst", "bz2"}

// Messages of the backup section (TestEveryRuleHasABadSpec reads this file
// too).
const (
	msgBackupStanza        = "backup.stanza %q must be letters, digits, '-' or '_', at most 64 characters, starting with a letter or digit: pgBackRest names the repository's directories after it"
	msgBackupRepoReq       = "backup.repo.path is required: the repository every member mounts"
	msgBackupRepoSystem    = "%s %s is a system directory: pgBackRest would write the cluster's backups into it; mount the repository on a directory of its own, e.g. /var/lib/pgbackrest"
	msgBackupRepoTree      = "%s %s is inside %s, which holds no data (configuration, devices, or files emptied at boot); mount the repository under /var/lib or on a data file system"
	msgBackupRepoLayout    = "%s %s overlaps %s, which the node's tools use; choose another directory"
	msgBackupRepoData      = "backup.repo.path %s overlaps %s %s: the backups would be copied, or lost, with that data; mount the repository apart from it"
	msgBackupRetention     = "backup.retention.%s %d is out of range 1-9999999 (backups kept)"
	msgBackupSchedule      = "%s %q is not a systemd calendar expression like \"Sun *-*-* 01:00:00\" or \"daily\"; leave it empty (\"\") to run none"
	msgBackupNoSchedule    = "backup.schedule runs no full, differential or incremental backup: backups are taken only by hand (backup.sh full); set backup.schedule.full"
	msgBackupCompression   = "backup.compression %q is not supported; use " + "none, gz, lz4, zst or bz2"
	msgBackupEncryption    = "backup.encryption %q is not supported; use aes-256-cbc (the passphrase is generated into the secrets file) or none"
	msgBackupTimeout       = "backup.archive_timeout %d is out of range 0-1073741823 seconds"
	msgBackupWithArchive   = "archive.enabled is true but the spec has a backup section (line %d): with backup, pgBackRest archives the WAL (archive_command, restore_command); remove archive.enabled"
	msgBackupWithRestore   = "archive.restore_command is set but the spec has a backup section (line %d), whose restore_command fetches WAL from the repository; remove archive.restore_command"
	msgArchiveLocalDir     = "archive.directory: each member copies WAL into a directory of its own, so after a failover the WAL chain is split across machines and no point-in-time recovery is possible; use a backup section (pgBackRest, one repository for every member) instead"
	msgBackupScheduleChars = "%s holds a control character; write the calendar expression on one line"
	msgBackupHostName      = "backup.host.name %q must be a DNS label (" + ruleDNSLabel + ")"
	msgBackupHostNameDup   = "backup.host.name %q is the name of nodes[%d]: the backup host is a machine of its own, apart from the members"
	msgBackupHostPort      = "backup.host.port %d is out of range 1024-65535 (pgBackRest's TLS server runs as postgres)"
	msgBackupHostPortClash = "backup.host.port %d is ports.%s: every member runs pgBackRest's TLS server on it too; choose another port"
)

// backupStanzaRe is a stanza name pgBackRest accepts and the facts, units
// and commands can carry unquoted.
var backupStanzaRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// calendarRe is what a systemd calendar expression is made of (weekdays,
// dates, times, ranges, lists, repetitions, shorthands like daily, a time
// zone name): checked again by systemd-analyze calendar in the tests.
var calendarRe = regexp.MustCompile(`^[A-Za-z0-9*:.,/~+_ -]+$`)

// applyBackupDefaults fills the backup section's unset keys; `backup:`
// written without keys takes every default.
func (s *Spec) applyBackupDefaults(set map[string]bool) {
	if s.Backup == nil {
		if _, written := s.pos["backup"]; !written {
			return
		}
		s.Backup = &Backup{}
	}
	b := s.Backup
	str := func(path string, v *string, def string) {
		if !set[path] {
			*v = def
		}
	}
	num := func(path string, v *int, def int) {
		if !set[path] {
			*v = def
		}
	}
	str("backup.stanza", &b.Stanza, s.Cluster.Name)
	if b.Host == nil || set["backup.repo.path"] {
		str("backup.repo.path", &b.Repo.Path, DefaultBackupRepoPath)
	}
	if h := b.Host; h != nil {
		num("backup.host.port", &h.Port, DefaultBackupHostPort)
		str("backup.host.path", &h.Path, DefaultBackupRepoPath)
	}
	num("backup.retention.full", &b.Retention.Full, DefaultBackupRetentionFull)
	num("backup.retention.diff", &b.Retention.Diff, DefaultBackupRetentionDiff)
	str("backup.schedule.full", &b.Schedule.Full, DefaultBackupScheduleFull)
	str("backup.schedule.diff", &b.Schedule.Diff, DefaultBackupScheduleDiff)
	str("backup.schedule.incr", &b.Schedule.Incr, DefaultBackupScheduleIncr)
	str("backup.compression", &b.Compression, DefaultBackupCompression)
	str("backup.encryption", &b.Encryption, DefaultBackupEncryption)
	num("backup.archive_timeout", &b.ArchiveTimeout, DefaultBackupArchiveTimeout)
	str("backup.verify", &b.Verify, DefaultBackupVerify)
}

// Encrypted reports whether the repository is encrypted (its passphrase is
// a secret of the cluster).
func (b *Backup) Encrypted() bool { return b != nil && b.Encryption == BackupCipherAES256CBC }

// BackupKinds are the kinds of scheduled pgBackRest jobs, in order: the
// three backup types and verify.
var BackupKinds = []string{"full", "diff", "incr", "verify"}

// Schedules returns the OnCalendar expression of each kind of BackupKinds
// that runs on a schedule, by kind.
func (b *Backup) Schedules() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{"full": b.Schedule.Full, "diff": b.Schedule.Diff, "incr": b.Schedule.Incr, "verify": b.Verify} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// backup checks the backup section, and the archive section against it.
func (c *checker) backup() {
	s := c.s
	b := s.Backup
	a := s.Archive
	if b == nil {
		if a.Enabled && a.Command == "" && a.Directory != "" {
			at := "archive.enabled"
			if c.set["archive.directory"] {
				at = "archive.directory"
			}
			c.warnf(at, msgArchiveLocalDir)
		}
		return
	}
	line := s.pos["backup"].line
	if a.Enabled {
		c.errorf("archive.enabled", msgBackupWithArchive, line)
	}
	if a.RestoreCommand != "" {
		c.errorf("archive.restore_command", msgBackupWithRestore, line)
	}
	if !backupStanzaRe.MatchString(b.Stanza) {
		c.errorf("backup.stanza", msgBackupStanza, b.Stanza)
	}
	switch {
	case b.Repo.Path == "" && b.Host == nil:
		c.errorf("backup.repo.path", msgBackupRepoReq)
	case b.Repo.Path == "":
	case c.checkPath("backup.repo.path", b.Repo.Path):
		c.backupRepoDirs("backup.repo.path", b.Repo.Path)
	}
	c.backupHost()
	for _, r := range []struct {
		key string
		n   int
	}{{"full", b.Retention.Full}, {"diff", b.Retention.Diff}} {
		if r.n < 1 || r.n > MaxBackupRetention {
			c.errorf("backup.retention."+r.key, msgBackupRetention, r.key, r.n)
		}
	}
	for _, sc := range []struct{ path, v string }{
		{"backup.schedule.full", b.Schedule.Full}, {"backup.schedule.diff", b.Schedule.Diff},
		{"backup.schedule.incr", b.Schedule.Incr}, {"backup.verify", b.Verify},
	} {
		switch {
		case sc.v == "":
		case hasControl(sc.v):
			c.errorf(sc.path, msgBackupScheduleChars, sc.path)
		case !calendarRe.MatchString(sc.v) || strings.TrimSpace(sc.v) != sc.v:
			c.errorf(sc.path, msgBackupSchedule, sc.path, sc.v)
		}
	}
	if b.Schedule.Full == "" && b.Schedule.Diff == "" && b.Schedule.Incr == "" {
		c.warnf("backup.schedule", msgBackupNoSchedule)
	}
	ok := false
	for _, v := range BackupCompressions {
		ok = ok || v == b.Compression
	}
	if !ok {
		c.errorf("backup.compression", msgBackupCompression, b.Compression)
	}
	if b.Encryption != BackupCipherAES256CBC && b.Encryption != BackupCipherNone {
		c.errorf("backup.encryption", msgBackupEncryption, b.Encryption)
	}
	if b.ArchiveTimeout < 0 || b.ArchiveTimeout > MaxArchiveTimeout {
		c.errorf("backup.archive_timeout", msgBackupTimeout, b.ArchiveTimeout)
	}
}

// backupRepoDirs checks the repository's path (clean and absolute): not a
// system directory nor in a system tree, apart from the tools' directories
// and from every data directory of the node. PGDATA's default needs the
// server major: CheckForMajor checks it then (backupRepoPGDATA).
func (c *checker) backupRepoDirs(at, repo string) {
	switch {
	case isSystemDir(repo):
		c.errorf(at, msgBackupRepoSystem, at, repo)
		return
	case systemTree(repo) != "":
		c.errorf(at, msgBackupRepoTree, at, repo, systemTree(repo))
		return
	}
	for _, l := range layoutDirs {
		if within(repo, l) || within(l, repo) {
			c.errorf(at, msgBackupRepoLayout, at, repo, l)
			return
		}
	}
	if at != "backup.repo.path" {
		return // the backup host holds no data of the members
	}
	s := c.s
	others := []struct{ what, dir string }{{"the etcd data directory", s.Etcd.DataDir}}
	if s.PostgreSQL.DataDir != "" {
		others = append(others, struct{ what, dir string }{"PGDATA", s.PostgreSQL.DataDir})
	}
	if a := s.Archive; a.Directory != "" && a.Command == "" && c.set["archive.directory"] {
		others = append(others, struct{ what, dir string }{"the WAL archive", a.Directory})
	}
	if v, ok := s.PostgreSQL.Parameters["log_directory"].(string); ok && strings.HasPrefix(v, "/") {
		others = append(others, struct{ what, dir string }{"the PostgreSQL log directory", v})
	}
	for _, o := range others {
		if o.dir != "" && (within(repo, o.dir) || within(o.dir, repo)) {
			c.errorf("backup.repo.path", msgBackupRepoData, repo, o.what, o.dir)
		}
	}
}

// backupHost checks the backup host: a name and an address of its own, a
// port no member uses, and a repository path on its disk.
func (c *checker) backupHost() {
	h := c.s.Backup.Host
	if h == nil {
		return
	}
	switch {
	case h.Name == "":
		c.errorf("backup.host.name", msgRequired, "backup.host.name")
	case !dnsLabelRe.MatchString(h.Name):
		c.errorf("backup.host.name", msgBackupHostName, h.Name)
	default:
		for i, n := range c.s.Nodes {
			if n.Name == h.Name {
				c.errorf("backup.host.name", msgBackupHostNameDup, h.Name, i)
			}
		}
	}
	seen := map[netip.Addr]string{}
	for _, n := range c.s.Nodes {
		if a, err := netip.ParseAddr(n.Address); err == nil {
			seen[a] = n.Name
		}
	}
	c.address("backup.host.address", Node{Name: h.Name, Address: h.Address}, seen)
	if h.Port < 1024 || h.Port > 65535 {
		c.errorf("backup.host.port", msgBackupHostPort, h.Port)
	} else {
		for _, p := range c.s.portList() {
			if p.port == h.Port {
				c.errorf("backup.host.port", msgBackupHostPortClash, h.Port, p.key)
			}
		}
	}
	if c.checkPath("backup.host.path", h.Path) {
		c.backupRepoDirs("backup.host.path", h.Path)
	}
}

// backupRepoPGDATA reports a repository that overlaps PGDATA once its
// default is known (CheckForMajor).
func (s *Spec) backupRepoPGDATA(pgdata string) Problems {
	b := s.Backup
	if b == nil || pgdata == "" || s.PostgreSQL.DataDir != "" || b.Repo.Path == "" || !nodePathRe.MatchString(b.Repo.Path) {
		return nil
	}
	if within(b.Repo.Path, pgdata) || within(pgdata, b.Repo.Path) {
		return Problems{s.ProblemAt("backup.repo.path", false, msgBackupRepoData, b.Repo.Path, "PGDATA", pgdata)}
	}
	return nil
}

// BackupTimerKinds lists the kinds that run on a schedule, in BackupKinds
// order.
func (b *Backup) BackupTimerKinds() []string {
	var out []string
	sc := b.Schedules()
	for _, k := range BackupKinds {
		if _, ok := sc[k]; ok {
			out = append(out, k)
		}
	}
	return out
}
