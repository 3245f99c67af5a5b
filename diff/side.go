package diff

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Kind is what a path given to diff or inspect holds.
type Kind string

// The kinds of source diff reads, each decoded into node payloads.
const (
	KindBuild  Kind = "build"  // a build output directory: nodes/<node>/… and manifest.json
	KindBundle Kind = "bundle" // one node's install bundle, *.tar.gz or *.tgz
	KindISO    Kind = "iso"    // one node's seed ISO, *.iso
	KindSpec   Kind = "spec"   // a cluster spec, *.yaml or *.yml, rendered in memory
)

// DetectKind tells what path holds from its name, or for a directory from its
// manifest.json.
func DetectKind(path string) (Kind, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "manifest.json")); err != nil {
			return "", fmt.Errorf("%s: a directory without manifest.json is not a build output", path)
		}
		return KindBuild, nil
	}
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"):
		return KindBundle, nil
	case strings.HasSuffix(lower, ".iso"):
		return KindISO, nil
	case strings.HasSuffix(lower, ".yaml"), strings.HasSuffix(lower, ".yml"):
		return KindSpec, nil
	}
	return "", fmt.Errorf("%s: not a build directory, bundle (.tar.gz, .tgz), seed ISO (.iso) or spec (.yaml, .yml)", path)
}

// Side is one side of a comparison: the nodes a source holds, decoded into
// payloads.
type Side struct {
	// Label names the side in the output (the path given).
	Label string `json:"label"`
	Kind  Kind   `json:"kind"`
	// Nodes, in any order; Compare matches them by name.
	Nodes []Node `json:"-"`
}

// Node is one node as a source holds it. A source that has no seed or no
// package list says so with HasSeed or HasPackages false, and Compare then
// compares that part only when both sides have it.
type Node struct {
	Name string
	// Files is the node payload.
	Files []payload.File
	// Seed holds the seed ISO's files other than the bundle (user-data,
	// meta-data, network-config), with their ISO names as Path.
	Seed    []payload.File
	HasSeed bool
	// Packages are the RPMs the node installs.
	Packages    []rpm.Package
	HasPackages bool
}

// seedPrefix marks seed files among a node's files in the output.
const seedPrefix = "seed:"

// all returns the payload and seed files of n with the paths diff shows,
// sorted: seed files come as "seed:user-data".
func (n *Node) all() []payload.File {
	out := make([]payload.File, 0, len(n.Files)+len(n.Seed))
	out = append(out, n.Files...)
	for _, f := range n.Seed {
		f.Path = seedPrefix + f.Path
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// withoutUnmatchedUserData drops n's user-data when other's seed has none: a
// spec side renders meta-data and network-config but cannot render the
// user-data of a bundle it does not write.
func (n *Node) withoutUnmatchedUserData(other *Node) *Node {
	if hasSeedFile(other, "user-data") || !hasSeedFile(n, "user-data") {
		return n
	}
	c := *n
	c.Seed = nil
	for _, f := range n.Seed {
		if f.Path != "user-data" {
			c.Seed = append(c.Seed, f)
		}
	}
	return &c
}

func hasSeedFile(n *Node, name string) bool {
	for _, f := range n.Seed {
		if f.Path == name {
			return true
		}
	}
	return false
}

// Loader reads one kind of source. The command wires one per kind: the build
// tree reader here, bundle.Read, cloudinit.ReadISO, and the spec renderer.
type Loader func(path string) (*Side, error)

// Loaders maps each kind to its reader.
type Loaders map[Kind]Loader

// Load detects the kind of path and reads it with the matching loader.
func (ls Loaders) Load(path string) (*Side, error) {
	k, err := DetectKind(path)
	if err != nil {
		return nil, err
	}
	l := ls[k]
	if l == nil {
		return nil, fmt.Errorf("%s: reading a %s is not supported yet", path, k)
	}
	s, err := l(path)
	if err != nil {
		return nil, err
	}
	if s.Label == "" {
		s.Label = path
	}
	s.Kind = k
	return s, nil
}
