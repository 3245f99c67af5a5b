package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is a secrets file refused as it stands: what is wrong and what to do.
// The file is left as it was.
type Error struct {
	Path string
	// Line is the line of the file the problem is at, or 0.
	Line   int
	Reason string
	Remedy string
	// Err is a sentinel the reason stands for (ErrTooOpen), or nil.
	Err error
}

func (e *Error) Error() string {
	where := e.Path
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.Path, e.Line)
	}
	msg := "secrets " + where + ": " + e.Reason
	if e.Remedy != "" {
		msg += ": " + e.Remedy
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// PrevPath is where the version of a secrets file before its last change is
// kept.
func PrevPath(path string) string { return path + ".prev" }

// LockPath is the file the builds of one secrets file lock (with flock) to
// exclude each other. It is not the secrets file itself, which a change
// replaces by a rename.
func LockPath(path string) string { return path + ".lock" }

// Report says what loading a secrets file did, naming fields and nodes, never
// values.
type Report struct {
	// New is set when there was no secrets file: a new cluster's passwords
	// and CA were generated.
	New bool
	// Filled are the fields an older, well-formed file lacked, now filled.
	Filled []string
	// Issued are the nodes whose certificate was issued or reissued.
	Issued []string
	// Dropped are the nodes no longer in the spec whose certificate was
	// removed.
	Dropped []string
}

// Changed reports whether the file must be written.
func (r Report) Changed() bool {
	return r.New || len(r.Filled) > 0 || len(r.Issued) > 0 || len(r.Dropped) > 0
}

// Want is what a build needs in the secrets file besides the passwords: the
// cluster it is of, and a certificate for each node, valid at Now.
type Want struct {
	Cluster string
	Nodes   []Identity
	Now     time.Time
	// VRRP asks for a vrrp_password: the cluster has a virtual IP.
	VRRP bool
	// Backup asks for a backup_cipher_pass: the cluster's backup
	// repository is encrypted.
	Backup bool
}

// Load reads a secrets file and checks it whole, whatever cluster it is of:
// every password present and usable, the CA and its key matching, every node
// certificate parsing, matching its key and signed by the CA. Anything wrong
// is an *Error; a file that does not exist is an error wrapping
// fs.ErrNotExist.
func Load(path string) (*Secrets, error) {
	s, _, err := read(path)
	return s, err
}

// Preview loads the secrets file at path for want.Cluster and issues in
// memory what a build would (a new or moved node's certificate); it writes,
// creates and locks nothing. A missing file is an error wrapping
// fs.ErrNotExist.
func Preview(path string, rnd io.Reader, want Want) (*Secrets, Report, error) {
	s, _, err := read(path)
	if err != nil {
		return nil, Report{}, err
	}
	return prepare(path, s, rnd, want)
}

// LoadOrCreate locks the secrets file at path, loads it for want (or, when
// there is none, generates a new cluster's), writes what changed and unlocks
// it. A build holds the lock longer: see Lock.
func LoadOrCreate(path string, rnd io.Reader, want Want) (*Secrets, Report, error) {
	f, err := Lock(path, DefaultLockWait, nil)
	if err != nil {
		return nil, Report{}, err
	}
	defer f.Close()
	s, rep, err := f.Load(rnd, want)
	if err != nil {
		return nil, rep, err
	}
	if rep.Changed() {
		if err := f.Save(s); err != nil {
			return nil, rep, err
		}
	}
	return s, rep, nil
}

// prepare checks that s belongs to want.Cluster, fills what an older file
// lacks and issues the node certificates.
func prepare(path string, s *Secrets, rnd io.Reader, want Want) (*Secrets, Report, error) {
	var rep Report
	if err := checkOwner(path, s, want.Cluster); err != nil {
		return nil, rep, err
	}
	if s.Cluster == "" {
		s.Cluster = want.Cluster
		rep.Filled = append(rep.Filled, "cluster")
	}
	if err := s.fillVRRP(rnd, want, &rep); err != nil {
		return nil, rep, fmt.Errorf("secrets %s: %w", path, err)
	}
	if err := s.fillBackup(rnd, want, &rep); err != nil {
		return nil, rep, fmt.Errorf("secrets %s: %w", path, err)
	}
	c, err := s.ensureTLS(rnd, want.Now, want.Cluster, want.Nodes)
	if err != nil {
		return nil, rep, fmt.Errorf("secrets %s: %w", path, err)
	}
	if c.newCA {
		// read refuses a file without a CA: unreachable.
		return nil, rep, &Error{Path: path, Reason: "has no CA", Remedy: restoreRemedy(path)}
	}
	rep.Issued, rep.Dropped = c.issued, c.dropped
	return s, rep, nil
}

// checkOwner refuses the secrets s read from path unless they belong to
// cluster: their cluster field, or for a file written before it existed,
// their CA's name.
func checkOwner(path string, s *Secrets, cluster string) error {
	owner, how := s.Cluster, "its cluster field"
	if owner == "" {
		ca, err := ParseCertificate(s.TLS.CACert)
		if err != nil {
			// read checked the CA: unreachable.
			return &Error{Path: path, Reason: "tls.ca_cert is not a PEM certificate that parses", Remedy: restoreRemedy(path)}
		}
		cn := ca.Subject.CommonName
		if !strings.HasPrefix(cn, caPrefix) || cn == caPrefix {
			return &Error{Path: path,
				Reason: fmt.Sprintf("names no cluster, and its CA's name %q is not one pgha-bundle gives", cn),
				Remedy: fmt.Sprintf("if it is the secrets file of cluster %q, add the line \"cluster: %s\" at its top; otherwise name this cluster's own secrets file with --secrets", cluster, cluster)}
		}
		owner, how = strings.TrimPrefix(cn, caPrefix), fmt.Sprintf("its CA is %q", cn)
	}
	if owner != cluster {
		return &Error{Path: path,
			Reason: fmt.Sprintf("belongs to cluster %q (%s), not to %q, the spec's cluster.name", owner, how, cluster),
			Remedy: fmt.Sprintf("name cluster %q's own secrets file with --secrets (the default is <spec>.secrets.yaml beside the spec); clusters never share a CA or passwords", cluster)}
	}
	return nil
}

// read loads path and checks it whole. It returns the bytes read too.
func read(path string) (*Secrets, []byte, error) {
	if err := statCheck(path); err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("secrets %s: %w", path, unwrapPath(err))
	}
	s, line, reason := parse(data)
	if reason != "" {
		return nil, data, &Error{Path: path, Line: line, Reason: reason, Remedy: restoreRemedy(path)}
	}
	return s, data, nil
}

// statCheck refuses, from its metadata alone, a path that cannot be a
// usable secrets file.
func statCheck(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secrets %s: %w", path, unwrapPath(err))
	}
	switch {
	case fi.IsDir():
		return &Error{Path: path, Reason: "is a directory, not a secrets file",
			Remedy: "name the secrets file itself, e.g. --secrets " + filepath.Join(path, "cluster.secrets.yaml")}
	case !fi.Mode().IsRegular():
		return &Error{Path: path, Reason: "is not a regular file", Remedy: "name the secrets file itself with --secrets"}
	case fi.Mode().Perm()&0o077 != 0:
		return &Error{Path: path, Reason: ErrTooOpen.Error(), Remedy: "run chmod 0600 on it", Err: ErrTooOpen}
	case fi.Size() > maxSize:
		return &Error{Path: path, Reason: fmt.Sprintf("is %d bytes, far more than a secrets file holds", fi.Size()),
			Remedy: "name the secrets file itself with --secrets"}
	}
	return nil
}

// maxSize bounds what is read as a secrets file: one of a hundred nodes is
// about 150 kB.
const maxSize = 16 << 20

// unwrapPath drops the operation and path of an *fs.PathError, which the
// caller names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// restoreRemedy says what to do with a damaged file: restore the kept
// previous version when it checks out, or the backup.
func restoreRemedy(path string) string {
	prev := PrevPath(path)
	const never = "; a build never makes new secrets for an existing cluster (a new CA or password locks the running members out)"
	if _, err := os.Lstat(prev); err != nil {
		return "restore it from your backup (no previous version is kept at " + prev + ")" + never
	}
	if !checksOut(prev) {
		return "restore it from your backup (the previous version kept at " + prev + " is damaged too)" + never
	}
	return fmt.Sprintf("restore the previous version kept at %s (cp -p %s %s) or your backup", prev, prev, path) + never
}

// checksOut reports whether path is a secrets file that Load would accept.
func checksOut(path string) bool {
	if statCheck(path) != nil {
		return false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	_, _, reason := parse(data)
	return reason == ""
}

// keys lists the keys of the file in the order they are written.
var keys = []string{"cluster", "superuser_password", "replication_password", "rewind_password",
	"restapi_password", "haproxy_stats_password", "vrrp_password", "backup_cipher_pass", "source_backup_cipher_pass", "tls"}

// parse checks data whole and returns the secrets, or the line and reason of
// the first problem. Reasons name keys and YAML kinds, never values nor Go
// types.
func parse(data []byte) (*Secrets, int, string) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, 0, "is empty"
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, "holds no secrets (only comments)"
		}
		return nil, 0, "is not valid YAML (" + strings.TrimPrefix(err.Error(), "yaml: ") + ")"
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, more.Line, "holds a second YAML document (---): a secrets file is one"
	} else if !errors.Is(err, io.EOF) {
		return nil, 0, "is not valid YAML (" + strings.TrimPrefix(err.Error(), "yaml: ") + ")"
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, 0, "holds no secrets"
	}
	if root.Kind != yaml.MappingNode {
		return nil, root.Line, "is not a mapping of keys (" + strings.Join(keys, ", ") + ") but " + kind(root)
	}
	s := &Secrets{}
	lines := map[string]int{}
	p := eachKey(root, "", lines, func(key string, k, v *yaml.Node) *problem {
		switch key {
		case "cluster":
			return text(k, v, key, &s.Cluster)
		case "tls":
			return parseTLS(k, v, &s.TLS, lines)
		case "vrrp_password":
			return text(k, v, key, &s.VRRPPassword)
		case "backup_cipher_pass":
			return text(k, v, key, &s.BackupCipherPass)
		case "source_backup_cipher_pass":
			return text(k, v, key, &s.SourceBackupCipherPass)
		}
		for _, f := range s.fields() {
			if f.key == key {
				return text(k, v, key, f.v)
			}
		}
		return &problem{k.Line, fmt.Sprintf("unknown key %q: a secrets file holds %s", key, strings.Join(keys, ", "))}
	})
	if p != nil {
		return nil, p.line, p.reason
	}
	line, reason := check(s, lines)
	if reason != "" {
		return nil, line, reason
	}
	return s, 0, ""
}

type problem struct {
	line   int
	reason string
}

// text stores the text value v of key (nothing for an empty value).
func text(k, v *yaml.Node, key string, dst *string) *problem {
	if v.Kind != yaml.ScalarNode {
		return &problem{k.Line, key + " must be text, found " + kind(v)}
	}
	if v.Tag != "!!null" {
		*dst = v.Value
	}
	return nil
}

// eachKey calls fn for every key of the mapping n and records its line under
// prefix+key; it refuses aliases, keys that are not text and keys given
// twice.
func eachKey(n *yaml.Node, prefix string, lines map[string]int, fn func(key string, k, v *yaml.Node) *problem) *problem {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return &problem{k.Line, "a key of " + orTop(prefix) + " is " + kind(k) + ", not text"}
		}
		path := prefix + k.Value
		if _, dup := lines[path]; dup {
			return &problem{k.Line, path + " is given twice"}
		}
		lines[path] = k.Line
		if v.Kind == yaml.AliasNode || k.Value == "<<" {
			return &problem{k.Line, path + " uses a YAML alias or merge: a secrets file spells every value out"}
		}
		if p := fn(k.Value, k, v); p != nil {
			return p
		}
	}
	return nil
}

func orTop(prefix string) string {
	if prefix == "" {
		return "the file"
	}
	return strings.TrimSuffix(prefix, ".")
}

// kind names a YAML node's kind for messages.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return "text"
	}
	return "something else"
}

func parseTLS(k, v *yaml.Node, t *TLS, lines map[string]int) *problem {
	if v.Kind != yaml.MappingNode {
		return &problem{k.Line, "tls must be a mapping (ca_cert, ca_key, nodes), found " + kind(v)}
	}
	return eachKey(v, "tls.", lines, func(key string, k, v *yaml.Node) *problem {
		switch key {
		case "ca_cert":
			return text(k, v, "tls.ca_cert", &t.CACert)
		case "ca_key":
			return text(k, v, "tls.ca_key", &t.CAKey)
		case "nodes":
			if v.Kind != yaml.MappingNode {
				return &problem{k.Line, "tls.nodes must map each node's name to its cert and key, found " + kind(v)}
			}
			t.Nodes = map[string]NodeCert{}
			return eachKey(v, "tls.nodes.", lines, func(node string, k, v *yaml.Node) *problem {
				at := "tls.nodes." + node
				if v.Kind != yaml.MappingNode {
					return &problem{k.Line, at + " must be a mapping (cert, key), found " + kind(v)}
				}
				var nc NodeCert
				p := eachKey(v, at+".", lines, func(key string, k, v *yaml.Node) *problem {
					switch key {
					case "cert":
						return text(k, v, at+".cert", &nc.Cert)
					case "key":
						return text(k, v, at+".key", &nc.Key)
					}
					return &problem{k.Line, fmt.Sprintf("unknown key %q in %s: a node has cert and key", key, at)}
				})
				t.Nodes[node] = nc
				return p
			})
		}
		return &problem{k.Line, fmt.Sprintf("unknown key %q in tls: it holds ca_cert, ca_key and nodes", key)}
	})
}

// check is the content of a well-formed file: every password, the CA and
// every node certificate. It returns the line and reason of the first
// problem, or 0 and "".
func check(s *Secrets, lines map[string]int) (int, string) {
	var missing []string
	for _, f := range s.fields() {
		if f.String() == "" {
			missing = append(missing, f.key)
		}
	}
	if s.TLS.CACert == "" {
		missing = append(missing, "tls.ca_cert")
	}
	if s.TLS.CAKey == "" {
		missing = append(missing, "tls.ca_key")
	}
	if len(missing) == len(s.fields())+2 && s.Cluster == "" && len(s.TLS.Nodes) == 0 {
		return 0, "holds no secrets"
	}
	if len(missing) > 0 {
		return 0, "lacks " + strings.Join(missing, ", ") + ", which every secrets file has: it is truncated or damaged"
	}
	for _, f := range s.fields() {
		if err := validPassword(f.key, f.String()); err != nil {
			return lines[f.key], err.Error()
		}
	}
	if s.VRRPPassword != "" {
		if err := validPassword("vrrp_password", s.VRRPPassword); err != nil {
			return lines["vrrp_password"], err.Error()
		}
	}
	if s.BackupCipherPass != "" {
		if err := validPassword("backup_cipher_pass", s.BackupCipherPass); err != nil {
			return lines["backup_cipher_pass"], err.Error()
		}
	}
	if s.SourceBackupCipherPass != "" {
		if err := validPassword("source_backup_cipher_pass", s.SourceBackupCipherPass); err != nil {
			return lines["source_backup_cipher_pass"], err.Error()
		}
	}
	if _, _, err := s.TLS.ca(); err != nil {
		line := lines["tls.ca_cert"]
		if strings.HasPrefix(err.Error(), "tls.ca_key") {
			line = lines["tls.ca_key"]
		}
		return line, err.Error()
	}
	for _, name := range sorted(slices.Collect(maps.Keys(s.TLS.Nodes))) {
		nc := s.TLS.Nodes[name]
		at := "tls.nodes." + name
		if nc.Cert == "" || nc.Key == "" {
			return lines[at], at + " lacks its cert or key: it is truncated or damaged"
		}
		cert, err := ParseCertificate(nc.Cert)
		if err != nil {
			return lines[at+".cert"], at + ".cert is not a PEM certificate that parses"
		}
		key, err := ParsePrivateKey(nc.Key)
		if err != nil {
			return lines[at+".key"], at + ".key is not a PEM PKCS #8 private key that parses"
		}
		if !SamePublicKey(cert.PublicKey, key.Public()) {
			return lines[at+".key"], at + ".key is not the key of " + at + ".cert"
		}
		// A certificate the CA did not sign is reissued, as one whose names
		// no longer fit: it is not a secret of the cluster.
	}
	return 0, ""
}

// DefaultLockWait is how long a build waits for another build of the same
// secrets file before it gives up.
const DefaultLockWait = 2 * time.Minute

// File is a secrets file held under its lock: no other build reads or writes
// it until Close. Builds hold it from before they read the secrets until their
// output is in place, so two builds of a new cluster never make two CAs.
type File struct {
	path string
	lock *os.File
	// loaded is set by Load; read is what it read (nil: no file).
	loaded bool
	read   []byte
}

// Lock takes the lock of the secrets file at path (LockPath, beside it),
// waiting up to wait for another build that holds it; logf, when not nil,
// says that it waits. A path that is a symbolic link stands for its target.
// It refuses a path that is not a usable file (a directory, a file group or
// others can read, …) or whose directory does not exist before creating
// anything.
func Lock(path string, wait time.Duration, logf func(format string, args ...any)) (*File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return nil, &Error{Path: path, Reason: "is a symbolic link to a file that does not exist",
				Remedy: "restore the file it points to from its previous version or your backup, or name the secrets file with --secrets"}
		}
		path = real
	}
	if err := statCheck(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, &Error{Path: path, Reason: "its directory " + dir + " does not exist or is not a directory",
			Remedy: "create it, or name another secrets file with --secrets"}
	}
	lockPath := LockPath(path)
	lf, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secrets %s: lock: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for waited := false; ; waited = true {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			lf.Close()
			return nil, fmt.Errorf("secrets %s: lock %s: %w", path, lockPath, err)
		}
		if !waited && logf != nil {
			logf("==> waiting for another build of %s (it holds %s), up to %s", path, lockPath, wait)
		}
		if time.Now().After(deadline) {
			lf.Close()
			return nil, &Error{Path: path, Reason: "another build of it is running (it holds " + lockPath + ")",
				Remedy: fmt.Sprintf("waited %s; run this build again when that one has finished", wait)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := &File{path: path, lock: lf}
	f.removeStaleTemporaries()
	return f, nil
}

// Path is the secrets file's path (a symbolic link's target).
func (f *File) Path() string { return f.path }

// Close releases the lock. It may be called more than once, and on nil.
func (f *File) Close() error {
	if f == nil || f.lock == nil {
		return nil
	}
	err := f.lock.Close() // closing the descriptor releases the flock
	f.lock = nil
	return err
}

// Load reads the locked secrets file and checks it whole for want.Cluster.
// When there is no file, it generates a new cluster's secrets (Report.New);
// when a previous version is kept beside a missing file, it refuses instead.
// Fields an older, well-formed file lacks are filled (Report.Filled). Nothing
// is written: Save does.
func (f *File) Load(rnd io.Reader, want Want) (*Secrets, Report, error) {
	s, data, err := read(f.path)
	f.loaded, f.read = err == nil, data
	if errors.Is(err, fs.ErrNotExist) {
		f.loaded = true
		prev := PrevPath(f.path)
		if _, perr := os.Lstat(prev); perr == nil {
			return nil, Report{}, &Error{Path: f.path, Reason: "does not exist, but its previous version is kept at " + prev,
				Remedy: fmt.Sprintf("restore it (cp -p %s %s) or your backup; to start a new cluster instead, move %s away first", prev, f.path, prev)}
		}
		s, err := New(rnd)
		if err != nil {
			return nil, Report{}, fmt.Errorf("secrets %s: %w", f.path, err)
		}
		s.Cluster = want.Cluster
		c, err := s.ensureTLS(rnd, want.Now, want.Cluster, want.Nodes)
		if err != nil {
			return nil, Report{}, fmt.Errorf("secrets %s: %w", f.path, err)
		}
		if err := s.fillVRRP(rnd, want, &Report{}); err != nil {
			return nil, Report{}, fmt.Errorf("secrets %s: %w", f.path, err)
		}
		if err := s.fillBackup(rnd, want, &Report{}); err != nil {
			return nil, Report{}, fmt.Errorf("secrets %s: %w", f.path, err)
		}
		return s, Report{New: true, Issued: c.issued}, nil
	}
	if err != nil {
		return nil, Report{}, err
	}
	return prepare(f.path, s, rnd, want)
}

// Save writes s to the locked file atomically: a temporary file beside it
// (0600, fsync'ed), the current version copied to PrevPath the same way, a
// rename over the file, and an fsync of the directory. At every moment the
// file is either the old version or the new one, and the old one stays
// recoverable beside it.
func (f *File) Save(s *Secrets) error {
	if f.lock == nil {
		return fmt.Errorf("secrets %s: saved without its lock", f.path)
	}
	body, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Errorf("secrets %s: %w", f.path, err)
	}
	next := append([]byte(header), body...)
	cur, err := os.ReadFile(f.path)
	if f.loaded && (!bytes.Equal(cur, f.read) || (cur == nil) != (f.read == nil)) {
		// Builds exclude each other: this is a hand edit or another tool.
		return &Error{Path: f.path, Reason: "changed while this build held its lock",
			Remedy: "nothing was written; check the file, then run the build again"}
	}
	switch {
	case err == nil:
		if bytes.Equal(cur, next) {
			return nil
		}
		if err := writeAtomic(PrevPath(f.path), cur); err != nil {
			return fmt.Errorf("secrets %s: keep the previous version: %w", f.path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("secrets %s: %w", f.path, unwrapPath(err))
	}
	if err := writeAtomic(f.path, next); err != nil {
		return fmt.Errorf("secrets %s: %w", f.path, err)
	}
	return nil
}

// writeAtomic replaces path by data (mode 0600) through a temporary file
// beside it, fsync'ed, renamed, and an fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return unwrapPath(err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return unwrapPath(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// tempPrefix starts the temporary files of path's writes: hidden, and named
// after the file so the next lock holder can remove what an interrupted write
// left (they hold secrets).
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

func (f *File) removeStaleTemporaries() {
	for _, p := range []string{f.path, PrevPath(f.path)} {
		stale, _ := filepath.Glob(filepath.Join(filepath.Dir(p), globEscape(tempPrefix(p))+"*"))
		for _, t := range stale {
			_ = os.Remove(t)
		}
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}
