package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pgha-bundle/pgha-bundle/manifest"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

func newManifest(opts *Options, r *Rendered, epoch time.Time) (*manifest.Manifest, error) {
	m := &manifest.Manifest{
		Format: manifest.Format, Tool: "pgha-bundle", Version: opts.Version,
		Cluster: r.Spec.Cluster.Name, OS: r.Spec.Cluster.OS, SourceDateEpoch: epoch.Unix(),
		SignaturesChecked:   r.Packages.SignaturesChecked,
		Components:          r.Packages.Components,
		UnresolvedRequires:  append([]string{}, r.Packages.UnresolvedRequires...),
		SeedWithoutPackages: opts.SeedWithoutPackages,
		Packages:            []rpm.Package{},
	}
	inputs := []struct{ kind, path string }{{"spec", opts.SpecPath}, {"secrets", r.SecretsPath}}
	if opts.BaseProvides != "" {
		inputs = append(inputs, struct{ kind, path string }{"base-provides", opts.BaseProvides})
	}
	for i, in := range inputs {
		b := opts.SpecData
		if i > 0 || b == nil {
			var err error
			if b, err = os.ReadFile(in.path); err != nil {
				return nil, fmt.Errorf("manifest: %w", err)
			}
		}
		m.Inputs = append(m.Inputs, manifest.Input{Kind: in.kind, Name: filepath.Base(in.path), SHA256: payload.SHA256Hex(b)})
	}
	for _, k := range r.Packages.Keys {
		m.Inputs = append(m.Inputs, manifest.Input{Kind: "key", Name: k.Name, SHA256: payload.SHA256Hex(k.Data)})
	}
	for _, p := range r.Packages.Packages {
		m.Inputs = append(m.Inputs, manifest.Input{Kind: "package", Name: p.Filename, SHA256: p.SHA256})
		m.Packages = append(m.Packages, p)
	}
	id, err := json.Marshal(struct {
		Version string
		Epoch   int64
		Inputs  []manifest.Input
		Seed    bool
		Args    []string
		Media   string `json:",omitempty"` // so per-node ids stay as they were
	}{opts.Version, m.SourceDateEpoch, m.Inputs, opts.SeedWithoutPackages, opts.InstallArgs, sharedOrEmpty(opts)})
	if err != nil {
		return nil, err
	}
	m.BuildID = payload.SHA256Hex(id)[:16]
	return m, nil
}

func sharedOrEmpty(opts *Options) string {
	if opts.shared() {
		return MediaShared
	}
	return ""
}
