package templates

import (
	"fmt"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// bootstrapOutputs are the files of the member that bootstraps a cluster
// from another cluster's backups: the source repository's configuration.
var bootstrapOutputs = []output{
	{file: mustFile(layout.PgBackRestSourceConfig), template: "pgbackrest-source.conf.tmpl", secret: true, when: bootstrapOn},
}

func init() { outputs = append(outputs, bootstrapOutputs...) }

func bootstrapOn(v *view) bool { return v.Bootstrap != nil }

// BootstrapMethod is the name of Patroni's custom bootstrap method of a
// cluster bootstrapped from another cluster's backups.
const BootstrapMethod = "from_backup"

// bootstrapView is what the first member of a cluster bootstrapped from
// another cluster's backups needs: the source's repository, and the
// commands Patroni's custom bootstrap runs.
type bootstrapView struct {
	cluster.FromBackup
	Method     string
	Config     string // source.conf
	CipherPass string // empty when the source is not encrypted
	LogPath    string
	// Command restores the source's backup into the empty PGDATA;
	// RestoreCommand fetches the source's WAL during that recovery.
	Command, RestoreCommand string
	// TargetParam and Target are the recovery target PostgreSQL stops at
	// (recovery_target_name or recovery_target_time); empty for the end of
	// the archive.
	TargetParam, Target string
}

// newBootstrapView derives the bootstrap of node: nil without
// bootstrap.from_backup and on every member but the first.
func newBootstrapView(spec *cluster.Spec, comp rpm.Components, sec *secrets.Secrets, node string) (*bootstrapView, error) {
	f := spec.FromBackup()
	if f == nil || node != spec.BootstrapNode() {
		return nil, nil
	}
	if comp.PgBackRest == nil {
		return nil, rpm.NeedPgBackRest()
	}
	v := &bootstrapView{FromBackup: *f, Method: BootstrapMethod, Config: layout.PgBackRestSourceConfig, LogPath: pgbackrestLogPath}
	if f.Encrypted() {
		if sec.SourceBackupCipherPass == "" {
			return nil, fmt.Errorf("render %s: the secrets file holds no source_backup_cipher_pass, the passphrase of the repository bootstrap.from_backup restores from: run pgha-bundle secrets import-backup-passphrase --from <the source cluster's secrets file>", node)
		}
		v.CipherPass = sec.SourceBackupCipherPass
	}
	base := comp.PgBackRest.Bin + " --config=" + layout.PgBackRestSourceConfig + " --stanza=" + f.Stanza
	typ, target := f.RecoveryTarget()
	cmd := []string{base}
	if typ != cluster.TargetLatest {
		// Patroni splits the command as a shell would (shlex), without
		// running a shell: a time's space stays in one quoted word.
		cmd = append(cmd, "--type="+typ, "--target="+shellQuote(target), "--target-action=promote")
		v.TargetParam, v.Target = "recovery_target_"+typ, target
	}
	if f.Set != "" {
		cmd = append(cmd, "--set="+f.Set)
	}
	v.Command = strings.Join(append(cmd, "restore"), " ")
	v.RestoreCommand = base + ` archive-get %f "%p"`
	return v, nil
}

// bootstrapFacts adds the facts of a cluster bootstrapped from another
// cluster's backups: on every member the node that bootstraps it, and on
// that node the source (stanza, repository, backup set or "-", and the
// configuration naming it) that install.sh checks before Patroni starts.
func bootstrapFacts(f *layout.Facts, v *view) {
	node := v.spec.BootstrapNode()
	if node == "" {
		return
	}
	f.Add("bootstrap_node", node)
	if b := v.Bootstrap; b != nil {
		set := b.Set
		if set == "" {
			set = "-"
		}
		f.Add("bootstrap_from", b.Stanza, b.Repo.Path, set, b.Config)
	}
}
