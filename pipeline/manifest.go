package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// ManifestFormat is the version of manifest.json's shape.
const ManifestFormat = 1

// Manifest is out/<cluster>/manifest.json: what went in, what came out.
type Manifest struct {
	Format  int    `json:"format"`
	Tool    string `json:"tool"`
	Version string `json:"version"`
	// BuildID is derived from the inputs, so the same inputs give the same id.
	BuildID string `json:"build_id"`
	Cluster string `json:"cluster"`
	OS      string `json:"os"`
	// SourceDateEpoch stamps every output.
	SourceDateEpoch int64 `json:"source_date_epoch"`
	// Inputs are the spec, the secrets file, the keys and the packages, by digest.
	Inputs []Input `json:"inputs"`
	// SignaturesChecked is false when the packages were checked by digest only.
	SignaturesChecked bool           `json:"signatures_checked"`
	Components        rpm.Components `json:"components"`
	Packages          []Package      `json:"packages"`
	// UnresolvedRequires must come from the base OS image.
	UnresolvedRequires []string `json:"unresolved_requires"`
	// SeedWithoutPackages is set when the seeds carry bundles without RPMs.
	SeedWithoutPackages bool `json:"seed_without_packages,omitempty"`
	// Nodes lists every node's payload: owners, groups and secret flags the
	// config tree cannot hold.
	Nodes []NodeManifest `json:"nodes"`
	// Outputs is every file of the build directory but manifest.json and
	// SHA256SUMS, by path relative to it.
	Outputs []payload.Entry `json:"outputs"`
}

// Input is one input of the build by digest.
type Input struct {
	Kind   string `json:"kind"` // spec, secrets, base-provides, key, package
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Package is one verified package carried by the bundles.
type Package struct {
	Filename    string `json:"filename"`
	NEVRA       string `json:"nevra"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Release     string `json:"release"`
	Arch        string `json:"arch"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	Signature   string `json:"signature"`
	KeyID       string `json:"key_id,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// NodeManifest is one node's payload and seed identity.
type NodeManifest struct {
	Name       string          `json:"name"`
	InstanceID string          `json:"instance_id"`
	Files      []payload.Entry `json:"files"`
}

func newManifest(opts *Options, r *Rendered, epoch time.Time) (*Manifest, error) {
	m := &Manifest{
		Format: ManifestFormat, Tool: "pgha-bundle", Version: opts.Version,
		Cluster: r.Spec.Cluster.Name, OS: r.Spec.Cluster.OS, SourceDateEpoch: epoch.Unix(),
		SignaturesChecked:   r.Packages.SignaturesChecked,
		Components:          r.Packages.Components,
		UnresolvedRequires:  append([]string{}, r.Packages.UnresolvedRequires...),
		SeedWithoutPackages: opts.SeedWithoutPackages,
		Packages:            []Package{},
	}
	inputs := []struct{ kind, path string }{{"spec", opts.SpecPath}, {"secrets", r.SecretsPath}}
	if opts.BaseProvides != "" {
		inputs = append(inputs, struct{ kind, path string }{"base-provides", opts.BaseProvides})
	}
	for _, in := range inputs {
		b, err := os.ReadFile(in.path)
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		m.Inputs = append(m.Inputs, Input{Kind: in.kind, Name: filepath.Base(in.path), SHA256: sha256Hex(b)})
	}
	for _, k := range r.Packages.Keys {
		m.Inputs = append(m.Inputs, Input{Kind: "key", Name: k.Name, SHA256: sha256Hex(k.Data)})
	}
	for _, p := range r.Packages.Packages {
		m.Inputs = append(m.Inputs, Input{Kind: "package", Name: p.Filename, SHA256: p.SHA256})
		m.Packages = append(m.Packages, Package{
			Filename: p.Filename, NEVRA: p.NEVRA, Name: p.Name, Version: p.Version, Release: p.Release,
			Arch: p.Arch, SHA256: p.SHA256, Size: p.Size, Signature: p.Signature, KeyID: p.KeyID, Fingerprint: p.Fingerprint,
		})
	}
	id, err := json.Marshal(struct {
		Version string
		Epoch   int64
		Inputs  []Input
		Seed    bool
		Args    []string
	}{opts.Version, m.SourceDateEpoch, m.Inputs, opts.SeedWithoutPackages, opts.InstallArgs})
	if err != nil {
		return nil, err
	}
	m.BuildID = sha256Hex(id)[:16]
	return m, nil
}

// ReadManifest reads out/<cluster>/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	return &m, nil
}
