// Package secrets holds the cluster's generated passwords, its CA and the
// node certificates. They are made once with crypto/rand, when a cluster's
// secrets file does not exist yet, kept in that file with mode 0600, reused by
// every later build (so rebuilds diff clean), and never printed. A file that
// exists is checked whole and refused when anything is wrong with it: it is
// never replaced by new secrets (file.go).
package secrets

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// Secrets is every password the cluster uses. Field names are stable: they are
// the keys of the secrets file.
type Secrets struct {
	// Cluster is the name of the cluster the secrets belong to. Files
	// written before it existed are recognised by their CA's name.
	Cluster              string `yaml:"cluster,omitempty"`
	SuperuserPassword    string `yaml:"superuser_password"`
	ReplicationPassword  string `yaml:"replication_password"`
	RewindPassword       string `yaml:"rewind_password"`
	RestAPIPassword      string `yaml:"restapi_password"`
	HAProxyStatsPassword string `yaml:"haproxy_stats_password"`
	// VRRPPassword authenticates keepalived's VRRP advertisements; only
	// clusters with a virtual IP have one (vrrp.go).
	VRRPPassword string `yaml:"vrrp_password,omitempty"`
	// BackupCipherPass is the passphrase of the encrypted backup
	// repository (pgBackRest's repo1-cipher-pass); only clusters with an
	// encrypted backup section have one (backup.go). The backups cannot
	// be read without it.
	BackupCipherPass string `yaml:"backup_cipher_pass,omitempty"`
	// SourceBackupCipherPass is the passphrase of another cluster's
	// encrypted repository that this cluster was bootstrapped from
	// (bootstrap.from_backup), imported from that cluster's secrets file
	// by ImportBackupPassphrase; only such clusters have one.
	SourceBackupCipherPass string `yaml:"source_backup_cipher_pass,omitempty"`
	TLS                    TLS    `yaml:"tls,omitempty"`
}

const header = "# pgha-bundle cluster secrets: generated once, reused by every build.\n" +
	"# Keep this file private (mode 0600) and backed up: the running cluster trusts this CA and uses these\n" +
	"# passwords, and no build can make them again. Each change keeps the previous version in <file>.prev.\n"

// passwordAlphabet avoids characters that need quoting in YAML, pg_hba, libpq
// connection strings or HAProxy's config.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

const passwordLength = 32

// ErrTooOpen is returned (wrapped in an *Error) for a secrets file that group
// or others can read.
var ErrTooOpen = errors.New("is readable by group or others")

// New generates every secret from rnd (crypto/rand.Reader outside tests).
func New(rnd io.Reader) (*Secrets, error) {
	s := &Secrets{}
	if _, err := s.FillMissing(rnd); err != nil {
		return nil, err
	}
	return s, nil
}

// FillMissing generates the secrets that are empty, so a file from an older
// version gains new secrets without rotating the existing ones. It reports
// whether anything was added.
func (s *Secrets) FillMissing(rnd io.Reader) (bool, error) {
	added := false
	for _, f := range s.fields() {
		if f.String() != "" {
			continue
		}
		p, err := password(rnd)
		if err != nil {
			return false, err
		}
		f.SetString(p)
		added = true
	}
	return added, nil
}

// Values returns every secret value, for redaction: the passwords, then the
// CA's key and the node keys (PEM) in node order.
func (s *Secrets) Values() []string {
	var out []string
	for _, f := range s.fields() {
		if f.String() != "" {
			out = append(out, f.String())
		}
	}
	if s.VRRPPassword != "" {
		out = append(out, s.VRRPPassword, s.VRRPAuthPass())
	}
	if s.BackupCipherPass != "" {
		out = append(out, s.BackupCipherPass)
	}
	if s.SourceBackupCipherPass != "" {
		out = append(out, s.SourceBackupCipherPass)
	}
	if s.TLS.CAKey != "" {
		out = append(out, s.TLS.CAKey)
	}
	for _, name := range sorted(slices.Collect(maps.Keys(s.TLS.Nodes))) {
		if k := s.TLS.Nodes[name].Key; k != "" {
			out = append(out, k)
		}
	}
	return out
}

// passwordField is one password field of the secrets: its key in the file and
// its value.
type passwordField struct {
	key string
	v   *string
}

func (f passwordField) String() string     { return *f.v }
func (f passwordField) SetString(v string) { *f.v = v }

// fields lists the password fields in file order, by their own key.
func (s *Secrets) fields() []passwordField {
	return []passwordField{
		{"superuser_password", &s.SuperuserPassword},
		{"replication_password", &s.ReplicationPassword},
		{"rewind_password", &s.RewindPassword},
		{"restapi_password", &s.RestAPIPassword},
		{"haproxy_stats_password", &s.HAProxyStatsPassword},
	}
}

// Validate rejects passwords that cannot be used safely in the rendered
// configs. It names the field, never the value.
func (s *Secrets) Validate() error {
	for _, f := range s.fields() {
		if err := validPassword(f.key, f.String()); err != nil {
			return err
		}
	}
	if s.VRRPPassword != "" {
		if err := validPassword("vrrp_password", s.VRRPPassword); err != nil {
			return err
		}
	}
	if s.BackupCipherPass != "" {
		if err := validPassword("backup_cipher_pass", s.BackupCipherPass); err != nil {
			return err
		}
	}
	if s.SourceBackupCipherPass != "" {
		return validPassword("source_backup_cipher_pass", s.SourceBackupCipherPass)
	}
	return nil
}

func validPassword(key, v string) error {
	if len(v) < 16 {
		return fmt.Errorf("%s is shorter than 16 characters", key)
	}
	for _, r := range v {
		if r <= ' ' || r > '~' || r == '\'' || r == '"' || r == '\\' || r == '#' || r == ':' {
			return fmt.Errorf("%s holds a character that needs quoting (a space, a quote, a backslash, # or :, or one outside printable ASCII)", key)
		}
	}
	return nil
}

func password(rnd io.Reader) (string, error) {
	// Rejection sampling keeps every character equally likely.
	const limit = 256 - 256%len(passwordAlphabet)
	out := make([]byte, 0, passwordLength)
	buf := make([]byte, 64)
	for len(out) < passwordLength {
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < passwordLength {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out), nil
}

// Reader is crypto/rand's reader, named here so callers need not import it.
var Reader io.Reader = rand.Reader
