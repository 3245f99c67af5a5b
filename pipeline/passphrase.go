package pipeline

import (
	"errors"
	"io"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// PassphraseImport is what `secrets import-backup-passphrase` asks: the
// secrets file of Spec's cluster takes the backup passphrase of the
// cluster whose secrets file is From.
type PassphraseImport struct {
	Spec        *cluster.Spec
	SecretsPath string
	From        string
	// Rand and Now serve a secrets file created by the import, as a build
	// would create it (crypto/rand and time.Now unless a test sets them).
	Rand io.Reader
	Now  time.Time
}

// ImportBackupPassphrase stores the source cluster's backup passphrase in
// the secrets file of a cluster bootstrapped from its backups
// (secrets.ImportBackupPassphrase: that value only, atomic, 0600, the
// previous version kept). A spec without bootstrap.from_backup, or whose
// source is not encrypted, needs none and is refused.
func ImportBackupPassphrase(p PassphraseImport) (secrets.ImportReport, error) {
	f := p.Spec.FromBackup()
	switch {
	case f == nil:
		return secrets.ImportReport{}, errors.New("the spec has no bootstrap.from_backup: only a cluster bootstrapped from another cluster's backups needs that cluster's passphrase")
	case !f.Encrypted():
		return secrets.ImportReport{}, errors.New("bootstrap.from_backup.encryption is none: the source's repository needs no passphrase")
	}
	rnd, now := randAndClock(p.Rand, p.Now)
	return secrets.ImportBackupPassphrase(p.SecretsPath, p.From, rnd, secretsWant(p.Spec, now))
}
