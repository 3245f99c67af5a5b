// Package manifest is the format of manifest.json, which every build output
// (out/<cluster>/) carries: what went in, what came out. The pipeline writes
// it; diff and inspect read it.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Format is the version of manifest.json's shape.
const Format = 1

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
	Packages          []rpm.Package  `json:"packages"`
	// UnresolvedRequires must come from the base OS image.
	UnresolvedRequires []string `json:"unresolved_requires"`
	// SeedWithoutPackages is set when the seeds carry bundles without RPMs.
	SeedWithoutPackages bool `json:"seed_without_packages,omitempty"`
	// PackagesMedia is the one media carrying the packages for every node,
	// in a build with --packages-media shared.
	PackagesMedia *PackagesMedia `json:"packages_media,omitempty"`
	// Nodes lists every node's payload: owners, groups and secret flags the
	// config tree cannot hold.
	Nodes []Node `json:"nodes"`
	// Outputs is every file of the build directory but manifest.json and
	// SHA256SUMS, by path relative to it.
	Outputs []payload.Entry `json:"outputs"`
}

// PackagesMedia is a shared packages media: its volume label, the sha256 of
// its SHA256SUMS (which every node's bundle and seed pin) and its two forms,
// by path relative to the build directory.
type PackagesMedia struct {
	Label   string `json:"label"`
	SHA256  string `json:"sha256"`
	ISO     string `json:"iso"`
	Tarball string `json:"tarball"`
}

// Input is one input of the build by digest.
type Input struct {
	Kind   string `json:"kind"` // spec, secrets, base-provides, key, package
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Node is one node's payload and seed identity.
type Node struct {
	Name       string          `json:"name"`
	InstanceID string          `json:"instance_id"`
	Files      []payload.Entry `json:"files"`
}

// Read reads out/<cluster>/manifest.json.
func Read(dir string) (*Manifest, error) {
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
