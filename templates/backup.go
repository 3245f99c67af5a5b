package templates

import (
	"fmt"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// backupOutputs are the files a node of a cluster with backups receives,
// besides a timer per scheduled kind (backupTimerOutputs).
var backupOutputs = []output{
	{file: mustFile(layout.PgBackRestConfig), template: "pgbackrest.conf.tmpl", secret: true, when: backupOn},
	{file: mustFile(layout.BackupUnit), template: "pgha-backup@.service.tmpl", when: backupOn},
	{file: mustFile(layout.BackupServerUnit), template: "pgha-pgbackrest.service.tmpl", when: backupServerOn},
}

// backupServerOn: a member of a cluster with a backup host runs
// pgBackRest's TLS server, through which the backup host reaches its
// PostgreSQL.
func backupServerOn(v *view) bool { return v.Backup != nil && v.Backup.Host != nil }

// backupTimerOutputs renders one timer per kind whose schedule is set.
func backupTimerOutputs() []output {
	var out []output
	for _, kind := range layout.BackupTimerKinds {
		out = append(out, output{
			file: layout.BackupTimerFile(kind),
			gen: func(v *view) ([]byte, error) {
				var b strings.Builder
				err := tmpl.ExecuteTemplate(&b, "pgha-backup.timer.tmpl", struct {
					*view
					Timer backupTimer
				}{v, v.Backup.timer(kind)})
				return []byte(b.String()), err
			},
			when: func(v *view) bool { return v.Backup != nil && v.Backup.timer(kind).Calendar != "" },
		})
	}
	return out
}

func init() { outputs = append(append(outputs, backupOutputs...), backupTimerOutputs()...) }

func backupOn(v *view) bool { return v.Backup != nil }

// pgBackRest's own log directory.
const pgbackrestLogPath = layout.PgBackRestLogDir

// backupView is what pgbackrest.conf, Patroni's configuration, the units
// and the facts need of the backups.
type backupView struct {
	cluster.Backup
	Bin        string // pgbackrest
	Version    string // its package's version, for the header
	CipherPass string // empty when the repository is not encrypted
	LogPath    string
	// SocketPath is pg1-socket-path: the first of unix_socket_directories
	// when the spec sets it; else pgBackRest looks where the server's
	// build puts it (as Patroni's use_unix_socket does).
	SocketPath string
	Superuser  string
	Script     string // backup.sh on the node, which the job unit runs
	Config     string // pgbackrest.conf
	Timers     []backupTimer
	// Repos are the repositories, repo1 first; a backup host's is reached
	// over TLS.
	Repos []cluster.BackupRepoRef
	// OnHost is true in the backup host's own view.
	OnHost bool
	// TLS is pgBackRest's TLS server and client on this machine, when the
	// cluster has a backup host.
	TLS *backupTLS
	// The commands PostgreSQL and Patroni run.
	ArchiveCommand, RestoreCommand, ReplicaCommand string
}

// backupTLS is what pgBackRest's TLS server and client need on a machine:
// its address, the port, the cluster's CA, its certificate and key, and
// the certificates' names (CN) allowed to reach it, each for the stanza.
type backupTLS struct {
	Address, Port string
	CA, Cert, Key string
	// Auth are the tls-server-auth lines, "CN=stanza" each: one client
	// CN a line (a comma would separate stanzas).
	Auth []string
	// UnitName is the TLS server's unit; PeerNames and PeerAddrs are who
	// may reach it (the firewall's rules).
	UnitName             string
	PeerNames, PeerAddrs []string
}

// backupTimer is one scheduled kind of job.
type backupTimer struct {
	Kind, Calendar, Name, Service string
}

func (b *backupView) timer(kind string) backupTimer {
	for _, t := range b.Timers {
		if t.Kind == kind {
			return t
		}
	}
	return backupTimer{}
}

// backupKindWords names each kind in the timers' descriptions.
var backupKindWords = map[string]string{"full": "full backup", "diff": "differential backup", "incr": "incremental backup", "verify": "repository verification"}

// newBackupView derives the backups' view for a node; nil without a
// backup section.
func newBackupView(spec *cluster.Spec, comp rpm.Components, sec *secrets.Secrets, node string) (*backupView, error) {
	b := spec.Backup
	if b == nil {
		return nil, nil
	}
	if comp.PgBackRest == nil {
		return nil, rpm.NeedPgBackRest()
	}
	v := &backupView{
		Backup: *b, Bin: comp.PgBackRest.Bin, Version: comp.PgBackRest.Version,
		LogPath: pgbackrestLogPath, Superuser: users.Superuser, Script: layout.BackupScript,
		Config: layout.PgBackRestConfig,
	}
	if b.Encrypted() {
		if sec.BackupCipherPass == "" {
			return nil, fmt.Errorf("render %s: the secrets file holds no backup_cipher_pass: run pgha-bundle build, which generates it", node)
		}
		v.CipherPass = sec.BackupCipherPass
	}
	if dirs, ok := spec.PostgreSQL.Parameters["unix_socket_directories"].(string); ok {
		first, _, _ := strings.Cut(dirs, ",")
		v.SocketPath = strings.TrimSpace(first)
	}
	v.Repos = b.Repos()
	if h := b.Host; h != nil {
		self := spec.NodeByName(node)
		v.TLS = &backupTLS{
			Address: self.Address, Port: fmt.Sprint(h.Port), CA: layout.CA, Cert: layout.Cert, Key: layout.PatroniKey,
			Auth: []string{h.Name + "=" + b.Stanza}, PeerNames: []string{h.Name}, PeerAddrs: []string{h.Address},
			UnitName: layout.UnitBackupServer + ".service",
		}
	}
	v.addTimers(b)
	stanza := v.Bin + " --stanza=" + b.Stanza
	v.ArchiveCommand = stanza + ` archive-push "%p"`
	v.RestoreCommand = stanza + ` archive-get %f "%p"`
	v.ReplicaCommand = stanza + " --delta restore --type=standby"
	return v, nil
}

// addTimers adds a timer for each scheduled kind. The members' timers
// back up the mounted repository: without one, the backup host takes
// every backup, and the members have none.
func (v *backupView) addTimers(b *cluster.Backup) {
	if _, ok := b.POSIXRepo(); !ok && !v.OnHost {
		return
	}
	sc := b.Schedules()
	for _, kind := range layout.BackupTimerKinds {
		if cal := sc[kind]; cal != "" {
			v.Timers = append(v.Timers, backupTimer{Kind: kind, Calendar: cal, Name: layout.BackupTimerName(kind),
				Service: layout.UnitBackup + kind + ".service"})
		}
	}
}

// backupFacts adds the facts of the backups (the restore and the scripts
// read them): the stanza, pgbackrest, the repository, each timer and
// whether the repository is encrypted.
func backupFacts(f *layout.Facts, b *backupView) {
	if b == nil {
		return
	}
	f.Add("backup_stanza", b.Stanza)
	f.Add("pgbackrest_bin", b.Bin)
	for _, r := range b.Repos {
		switch r.Kind {
		case cluster.BackupRepoPOSIX:
			f.Add("backup_repo", r.Index, r.Kind, r.Path)
		default:
			f.Add("backup_repo", r.Index, r.Kind, r.Path, r.Host.Name, r.Host.Port)
		}
	}
	if t := b.TLS; t != nil {
		f.Add("pgbackrest_tls", t.Address, t.Port, t.UnitName)
		for i := range t.PeerNames {
			f.Add("pgbackrest_peer", t.PeerNames[i], t.PeerAddrs[i])
		}
	}
	for _, t := range b.Timers {
		f.Add("backup_timer", t.Kind, t.Name)
	}
	enc := "no"
	if b.Encrypted() {
		enc = "yes"
	}
	f.Add("backup_encrypted", enc)
}

// backupKindWord names a kind for the units' descriptions.
func backupKindWord(kind string) string { return backupKindWords[kind] }
