package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Manifest is manifest.json: what the bundle is and holds. diff and inspect
// read it (through Read) to show a bundle without extracting it.
type Manifest struct {
	Format     int             `json:"format"`
	Cluster    string          `json:"cluster"`
	Node       string          `json:"node"`
	BuildID    string          `json:"build_id"`
	Components []Component     `json:"components"`
	Files      []ManifestFile  `json:"files"`
	Packages   []ManifestRPM   `json:"packages"`
	Keys       []ManifestKey   `json:"keys"`
	Scripts    []ManifestEntry `json:"scripts"`
}

// Component is one of postgresql, patroni, etcd, haproxy: the package that
// provides it (empty when preinstalled) and its version.
type Component struct {
	Name    string `json:"name"`
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
}

// ManifestFile is one payload file. diff and inspect hide the secret spans
// of a secret file, or all of it when it has none (an older bundle).
type ManifestFile struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"` // octal, e.g. "0600"
	Owner  string `json:"owner"`
	Group  string `json:"group"`
	SHA256 string `json:"sha256"`
	Secret bool   `json:"secret,omitempty"`
	// SecretSpans are the byte ranges [start, end) of the secret values
	// (payload.File.Spans).
	SecretSpans []payload.Span `json:"secret_spans,omitempty"`
}

// ManifestRPM is one package in packages/.
type ManifestRPM struct {
	Name     string `json:"name"`
	NEVRA    string `json:"nevra"`
	Filename string `json:"filename"`
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
}

// ManifestKey is one public key in packages/keys/.
type ManifestKey struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// ManifestEntry is a bundle file by name and digest.
type ManifestEntry struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

func components(c rpm.Components) []Component {
	return []Component{
		{Name: "etcd", Package: c.Etcd.Package, Version: c.Etcd.Version},
		{Name: "haproxy", Package: c.HAProxy.Package, Version: c.HAProxy.Version},
		{Name: "patroni", Package: c.Patroni.Package, Version: c.Patroni.Version},
		{Name: "postgresql", Package: c.PostgreSQL.Package, Version: c.PostgreSQL.Version},
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// manifest builds manifest.json's model from a validated input.
func manifest(in *Input, scripts []ManifestEntry) Manifest {
	m := Manifest{
		Format: Format, Cluster: in.Cluster, Node: in.Node, BuildID: in.BuildID,
		Components: components(in.Components),
		Files:      []ManifestFile{}, Packages: []ManifestRPM{}, Keys: []ManifestKey{},
		Scripts: scripts,
	}
	for _, f := range in.Payload.Files {
		m.Files = append(m.Files, ManifestFile{
			Path: f.Path, Mode: fmt.Sprintf("%04o", uint32(f.Mode)&0o7777),
			Owner: f.Owner, Group: f.Group, SHA256: sum(f.Content), Secret: f.Secret,
			SecretSpans: f.Spans,
		})
	}
	for _, p := range sortedPackages(in.Packages) {
		m.Packages = append(m.Packages, ManifestRPM{Name: p.Name, NEVRA: p.NEVRA, Filename: p.Filename, SHA256: p.SHA256, Size: p.Size})
	}
	for _, k := range sortedKeys(in.Keys) {
		m.Keys = append(m.Keys, ManifestKey{Name: k.Name, SHA256: sum(k.Data)})
	}
	return m
}

func (m *Manifest) encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	return buf.Bytes(), nil
}

// filesList is FILES: "MODE OWNER GROUP SHA256 PATH" per payload file, the
// format the scripts read with `read -r`.
func filesList(m *Manifest) []byte {
	var b strings.Builder
	for _, f := range m.Files {
		fmt.Fprintf(&b, "%s %s %s %s %s\n", f.Mode, f.Owner, f.Group, f.SHA256, f.Path)
	}
	return []byte(b.String())
}

// packagesList is PACKAGES: "NAME NEVRA FILENAME" per RPM.
func packagesList(m *Manifest) []byte {
	var b strings.Builder
	for _, p := range m.Packages {
		fmt.Fprintf(&b, "%s %s %s\n", p.Name, p.NEVRA, p.Filename)
	}
	return []byte(b.String())
}

// bundleEnv is bundle.env, sourced by the scripts.
func bundleEnv(m *Manifest) []byte {
	return []byte(fmt.Sprintf("PGHA_BUNDLE_FORMAT='%d'\nPGHA_BUNDLE_ID='%s'\nPGHA_BUNDLE_CLUSTER='%s'\nPGHA_BUNDLE_NODE='%s'\n",
		m.Format, m.BuildID, m.Cluster, m.Node))
}
