package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// Rotatable names the passwords Rotate makes anew, in the order it reports
// them: the database roles Patroni uses, the REST API's and HAProxy's stats
// page's.
var Rotatable = []string{"superuser", "replication", "rewind", "restapi", "haproxy_stats"}

// ErrCARotation is returned for a request to rotate the CA: a new CA is a
// change of trust on every member at once (old and new side by side), which
// neither a build nor a rolling upgrade makes.
var ErrCARotation = errors.New("the cluster's CA is never rotated by pgha-bundle: a new CA is a change of trust on every member at once (etcd peers, Patroni, HAProxy), which a rolling upgrade cannot make; reissue node certificates with --node-cert instead")

// ErrNotRotatable is returned (wrapped) for a secret name Rotate does not
// take.
var ErrNotRotatable = errors.New("cannot be rotated")

// Rotation is what to make anew in a cluster's secrets file.
type Rotation struct {
	// Cluster is the spec's cluster.name: the file must belong to it.
	Cluster string
	// Passwords are names of Rotatable.
	Passwords []string
	// Nodes are the identities of the nodes whose certificate is reissued
	// from the cluster's CA, valid from Now.
	Nodes []Identity
	Now   time.Time
}

// RotateReport names what Rotate changed, never a value.
type RotateReport struct {
	// Passwords are the names (Rotatable) of the passwords made anew.
	Passwords []string
	// Certificates are the nodes whose certificate was reissued.
	Certificates []string
}

// CheckRotatable refuses names that are not in Rotatable, saying why for
// the CA and the backup passphrase.
func CheckRotatable(names []string) error {
	for _, n := range names {
		switch n {
		case "ca", "ca_cert", "ca_key", "tls":
			return fmt.Errorf("%s: %w", n, ErrCARotation)
		case "backup_cipher_pass", "backup":
			return fmt.Errorf("%s %w: the backups made with it could not be read with another (pgBackRest's repository passphrase is set once)", n, ErrNotRotatable)
		}
		if !slices.Contains(Rotatable, n) {
			return fmt.Errorf("%q is not a secret that can be rotated (%w): name one of %s", n, ErrNotRotatable, strings.Join(Rotatable, ", "))
		}
	}
	return nil
}

// Rotate makes anew, in the existing secrets file at path, the passwords and
// node certificates r names, under the file's lock, and writes the file the
// safe way (Save: atomic, 0600, the previous version kept at PrevPath). It
// refuses a file that does not exist, is damaged or belongs to another
// cluster, and leaves it unchanged then. Nothing else in the file changes.
func Rotate(path string, rnd io.Reader, r Rotation) (RotateReport, error) {
	var rep RotateReport
	if err := CheckRotatable(r.Passwords); err != nil {
		return rep, err
	}
	f, err := Lock(path, DefaultLockWait, nil)
	if err != nil {
		return rep, err
	}
	defer f.Close()
	s, data, err := read(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, &Error{Path: f.path, Reason: "does not exist: there is nothing to rotate",
			Remedy: "name the cluster's secrets file with --secrets (a build creates it)"}
	}
	if err != nil {
		return rep, err
	}
	f.loaded, f.read = true, data
	if err := checkOwner(f.path, s, r.Cluster); err != nil {
		return rep, err
	}
	if rep.Passwords, err = s.rotatePasswords(rnd, r.Passwords); err != nil {
		return rep, fmt.Errorf("secrets %s: %w", f.path, err)
	}
	if rep.Certificates, err = s.reissue(rnd, r.Now, r.Nodes); err != nil {
		return rep, fmt.Errorf("secrets %s: %w", f.path, err)
	}
	if err := f.Save(s); err != nil {
		return RotateReport{}, err
	}
	return rep, nil
}

// rotatePasswords gives each named password a new value, never its old one,
// and returns the names in Rotatable's order.
func (s *Secrets) rotatePasswords(rnd io.Reader, names []string) ([]string, error) {
	fields := s.fields()
	var done []string
	for i, name := range Rotatable {
		if !slices.Contains(names, name) {
			continue
		}
		f := fields[i]
		for {
			p, err := password(rnd)
			if err != nil {
				return nil, err
			}
			if p != f.String() {
				f.SetString(p)
				break
			}
		}
		done = append(done, name)
	}
	return done, nil
}

// reissue issues a new certificate and key from the cluster's CA to each
// identity; a node the file holds no certificate for is refused (a build
// issues those).
func (s *Secrets) reissue(rnd io.Reader, now time.Time, ids []Identity) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ca, caKey, err := s.TLS.ca()
	if err != nil {
		return nil, err
	}
	var done []string
	for _, id := range ids {
		if _, ok := s.NodeCertificate(id.Name); !ok {
			return nil, fmt.Errorf("node %s has no certificate to reissue: a build issues it", id.Name)
		}
		nc, err := issue(rnd, now, ca, caKey, id)
		if err != nil {
			return nil, fmt.Errorf("certificate of %s: %w", id.Name, err)
		}
		s.TLS.Nodes[id.Name] = nc
		done = append(done, id.Name)
	}
	return done, nil
}
