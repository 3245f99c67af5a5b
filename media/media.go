// Package media writes a fleet's shared packages media (build
// --packages-media shared): the verified RPMs and their keys, written once
// for every node instead of into every node's bundle and seed. One tree,
// two forms: an ISO image with a volume label of its own, which each VM
// attaches beside its seed, and a tarball for air-gapped hosts:
//
//	SHA256SUMS               "sha256  path" of every other file
//	packages/<file>.rpm
//	packages/keys/<key>
//
// (the tarball puts it under <cluster>-packages/). The nodes pin the media
// by Digest, the sha256 of SHA256SUMS, which names every RPM and key by its
// sha256: the ISO and the tarball verify the same way, and the digest is
// known from the packages' verified digests before a byte is written.
package media

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Names in the media's tree.
const (
	SumsName = "SHA256SUMS"
	PkgDir   = "packages"
	KeysDir  = "packages/keys"
)

// Input is what the media holds.
type Input struct {
	Cluster string
	// Packages are the verified RPMs, read from their Path by
	// rpm.CopyVerified while they are written.
	Packages []rpm.Package
	// Keys are the public keys the packages were verified with.
	Keys []rpm.KeyFile
	// Epoch is every date in the tarball and the image.
	Epoch time.Time
}

// ISOName is the image's name in the build directory.
func ISOName(cluster string) string { return "media/" + cluster + "-packages.iso" }

// TarName is the tarball's name in the build directory.
func TarName(cluster string) string { return "media/" + cluster + "-packages.tar" }

// TopDir is the tarball's one top directory.
func TopDir(cluster string) string { return cluster + "-packages" }

// Label is the volume label of the cluster's packages ISO: ISO 9660
// d-characters (A-Z, 0-9, '_'), at most 32, never the seeds' cidata. The
// cluster's name, upper-cased and cut to 18 characters, keeps it readable;
// the first 8 hex digits of its sha256 keep two clusters apart whose names
// map to the same characters (pg-a and pg_a, or a long common prefix).
func Label(cluster string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(cluster) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 18 {
		name = name[:18]
	}
	h := sha256.Sum256([]byte(cluster))
	return name + "_PKGS_" + strings.ToUpper(hex.EncodeToString(h[:4]))
}

var (
	reName     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	reFilename = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~^-]*$`)
	reSHA256   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// file is one file of the tree: in memory (sums, keys) or a package.
type file struct {
	path string
	data []byte
	pkg  *rpm.Package
}

func (f *file) size() int64 {
	if f.pkg != nil {
		return f.pkg.Size
	}
	return int64(len(f.data))
}

func (f *file) write(w io.Writer) error {
	if f.pkg != nil {
		return rpm.CopyVerified(w, f.pkg)
	}
	_, err := w.Write(f.data)
	return err
}

// tree lists the media's files sorted by path, SHA256SUMS first.
func tree(in *Input) ([]*file, error) {
	if !reName.MatchString(in.Cluster) {
		return nil, fmt.Errorf("packages media: cluster name %q: want letters, digits, '.', '_' or '-'", in.Cluster)
	}
	if len(in.Packages) == 0 {
		return nil, fmt.Errorf("packages media of %s: no packages to share", in.Cluster)
	}
	var files []*file
	seen := map[string]bool{}
	add := func(f *file) error {
		if seen[f.path] {
			return fmt.Errorf("packages media of %s: %s appears twice", in.Cluster, f.path)
		}
		seen[f.path] = true
		files = append(files, f)
		return nil
	}
	for i := range in.Packages {
		p := &in.Packages[i]
		if !reFilename.MatchString(p.Filename) || !strings.HasSuffix(p.Filename, ".rpm") || !reSHA256.MatchString(p.SHA256) || p.Size < 0 {
			return nil, fmt.Errorf("packages media of %s: rpm %q (sha256 %q, %d bytes) is not a plain verified *.rpm", in.Cluster, p.Filename, p.SHA256, p.Size)
		}
		if err := add(&file{path: PkgDir + "/" + p.Filename, pkg: p}); err != nil {
			return nil, err
		}
	}
	for _, k := range in.Keys {
		if !reFilename.MatchString(k.Name) {
			return nil, fmt.Errorf("packages media of %s: key %q: want a plain file name", in.Cluster, k.Name)
		}
		if err := add(&file{path: KeysDir + "/" + k.Name, data: k.Data}); err != nil {
			return nil, err
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	var sums strings.Builder
	for _, f := range files {
		sum := ""
		if f.pkg != nil {
			sum = f.pkg.SHA256
		} else {
			h := sha256.Sum256(f.data)
			sum = hex.EncodeToString(h[:])
		}
		fmt.Fprintf(&sums, "%s  %s\n", sum, f.path)
	}
	return append([]*file{{path: SumsName, data: []byte(sums.String())}}, files...), nil
}

// Sums returns the media's SHA256SUMS.
func Sums(in Input) ([]byte, error) {
	files, err := tree(&in)
	if err != nil {
		return nil, err
	}
	return files[0].data, nil
}

// Digest is the sha256 of the media's SHA256SUMS, which the nodes' bundles
// and seeds pin.
func Digest(in Input) (string, error) {
	sums, err := Sums(in)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(sums)
	return hex.EncodeToString(h[:]), nil
}

// WriteTar writes the media as a tarball to w, byte for byte the same for
// the same input: a plain tar (the RPMs are compressed already: gzip would
// only cost time, see bundle.Format's note), entries under TopDir in path
// order with SHA256SUMS first, every mtime Epoch, root:root, files 0644 and
// directories 0755. The packages are streamed by rpm.CopyVerified.
func WriteTar(w io.Writer, in Input) error {
	files, err := tree(&in)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	mtime := in.Epoch.UTC().Truncate(time.Second)
	top := TopDir(in.Cluster)
	dirDone := map[string]bool{}
	header := func(name string, dir bool, size int64) *tar.Header {
		h := &tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: mtime, Typeflag: tar.TypeReg,
			Uname: "root", Gname: "root"}
		if dir {
			h.Name, h.Mode, h.Typeflag = name+"/", 0o755, tar.TypeDir
		}
		return h
	}
	mkdirs := func(p string) error {
		var dirs []string
		for d := parent(p); d != ""; d = parent(d) {
			dirs = append([]string{d}, dirs...)
		}
		for _, d := range append([]string{""}, dirs...) {
			if dirDone[d] {
				continue
			}
			dirDone[d] = true
			name := top
			if d != "" {
				name += "/" + d
			}
			if err := tw.WriteHeader(header(name, true, 0)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range files {
		if err := mkdirs(f.path); err != nil {
			return fmt.Errorf("packages media tarball: %w", err)
		}
		if err := tw.WriteHeader(header(top+"/"+f.path, false, f.size())); err != nil {
			return fmt.Errorf("packages media tarball: %s: %w", f.path, err)
		}
		if err := f.write(tw); err != nil {
			return fmt.Errorf("packages media tarball: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("packages media tarball: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("packages media tarball: %w", err)
	}
	return nil
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// WriteISO writes the media as an ISO image to path, labelled Label
// (cloudinit.WriteTreeISO: Rock Ridge names, streamed, read back), and
// returns the image's sha256.
func WriteISO(path string, in Input) (string, error) {
	files, err := tree(&in)
	if err != nil {
		return "", err
	}
	var tf []cloudinit.TreeFile
	for _, f := range files {
		tf = append(tf, cloudinit.TreeFile{Path: f.path, Size: f.size(), Write: f.write})
	}
	sum, err := cloudinit.WriteTreeISO(path, Label(in.Cluster), tf, in.Epoch)
	if err != nil {
		return "", fmt.Errorf("packages media: %w", err)
	}
	return sum, nil
}
