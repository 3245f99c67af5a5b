package secrets

import (
	"fmt"
	"io"
)

// BackupCipherPassLength is the length of the backup repository's
// passphrase: two passwords' worth of the password alphabet (about 370
// bits), more than AES-256's key, as pgBackRest advises a long random one.
const BackupCipherPassLength = 2 * passwordLength

// fillBackup generates backup_cipher_pass when a cluster with an encrypted
// backup repository needs it and the file has none (a cluster that gained
// a backup section, or a file older than the key). It is never replaced
// afterwards: the repository's files can only be read with it, so the
// secrets file is then the only key to the backups. Clusters without
// encrypted backups never get one, so their files stay as they are.
func (s *Secrets) fillBackup(rnd io.Reader, want Want, rep *Report) error {
	if !want.Backup || s.BackupCipherPass != "" {
		return nil
	}
	var p string
	for range 2 {
		half, err := password(rnd)
		if err != nil {
			return fmt.Errorf("backup_cipher_pass: %w", err)
		}
		p += half
	}
	s.BackupCipherPass = p
	rep.Filled = append(rep.Filled, "backup_cipher_pass")
	return nil
}
