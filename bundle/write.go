package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// scriptFS holds the on-node scripts; every *.sh lands at the bundle's top.
//
//go:embed scripts/*.sh
var scriptFS embed.FS

// Scripts returns the embedded scripts by name (install.sh, upgrade.sh,
// uninstall.sh, lib.sh), e.g. for a seed that runs install.sh directly.
func Scripts() (map[string][]byte, error) {
	ents, err := scriptFS.ReadDir("scripts")
	if err != nil {
		return nil, fmt.Errorf("embedded scripts: %w", err)
	}
	out := make(map[string][]byte, len(ents))
	for _, e := range ents {
		b, err := scriptFS.ReadFile("scripts/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("embedded script %s: %w", e.Name(), err)
		}
		out[e.Name()] = b
	}
	return out, nil
}

// TopDir is the single top directory of a node's bundle.
func TopDir(cluster, node string) string { return cluster + "-" + node }

// entry is one tar member, relative to the top directory.
type entry struct {
	name string // "" for the top directory itself
	dir  bool
	mode int64
	data []byte       // regular files held in memory (small: configs, scripts)
	pkg  *rpm.Package // RPMs streamed from disk
}

func (e *entry) size() int64 {
	if e.pkg != nil {
		return e.pkg.Size
	}
	return int64(len(e.data))
}

// Write writes the bundle of one node to w as a gzip'd tarball, byte for byte
// the same for the same input: entries sorted by name, every mtime Epoch,
// owner root:root (uid/gid 0), a gzip header without name or time. RPMs are
// streamed from their Path by rpm.CopyVerified; a package that is no longer
// the one verified fails the write (the caller discards the partial output).
func Write(w io.Writer, in Input) error {
	if err := in.validate(); err != nil {
		return fmt.Errorf("bundle %s: %w", in.Node, err)
	}
	ents, err := entries(&in)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", in.Node, err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, in.Compression)
	if err != nil {
		return fmt.Errorf("bundle %s: gzip: %w", in.Node, err)
	}
	// Name and ModTime stay empty so the header carries neither.
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		hdr := header(&in, e)
		name := hdr.Name
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("bundle %s: %s: %w", in.Node, name, err)
		}
		switch {
		case e.pkg != nil:
			if err := rpm.CopyVerified(tw, e.pkg); err != nil {
				return fmt.Errorf("bundle %s: %w", in.Node, err)
			}
		case !e.dir:
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("bundle %s: %s: %w", in.Node, name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle %s: tar: %w", in.Node, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle %s: gzip: %w", in.Node, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bundle %s: %w", in.Node, err)
	}
	return nil
}

// header is the tar header of e in the bundle of in.
func header(in *Input, e *entry) *tar.Header {
	name := TopDir(in.Cluster, in.Node)
	if e.name != "" {
		name += "/" + e.name
	}
	hdr := &tar.Header{
		Name: name, Mode: e.mode, ModTime: in.Epoch.UTC().Truncate(1e9),
		Uid: 0, Gid: 0, Uname: "root", Gname: "root",
		Typeflag: tar.TypeReg, Size: e.size(),
	}
	if e.dir {
		hdr.Name += "/"
		hdr.Typeflag = tar.TypeDir
		hdr.Size = 0
	}
	return hdr
}

// Size returns how many bytes Write writes for in, without reading a
// package: a seed image lays out the bundle's extent before the bundle is
// made. Only the stored framing (Compression 0) has a size known in advance:
// each entry's tar header, its data padded to 512 bytes and the tar's two
// closing blocks, cut by compress/flate into stored blocks of at most 65535
// bytes of 5 bytes' framing each, then an empty final block, inside gzip's
// 10-byte header and 8-byte trailer.
func Size(in Input) (int64, error) {
	if err := in.validate(); err != nil {
		return 0, fmt.Errorf("bundle %s: %w", in.Node, err)
	}
	if in.Compression != 0 {
		return 0, fmt.Errorf("bundle %s: the size of a compressed bundle (level %d) is known only once written", in.Node, in.Compression)
	}
	ents, err := entries(&in)
	if err != nil {
		return 0, fmt.Errorf("bundle %s: %w", in.Node, err)
	}
	var tarLen int64
	var buf bytes.Buffer
	for _, e := range ents {
		buf.Reset()
		hdr := header(&in, e)
		if err := tar.NewWriter(&buf).WriteHeader(hdr); err != nil {
			return 0, fmt.Errorf("bundle %s: %s: %w", in.Node, hdr.Name, err)
		}
		tarLen += int64(buf.Len()) + (hdr.Size+511)/512*512
	}
	tarLen += 2 * 512
	return storedGzipSize(tarLen), nil
}

// storedGzipSize is the size of a gzip stream of n bytes in stored blocks,
// as compress/gzip writes it at level 0.
func storedGzipSize(n int64) int64 {
	const storedBlock, framing = 65535, 5
	blocks := (n + storedBlock - 1) / storedBlock
	return 10 + n + framing*(blocks+1) + 8
}

func sortedPackages(ps []rpm.Package) []rpm.Package {
	out := append([]rpm.Package(nil), ps...)
	sort.Slice(out, func(i, j int) bool { return out[i].Filename < out[j].Filename })
	return out
}

func sortedKeys(ks []rpm.KeyFile) []rpm.KeyFile {
	out := append([]rpm.KeyFile(nil), ks...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// entries lists every member of the bundle, sorted, with SHA256SUMS computed
// from the payload, the scripts and the packages' given digests.
func entries(in *Input) ([]*entry, error) {
	scripts, err := Scripts()
	if err != nil {
		return nil, err
	}
	var ents []*entry
	sums := map[string]string{}
	addFile := func(name string, mode int64, data []byte) {
		ents = append(ents, &entry{name: name, mode: mode, data: data})
		sums[name] = sum(data)
	}
	var scriptEntries []ManifestEntry
	for _, name := range sortedNames(scripts) {
		addFile(name, 0o755, scripts[name])
		scriptEntries = append(scriptEntries, ManifestEntry{Name: name, SHA256: sum(scripts[name])})
	}
	m := manifest(in, scriptEntries)
	mj, err := m.encode()
	if err != nil {
		return nil, err
	}
	addFile(layout.BundleManifest, 0o644, mj)
	nodeFacts, ok := in.Payload.Lookup(layout.NodeFacts)
	if !ok {
		return nil, fmt.Errorf("the payload holds no %s (render it with templates.Render)", layout.NodeFacts)
	}
	fb, err := facts(&m, nodeFacts.Content)
	if err != nil {
		return nil, err
	}
	// The facts hold the stats password, as the node's copy does: 0600.
	addFile(layout.BundleFacts, 0o600, fb)
	// Payload files may hold secrets: 0600 inside the bundle whatever their
	// mode on the node (FACTS says that one).
	for _, f := range in.Payload.Files {
		addFile("files"+f.Path, 0o600, f.Content)
	}
	// With a shared media the packages and keys are on it, not here.
	if in.Media == nil {
		for _, k := range sortedKeys(in.Keys) {
			addFile("packages/keys/"+k.Name, 0o644, k.Data)
		}
		for _, p := range sortedPackages(in.Packages) {
			p := p
			ents = append(ents, &entry{name: "packages/" + p.Filename, mode: 0o644, pkg: &p})
			sums["packages/"+p.Filename] = p.SHA256
		}
	}
	var sb strings.Builder
	for _, name := range sortedNames(sums) {
		fmt.Fprintf(&sb, "%s  %s\n", sums[name], name)
	}
	ents = append(ents, &entry{name: "SHA256SUMS", mode: 0o644, data: []byte(sb.String())})

	// Directories: the top, and every parent of a file.
	dirs := map[string]bool{"": true}
	for _, e := range ents {
		for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		mode := int64(0o755)
		if d == "" || d == "files" || strings.HasPrefix(d, "files/") {
			mode = 0o700 // the payload holds secrets
		}
		ents = append(ents, &entry{name: d, dir: true, mode: mode})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	return ents, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
