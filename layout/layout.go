// Package layout is the one place that names what a node is given: every
// path on the node, unit, port role, bundle entry, environment key of the
// scripts and key of the facts file the scripts read. The renderer, the
// cross-check, diff, the bundle and the seed take their names from here;
// the scripts get them through the facts file (Facts), never written out by
// hand, and a test checks that no script names an on-node path of its own.
//
// To add a file a node receives: add its path below (and to Files when it
// is a payload file), render it in templates, and, when a script must find
// it, give it a path key in PathKeys.
package layout

// Payload files: the configuration a node receives, by path on the node.
const (
	PatroniConfig = "/etc/patroni/patroni.yml"
	DCSConfig     = "/etc/patroni/dcs.yml"
	EtcdConfig    = "/etc/etcd/etcd.conf.yml"
	HAProxyConfig = "/etc/haproxy/haproxy.cfg"

	UnitDir     = "/etc/systemd/system"
	EtcdUnit    = UnitDir + "/" + UnitEtcd + ".service"
	PatroniUnit = UnitDir + "/" + UnitPatroni + ".service"
	HAProxyUnit = UnitDir + "/" + UnitHAProxy + ".service"

	// ConfDir holds the files of pgha-bundle itself.
	ConfDir = "/etc/pgha-bundle"
	// HostsBlock is the marked /etc/hosts block, markers included, that
	// install.sh and the seed script merge into EtcHosts.
	HostsBlock = ConfDir + "/hosts"
	// NodeFacts is the node's facts (FactsFormat), installed so that
	// uninstall.sh knows what an install put where.
	NodeFacts = ConfDir + "/node.facts"

	PKIDir     = ConfDir + "/pki"
	CA         = PKIDir + "/ca.crt"
	Cert       = PKIDir + "/node.crt"
	EtcdKey    = PKIDir + "/etcd.key"
	PatroniKey = PKIDir + "/patroni.key"

	Softdog       = "/etc/modules-load.d/softdog.conf"
	WatchdogRules = "/etc/udev/rules.d/99-pgha-watchdog.rules"

	// The virtual IP's files (a spec with a vip section).
	KeepalivedConfig = "/etc/keepalived/keepalived.conf"
	// VIPCheck lies beside keepalived's config, in a root-owned directory:
	// keepalived's script security refuses a script any other user could
	// replace.
	VIPCheck  = "/etc/keepalived/pgha-vip-check"
	VIPSysctl = "/etc/sysctl.d/90-pgha-vip.conf"

	// The backups' files (a spec with a backup section): pgBackRest's
	// configuration (it carries the repository's passphrase: readable by
	// postgres, which runs pgbackrest, and root only), the backup job's
	// template unit and a timer per scheduled kind (BackupTimer).
	PgBackRestConfig = "/etc/pgbackrest/pgbackrest.conf"
	// PgBackRestLogDir is pgBackRest's log directory: PGDG's package makes
	// it for postgres on the members; install.sh on the backup host.
	PgBackRestLogDir = "/var/log/pgbackrest"
	BackupUnit       = UnitDir + "/" + UnitBackup + ".service"
	// BackupServerUnit runs pgBackRest's TLS server (a spec with a backup
	// host): on the backup host, and on every member for the backup host.
	BackupServerUnit = UnitDir + "/" + UnitBackupServer + ".service"
	// BackupHostKey is the backup host's key, postgres's: pgBackRest's TLS
	// server and client run as postgres there (members use PatroniKey).
	BackupHostKey = PKIDir + "/pgbackrest.key"

	// PgBackRestSourceConfig is pgBackRest's configuration of another
	// cluster's repository, the first node of a cluster bootstrapped from
	// that cluster's backups restores from (it carries that repository's
	// passphrase; pgBackRest reads it only when named with --config).
	PgBackRestSourceConfig = "/etc/pgbackrest/source.conf"
)

// LibexecDir holds the scripts install.sh installs for the node's own use
// (a cluster with backups: backup.sh, which the backup units run, and the
// lib.sh it sources).
const (
	LibexecDir = "/usr/libexec/pgha-bundle"
	// BackupScript is backup.sh there; BundleBackupScript is its name in
	// the bundle.
	BackupScript       = LibexecDir + "/" + BundleBackupScript
	BundleBackupScript = "backup.sh"
)

// What the scripts keep on the node between runs.
const (
	StateDir = "/var/lib/pgha-bundle"
	// Receipt is the line-based receipt install.sh writes (ReceiptFormat).
	Receipt = StateDir + "/receipt"
	// ReceiptJSON is the receipt bundles of format 1 wrote; upgrade.sh and
	// uninstall.sh still read it, and replace it by Receipt.
	ReceiptJSON  = StateDir + "/receipt.json"
	KeptData     = StateDir + "/kept-data"
	UpgradeState = StateDir + "/upgrade.state"
	// SeedScript is where cloud-init's write_files puts the seed script.
	SeedScript = StateDir + "/seed-install.sh"
	// SeedBundleDir is where the seed unpacks the bundle (it holds
	// <cluster>-<node>/); SeedBundleDir+".new" while it unpacks.
	SeedBundleDir = StateDir + "/bundle"
	LogDir        = "/var/log/pgha-bundle"
	SeedLog       = LogDir + "/seed-install.log"
	// NodeEnv is the shell-sourced settings file bundles of format 1
	// installed; uninstall.sh reads it only when NodeFacts is absent.
	NodeEnv = ConfDir + "/node.env"
)

// Paths of the host the scripts read or change, not given by a bundle.
const (
	EtcHosts  = "/etc/hosts"
	OSRelease = "/etc/os-release"
	Passwd    = "/etc/passwd"
	Group     = "/etc/group"
	Watchdog  = "/dev/watchdog"
	// CDROM is the first optical drive: the seed script mounts it when no
	// device carries the seed's label.
	CDROM = "/dev/sr0"
	// RunDir is a tmpfs: the seed script's temporary file and mount point
	// go there, never onto a disk.
	RunDir        = "/run"
	SystemdRunDir = "/run/systemd/system"
	NoLoginShell  = "/sbin/nologin"
	// Default homes and data trees of the service accounts on EL: the
	// homes of accounts the scripts create, and the defaults whose SELinux
	// file context a moved data directory receives.
	PostgresHome = "/var/lib/pgsql"
	// Where sysctl settings come from, besides VIPSysctl: uninstall.sh
	// keeps net.ipv4.ip_nonlocal_bind on when one of them sets it.
	SysctlConf      = "/etc/sysctl.conf"
	SysctlDir       = "/etc/sysctl.d"
	RunSysctlDir    = "/run/sysctl.d"
	VendorSysctlDir = "/usr/lib/sysctl.d"
	EtcdHome        = "/var/lib/etcd"
	HAProxyHome     = "/var/lib/haproxy"
)

// Systemd units, by name.
const (
	UnitEtcd       = "etcd"
	UnitPatroni    = "patroni"
	UnitHAProxy    = "haproxy"
	UnitKeepalived = "keepalived"
	// UnitBackup is the backup job's template unit: pgha-backup@KIND runs
	// backup.sh KIND (full, diff, incr or verify).
	UnitBackup = "pgha-backup@"
	// UnitBackupServer is pgBackRest's TLS server.
	UnitBackupServer = "pgha-pgbackrest"
	// DistroPostgreSQLUnit is masked by install.sh, with its per-major
	// form postgresql-<major>.service.
	DistroPostgreSQLUnit = "postgresql"
)

// Names inside a bundle's top directory.
const (
	BundleFacts     = "FACTS"
	BundleManifest  = "manifest.json"
	BundleSums      = "SHA256SUMS"
	BundleFilesDir  = "files"
	BundlePackages  = "packages"
	BundleKeysDir   = "packages/keys"
	BundleLibScript = "lib.sh"
)

// HostsMarker, followed by a space and the cluster name, begins ("# BEGIN
// …") and ends ("# END …") the block of a cluster in /etc/hosts.
const HostsMarker = "pgha-bundle"

// SeedDirs are the NoCloud seed directories cloud-init reads when the
// seed's files are extracted rather than on a device.
var SeedDirs = []string{"/var/lib/cloud/seed/nocloud", "/var/lib/cloud/seed/nocloud-net"}

// File is a payload file's place on the node and who owns it.
type File struct {
	Path         string
	Mode         uint32
	Owner, Group string
}

// Files are the payload files every node receives, besides the watchdog's
// (WatchdogFiles) when the spec turns it on.
var Files = []File{
	{PatroniConfig, 0o600, "postgres", "postgres"},
	{DCSConfig, 0o600, "postgres", "postgres"},
	{EtcdConfig, 0o640, "root", "etcd"},
	{HAProxyConfig, 0o640, "root", "haproxy"},
	{EtcdUnit, 0o644, "root", "root"},
	{PatroniUnit, 0o644, "root", "root"},
	{HAProxyUnit, 0o644, "root", "root"},
	{HostsBlock, 0o644, "root", "root"},
	{NodeFacts, 0o600, "root", "root"},
	{CA, 0o644, "root", "root"},
	{Cert, 0o644, "root", "root"},
	{EtcdKey, 0o600, "etcd", "etcd"},
	{PatroniKey, 0o600, "postgres", "postgres"},
}

// WatchdogFiles load softdog and give /dev/watchdog to postgres.
var WatchdogFiles = []File{
	{Softdog, 0o644, "root", "root"},
	{WatchdogRules, 0o644, "root", "root"},
}

// VIPFiles hold the virtual IP: keepalived's config (it carries the VRRP
// password), its check and the non-local bind HAProxy needs.
var VIPFiles = []File{
	{KeepalivedConfig, 0o600, "root", "root"},
	{VIPCheck, 0o755, "root", "root"},
	{VIPSysctl, 0o644, "root", "root"},
}

// BackupFiles are pgBackRest's configuration and the backup job's unit;
// the timers (BackupTimerFile) come with them, one per scheduled kind.
var BackupFiles = []File{
	{PgBackRestConfig, 0o640, "root", "postgres"},
	{BackupUnit, 0o644, "root", "root"},
	{BackupServerUnit, 0o644, "root", "root"},
}

// BackupHostFiles are the backup host's own, besides BackupFiles, the
// timers, the CA, its certificate, the hosts block and its facts.
var BackupHostFiles = []File{
	{BackupHostKey, 0o600, "postgres", "postgres"},
}

// BootstrapFiles are the files of the first node of a cluster bootstrapped
// from another cluster's backups: the source repository's configuration.
var BootstrapFiles = []File{
	{PgBackRestSourceConfig, 0o640, "root", "postgres"},
}

// BackupTimerName is the timer unit of a kind of scheduled backup job
// (full, diff, incr, verify): pgha-backup-KIND.timer, which starts
// pgha-backup@KIND.service.
func BackupTimerName(kind string) string { return "pgha-backup-" + kind + ".timer" }

// BackupTimerFile is the payload file of a kind's timer.
func BackupTimerFile(kind string) File {
	return File{UnitDir + "/" + BackupTimerName(kind), 0o644, "root", "root"}
}

// BackupTimerKinds are the kinds of scheduled backup jobs, each with its
// timer file (BackupTimerFile) when its schedule is set.
var BackupTimerKinds = []string{"full", "diff", "incr", "verify"}

// FileOf returns the layout of a payload path.
func FileOf(p string) (File, bool) {
	all := append(append(append(append(append(append([]File(nil), Files...), WatchdogFiles...), VIPFiles...), BackupFiles...), BackupHostFiles...), BootstrapFiles...)
	for _, k := range BackupTimerKinds {
		all = append(all, BackupTimerFile(k))
	}
	for _, f := range all {
		if f.Path == p {
			return f, true
		}
	}
	return File{}, false
}

// PathKeys name, for the scripts, every on-node path they use: each is a
// "path KEY VALUE" line of the facts file, read into the scripts' P array.
var PathKeys = map[string]string{
	"patroni_config":    PatroniConfig,
	"dcs_config":        DCSConfig,
	"etcd_config":       EtcdConfig,
	"haproxy_config":    HAProxyConfig,
	"unit_dir":          UnitDir,
	"etcd_unit":         EtcdUnit,
	"patroni_unit":      PatroniUnit,
	"haproxy_unit":      HAProxyUnit,
	"conf_dir":          ConfDir,
	"hosts_block":       HostsBlock,
	"node_facts":        NodeFacts,
	"node_env":          NodeEnv,
	"pki_dir":           PKIDir,
	"ca":                CA,
	"cert":              Cert,
	"etcd_key":          EtcdKey,
	"patroni_key":       PatroniKey,
	"state_dir":         StateDir,
	"receipt":           Receipt,
	"receipt_json":      ReceiptJSON,
	"kept_data":         KeptData,
	"upgrade_state":     UpgradeState,
	"seed_script":       SeedScript,
	"seed_bundle_dir":   SeedBundleDir,
	"log_dir":           LogDir,
	"etc_hosts":         EtcHosts,
	"os_release":        OSRelease,
	"passwd":            Passwd,
	"group":             Group,
	"watchdog":          Watchdog,
	"systemd_run_dir":   SystemdRunDir,
	"nologin":           NoLoginShell,
	"postgres_home":     PostgresHome,
	"etcd_home":         EtcdHome,
	"haproxy_home":      HAProxyHome,
	"vip_sysctl":        VIPSysctl,
	"sysctl_conf":       SysctlConf,
	"sysctl_dir":        SysctlDir,
	"run_sysctl_dir":    RunSysctlDir,
	"vendor_sysctl_dir": VendorSysctlDir,
	"pgbackrest_config": PgBackRestConfig,
	"pgbackrest_log":    PgBackRestLogDir,
	"libexec_dir":       LibexecDir,
}

// Port roles: which ports firewalld opens to the whole zone (clients reach
// PostgreSQL and HAProxy from anywhere the zone allows) and which to the
// members' addresses only (etcd and Patroni's REST API).
const (
	PortZone    = "zone"
	PortMembers = "members"
)

// EnvKeys are the environment variables the scripts read (each also a flag).
var EnvKeys = []string{
	"PGHA_ROOT", "PGHA_PKG_TOOL",
	"PGHA_TIMEOUT_ETCD", "PGHA_TIMEOUT_PATRONI", "PGHA_TIMEOUT_HAPROXY", "PGHA_TIMEOUT_SWITCHOVER",
	"PGHA_TIMEOUT_PENDING", "PGHA_POLL_INTERVAL",
}

// HostsBegin and HostsEnd are the lines around a cluster's block in
// /etc/hosts.
func HostsBegin(cluster string) string { return "# BEGIN " + HostsMarker + " " + cluster }

// HostsEnd ends the block HostsBegin starts.
func HostsEnd(cluster string) string { return "# END " + HostsMarker + " " + cluster }
