package secrets

import (
	"io"
	"os"
)

// ImportReport says what ImportBackupPassphrase did, naming files and
// clusters, never a value.
type ImportReport struct {
	// SourceCluster is the cluster the source's secrets file belongs to
	// (empty for a file written before files named their cluster).
	SourceCluster string
	// Created is set when this cluster had no secrets file yet: its
	// passwords, CA and certificates were generated with it, as a build
	// would.
	Created bool
	// Replaced is set when the file held another source passphrase;
	// Unchanged when it held this one already.
	Replaced, Unchanged bool
}

// ImportBackupPassphrase copies one value, the backup repository's
// passphrase (backup_cipher_pass), from the secrets file of another
// cluster at from into this cluster's secrets file at path, as
// source_backup_cipher_pass: the key a cluster bootstrapped from that
// cluster's backups needs to read them. Nothing else of the source's file
// is read into this one: its passwords, CA and certificates belong to the
// source, and a build refuses a foreign secrets file whole.
//
// The source's file is checked whole (as Load does) and must hold the
// passphrase. This cluster's file is taken under its lock, loaded for want
// (created when there is none, as a build does) and written the safe way
// (Save: atomic, 0600, the previous version kept at PrevPath).
func ImportBackupPassphrase(path, from string, rnd io.Reader, want Want) (ImportReport, error) {
	var rep ImportReport
	src, _, err := read(from)
	if err != nil {
		return rep, err
	}
	if src.BackupCipherPass == "" {
		return rep, &Error{Path: from, Reason: "holds no backup_cipher_pass: its cluster's backup repository is not encrypted, or this is not the source cluster's secrets file",
			Remedy: "name the source cluster's secrets file with --from; a source repository without encryption needs no passphrase (bootstrap.from_backup.encryption: none)"}
	}
	if fi, err := os.Stat(path); err == nil {
		if fj, err := os.Stat(from); err == nil && os.SameFile(fi, fj) {
			return rep, &Error{Path: from, Reason: "is this cluster's own secrets file",
				Remedy: "name the secrets file of the cluster whose backups this one is bootstrapped from with --from"}
		}
	}
	rep.SourceCluster = src.Cluster
	f, err := Lock(path, DefaultLockWait, nil)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	s, lrep, err := f.Load(rnd, want)
	if err != nil {
		return rep, err
	}
	rep.Created = lrep.New
	if s.BackupCipherPass != "" && s.BackupCipherPass == src.BackupCipherPass {
		return rep, &Error{Path: from, Reason: "holds this cluster's own backup passphrase (a copy of its secrets file?)",
			Remedy: "name the secrets file of the cluster whose backups this one is bootstrapped from with --from"}
	}
	switch s.SourceBackupCipherPass {
	case src.BackupCipherPass:
		rep.Unchanged = true
	case "":
	default:
		rep.Replaced = true
	}
	s.SourceBackupCipherPass = src.BackupCipherPass
	if rep.Unchanged && !lrep.Changed() {
		return rep, nil
	}
	if err := f.Save(s); err != nil {
		return ImportReport{}, err
	}
	return rep, nil
}
