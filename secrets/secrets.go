// Package secrets holds the cluster's generated passwords. They are made once
// with crypto/rand, kept in one file with mode 0600 that every later build
// reuses (so rebuilds diff clean), and never printed.
package secrets

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Secrets is every password the cluster uses. Field names are stable: they are
// the keys of the secrets file.
type Secrets struct {
	SuperuserPassword    string `yaml:"superuser_password"`
	ReplicationPassword  string `yaml:"replication_password"`
	RewindPassword       string `yaml:"rewind_password"`
	RestAPIPassword      string `yaml:"restapi_password"`
	HAProxyStatsPassword string `yaml:"haproxy_stats_password"`
	TLS                  TLS    `yaml:"tls,omitempty"`
}

const header = "# pgha-bundle cluster secrets: generated once, reused by every build.\n" +
	"# Keep this file private (mode 0600) and backed up; losing it rotates every password and the cluster's CA.\n"

// passwordAlphabet avoids characters that need quoting in YAML, pg_hba, libpq
// connection strings or HAProxy's config.
const passwordAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"

const passwordLength = 32

// ErrTooOpen is returned for a secrets file that group or others can read.
var ErrTooOpen = errors.New("is readable by group or others: run chmod 0600 on it")

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
// its settable value.
type passwordField struct {
	key string
	reflect.Value
}

// fields lists the password fields (every string field), by their own key.
func (s *Secrets) fields() []passwordField {
	v := reflect.ValueOf(s).Elem()
	var out []passwordField
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			out = append(out, passwordField{v.Type().Field(i).Tag.Get("yaml"), f})
		}
	}
	return out
}

// Validate rejects values that cannot be used safely in the rendered configs.
func (s *Secrets) Validate() error {
	for _, f := range s.fields() {
		key, v := f.key, f.String()
		if len(v) < 16 {
			return fmt.Errorf("%s is shorter than 16 characters: remove it from the file to have a new one generated", key)
		}
		for _, r := range v {
			if r <= ' ' || r > '~' || r == '\'' || r == '"' || r == '\\' || r == '#' || r == ':' {
				return fmt.Errorf("%s holds a character that needs quoting (%q): remove it from the file to have a new one generated", key, r)
			}
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

// Load reads a secrets file, refusing one that group or others can read.
func Load(path string) (*Secrets, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets %s %w", path, ErrTooOpen)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets %s: %w", path, err)
	}
	var s Secrets
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("secrets %s: %w", path, err)
	}
	return &s, nil
}

// LoadOrCreate loads the secrets file at path, generating it (or what it
// lacks: passwords, the CA, node certificates) with rnd. It reports whether
// the file was written.
func LoadOrCreate(path string, rnd io.Reader, want Want) (*Secrets, bool, error) {
	s, err := Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s = &Secrets{}
	case err != nil:
		return nil, false, err
	}
	added, err := s.FillMissing(rnd)
	if err != nil {
		return nil, false, err
	}
	if err := s.Validate(); err != nil {
		return nil, false, fmt.Errorf("secrets %s: %w", path, err)
	}
	issued, err := s.EnsureTLS(rnd, want.Now, want.Cluster, want.Nodes)
	if err != nil {
		return nil, false, fmt.Errorf("secrets %s: %w", path, err)
	}
	if added || issued {
		if err := s.Save(path); err != nil {
			return nil, false, err
		}
	}
	return s, added || issued, nil
}

// Want is what a build needs in the secrets file besides the passwords: a
// certificate for each node of the cluster, valid at Now.
type Want struct {
	Cluster string
	Nodes   []Identity
	Now     time.Time
}

// Save writes the file with mode 0600 through a temporary file and a rename,
// so an interrupted write never leaves half a secrets file.
func (s *Secrets) Save(path string) error {
	body, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	if _, err := tmp.Write(append([]byte(header), body...)); err != nil {
		tmp.Close()
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("secrets %s: %w", path, err)
	}
	return nil
}

// Reader is crypto/rand's reader, named here so callers need not import it.
var Reader io.Reader = rand.Reader
