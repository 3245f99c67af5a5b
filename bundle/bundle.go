// Package bundle writes and reads the self-contained install bundle of one
// node: a reproducible gzip'd tarball holding the node payload, the verified
// RPMs and their keys, and the install/upgrade/uninstall scripts that apply
// them on an air-gapped host (layout in docs/layout.md).
package bundle

import (
	"fmt"
	"regexp"
	"time"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Format is the bundle layout version recorded in manifest.json and
// FACTS; the scripts refuse a receipt written by a newer format. Format 1
// carried FILES, PACKAGES and bundle.env and its scripts wrote a JSON
// receipt; format 2 carries FACTS and writes a line-based receipt.
const Format = 2

// Compression: the bundle is a gzip stream of stored (level 0) blocks by
// default. RPM payloads are already xz/zstd-compressed: on a 209 MiB EL-like
// package set (bench/bundle.sh, 8 RPMs of xz -2 compressed ELF libraries)
// gzip BestSpeed wrote 0.03 % fewer bytes than stored blocks at a third of the
// throughput (214 vs 621 MB/s), and the default level 6 was 28 times slower
// (22 MB/s) for the same size. The scripts and configs are a few KiB.
// Input.Compression may still ask for a level 1..9.

// Input is everything one node's bundle holds.
type Input struct {
	Cluster string
	Node    string
	// BuildID identifies the build; it becomes the bundle id in the receipt.
	BuildID string
	// Epoch is the modification time of every entry (SOURCE_DATE_EPOCH).
	Epoch   time.Time
	Payload payload.Node
	// Packages are the verified RPMs to carry in packages/, read from
	// their Path. Their digests and sizes were computed when they were
	// verified; Write re-hashes the bytes while streaming and fails if they
	// no longer match.
	Packages []rpm.Package
	// Keys are the OpenPGP public keys the packages were verified with,
	// carried in packages/keys/ so install.sh can run `rpm -K` against them.
	Keys       []rpm.KeyFile
	Components rpm.Components
	// Media, when set, names the shared packages media that carries the
	// packages and keys instead (build --packages-media shared): the bundle
	// lists them in manifest.json and FACTS but carries neither, and its
	// scripts take them from the media once its digest checks out.
	Media *Media
	// Compression is the gzip level: 0 (the default) stores, 1..9 compress.
	Compression int
}

// Media names a shared packages media (package media) by its volume label
// and the sha256 of its SHA256SUMS.
type Media struct {
	Label  string `json:"label"`
	SHA256 string `json:"sha256"`
}

// Names accepted in the bundle: the scripts read FACTS and the receipt
// with plain shell, so names never hold spaces, quotes or newlines.
var (
	reName     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	reID       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]*$`)
	rePath     = regexp.MustCompile(`^(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+$`)
	reAccount  = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	reFilename = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~^-]*$`)
	reNEVRA    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~^:-]*$`)
	reSHA256   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reLabel    = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)
)

func (in *Input) validate() error {
	switch {
	case !reName.MatchString(in.Cluster):
		return fmt.Errorf("cluster name %q: want letters, digits, '.', '_' or '-'", in.Cluster)
	case !reName.MatchString(in.Node):
		return fmt.Errorf("node name %q: want letters, digits, '.', '_' or '-'", in.Node)
	case !reID.MatchString(in.BuildID):
		return fmt.Errorf("build id %q: want letters, digits, '.', '_', ':', '+' or '-'", in.BuildID)
	}
	for i, f := range in.Payload.Files {
		if !rePath.MatchString(f.Path) {
			return fmt.Errorf("payload file %q: path must be absolute, clean, without spaces or quotes", f.Path)
		}
		if i > 0 && in.Payload.Files[i-1].Path >= f.Path {
			return fmt.Errorf("payload file %q: files must be sorted and unique (call payload.Node.Sort)", f.Path)
		}
		if f.Mode&^0o7777 != 0 {
			return fmt.Errorf("payload file %s: mode %v holds more than permission bits", f.Path, f.Mode)
		}
		if !reAccount.MatchString(f.Owner) || !reAccount.MatchString(f.Group) {
			return fmt.Errorf("payload file %s: owner %q / group %q is not a valid account name", f.Path, f.Owner, f.Group)
		}
	}
	seen := map[string]bool{}
	for _, p := range in.Packages {
		switch {
		case !reFilename.MatchString(p.Filename) || len(p.Filename) < 5 || p.Filename[len(p.Filename)-4:] != ".rpm":
			return fmt.Errorf("rpm %s: file name %q must be a plain *.rpm name", p.Path, p.Filename)
		case seen[p.Filename]:
			return fmt.Errorf("rpm %s: file name %q appears twice", p.Path, p.Filename)
		case !reName.MatchString(p.Name) || !reNEVRA.MatchString(p.NEVRA):
			return fmt.Errorf("rpm %s: name %q / NEVRA %q is not a plain package name", p.Filename, p.Name, p.NEVRA)
		case !reSHA256.MatchString(p.SHA256):
			return fmt.Errorf("rpm %s: sha256 %q is not a lowercase hex digest", p.Filename, p.SHA256)
		case p.Size < 0:
			return fmt.Errorf("rpm %s: negative size", p.Filename)
		}
		seen[p.Filename] = true
	}
	seen = map[string]bool{}
	for _, k := range in.Keys {
		if !reFilename.MatchString(k.Name) || seen[k.Name] {
			return fmt.Errorf("key %q: want a unique plain file name", k.Name)
		}
		seen[k.Name] = true
	}
	if m := in.Media; m != nil {
		switch {
		case !reLabel.MatchString(m.Label):
			return fmt.Errorf("packages media label %q: want 1 to 32 letters, digits or '_'", m.Label)
		case !reSHA256.MatchString(m.SHA256):
			return fmt.Errorf("packages media sha256 %q is not a lowercase hex digest", m.SHA256)
		case len(in.Packages) == 0:
			return fmt.Errorf("a packages media (%s) names no packages", m.Label)
		}
	}
	if in.Compression < 0 || in.Compression > 9 {
		return fmt.Errorf("compression level %d: want 0 (store) to 9", in.Compression)
	}
	return nil
}
