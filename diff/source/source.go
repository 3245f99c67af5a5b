// Package source reads what pgha-bundle diff and inspect are given (a build
// output directory, a node bundle, a seed ISO) into diff sides: node payloads
// with their seed files and packages.
package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/bundle"
	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/manifest"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Loaders returns the readers of every kind; specs are rendered by render.
func Loaders(render SpecRenderer) diff.Loaders {
	return diff.Loaders{diff.KindBuild: Build, diff.KindBundle: Bundle, diff.KindISO: ISO, diff.KindSpec: Spec(render)}
}

// SpecRenderer renders the cluster spec at specPath in memory, as a build of
// it would, with the spec's packages and its existing secrets file, and
// writes, creates and locks nothing. The command supplies it (the
// pipeline's preview), so that diff does not depend on the pipeline.
type SpecRenderer func(specPath string) (*RenderedSpec, error)

// RenderedSpec is what a spec side is made of.
type RenderedSpec struct {
	Spec *cluster.Spec
	// Nodes are every node's payload.
	Nodes []payload.Node
	// Packages are the packages every bundle would carry.
	Packages []rpm.Package
}

// seedMode is what a seed file shows as: a plain ISO 9660 image (no Rock
// Ridge) has no modes, and Linux presents every file read-only.
const seedMode fs.FileMode = 0o444

// Bundle reads one node's bundle tarball.
func Bundle(path string) (*diff.Side, error) {
	b, err := bundle.Read(path)
	if err != nil {
		return nil, err
	}
	return &diff.Side{Label: path, Nodes: []diff.Node{fromBundle(b)}}, nil
}

func fromBundle(b *bundle.Bundle) diff.Node {
	n := diff.Node{Name: b.Manifest.Node, Files: b.Payload.Files, HasPackages: true}
	n.Packages = append(n.Packages, b.Manifest.Packages...)
	return n
}

// ISO reads one node's seed ISO: its seed files and the bundle it carries.
func ISO(path string) (*diff.Side, error) {
	n, err := readISO(path, true)
	if err != nil {
		return nil, err
	}
	if n.Name == "" {
		n.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return &diff.Side{Label: path, Nodes: []diff.Node{n}}, nil
}

// readISO returns the seed files of an ISO and, when withBundle is set, the
// payload and packages of the bundle it carries.
func readISO(path string, withBundle bool) (diff.Node, error) {
	files, err := cloudinit.ReadISO(path)
	if err != nil {
		return diff.Node{}, err
	}
	n := diff.Node{HasSeed: true}
	for _, f := range files {
		if f.Name == cloudinit.NameBundle {
			if !withBundle {
				continue
			}
			r, err := f.Open()
			if err != nil {
				return diff.Node{}, err
			}
			b, err := bundle.ReadFrom(r)
			r.Close()
			if err != nil {
				return diff.Node{}, fmt.Errorf("iso %s: %s: %w", path, f.Name, err)
			}
			bn := fromBundle(b)
			n.Name, n.Files, n.Packages, n.HasPackages = bn.Name, bn.Files, bn.Packages, true
			continue
		}
		content, err := f.ReadAll()
		if err != nil {
			return diff.Node{}, err
		}
		n.Seed = append(n.Seed, payload.File{Path: f.Name, Mode: seedMode, Content: content})
	}
	return n, nil
}

// Build reads a build output directory: every nodes/<node>/ tree with the
// owners, groups and secret flags manifest.json lists for it, the packages the
// manifest lists (every bundle carries the same set), and the seed files of
// seeds/<node>.iso. Bundles are not opened: the tree and the manifest say
// the same, and reading RPMs would only cost time.
func Build(dir string) (*diff.Side, error) {
	m, err := manifest.Read(dir)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", dir, err)
	}
	pkgs := m.Packages
	side := &diff.Side{Label: dir}
	seen := map[string]bool{}
	for _, nm := range m.Nodes {
		// The name becomes a path under nodes/ and seeds/: one plain
		// element, or a crafted manifest would read files elsewhere.
		if nm.Name == "" || nm.Name == "." || nm.Name == ".." || strings.ContainsAny(nm.Name, "/\\\x00") {
			return nil, fmt.Errorf("build %s: manifest.json: node name %q is not a plain name", dir, nm.Name)
		}
		if seen[nm.Name] {
			return nil, fmt.Errorf("build %s: manifest.json lists node %s twice", dir, nm.Name)
		}
		seen[nm.Name] = true
		n, err := buildNode(dir, nm.Name, nm.Files)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", dir, err)
		}
		n.Packages, n.HasPackages = pkgs, true
		side.Nodes = append(side.Nodes, n)
	}
	// A tree the manifest does not list is a sign of a mixed-up directory.
	ents, err := os.ReadDir(filepath.Join(dir, "nodes"))
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", dir, err)
	}
	if len(ents) != len(m.Nodes) {
		return nil, fmt.Errorf("build %s: nodes/ holds %d entries, manifest.json lists %d nodes", dir, len(ents), len(m.Nodes))
	}
	sort.Slice(side.Nodes, func(i, j int) bool { return side.Nodes[i].Name < side.Nodes[j].Name })
	return side, nil
}

func buildNode(dir, name string, entries []payload.Entry) (diff.Node, error) {
	tree, err := payload.ReadTree(filepath.Join(dir, "nodes", name))
	if err != nil {
		return diff.Node{}, err
	}
	tree.Name = name
	if err := tree.ApplyEntries(entries); err != nil {
		return diff.Node{}, err
	}
	n := diff.Node{Name: name, Files: tree.Files}
	isoPath := filepath.Join(dir, "seeds", name+".iso")
	if _, err := os.Stat(isoPath); err == nil {
		seed, err := readISO(isoPath, false)
		if err != nil {
			return diff.Node{}, err
		}
		n.Seed, n.HasSeed = seed.Seed, true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return diff.Node{}, err
	}
	return n, nil
}

// Spec returns a loader that renders a cluster spec in memory with its
// packages and its existing secrets file (never creating one), to preview
// what a build of it would change. A spec side has meta-data and
// network-config but no user-data: that holds the digest of a bundle that is
// not written.
func Spec(render SpecRenderer) diff.Loader {
	return func(path string) (*diff.Side, error) {
		r, err := render(path)
		if err != nil {
			return nil, fmt.Errorf("spec %s: %w", path, err)
		}
		pkgs := r.Packages
		side := &diff.Side{Label: path}
		for _, n := range r.Nodes {
			seed, err := cloudinit.Render(cloudinit.Input{Spec: r.Spec, Node: n.Name})
			if err != nil {
				return nil, fmt.Errorf("spec %s: %w", path, err)
			}
			// meta-data and network-config only: user-data names a bundle digest.
			var files []payload.File
			for _, f := range seed.Files() {
				if f.Name != cloudinit.NameUserData {
					files = append(files, payload.File{Path: f.Name, Mode: seedMode, Content: f.Content})
				}
			}
			side.Nodes = append(side.Nodes, diff.Node{Name: n.Name, Files: n.Files, Seed: files, HasSeed: true, Packages: pkgs, HasPackages: true})
		}
		return side, nil
	}
}
