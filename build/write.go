package build

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pgha-bundle/pgha-bundle/bundle"
	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/payload"
)

// Result tells what a build wrote.
type Result struct {
	// Dir is OutDir/<cluster>.
	Dir      string
	BuildID  string
	Rendered *Rendered
}

// Run builds everything: config trees, bundles, seed ISOs, manifest.json and
// SHA256SUMS, into a temporary directory beside OutDir/<cluster> that replaces
// it only once complete.
func Run(opts Options) (*Result, error) {
	epoch, err := opts.epoch()
	if err != nil {
		return nil, err
	}
	r, err := render(opts, true)
	if err != nil {
		return nil, err
	}
	// The secrets file stays locked until the output is in place: a second
	// build of the same secrets waits, then reads what this one wrote.
	defer r.release()
	for _, w := range r.Warnings {
		opts.logf("%s", w)
	}
	if opts.OutDir == "" {
		opts.OutDir = "out"
	}
	final := filepath.Join(opts.OutDir, r.Spec.Cluster.Name)
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	tmp, err := os.MkdirTemp(opts.OutDir, "."+r.Spec.Cluster.Name+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}

	m, err := newManifest(&opts, r, epoch)
	if err != nil {
		return nil, err
	}
	w := &writer{opts: &opts, r: r, dir: tmp, epoch: epoch, m: m, known: map[string]payload.Entry{}}
	for _, n := range r.Nodes {
		if err := w.node(n); err != nil {
			return nil, err
		}
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	if err := replaceDir(tmp, final); err != nil {
		return nil, err
	}
	opts.logf("==> wrote %s (build %s)", final, m.BuildID)
	return &Result{Dir: final, BuildID: m.BuildID, Rendered: r}, nil
}

// writer writes one build's outputs into dir and records them in the manifest.
type writer struct {
	opts  *Options
	r     *Rendered
	dir   string
	epoch time.Time
	m     *Manifest
	// known holds the entries of outputs hashed while they were written.
	known map[string]payload.Entry
}

func (w *writer) node(n payload.Node) error {
	w.opts.logf("==> node %s", n.Name)
	tree := filepath.Join(w.dir, "nodes", n.Name)
	if err := payload.WriteTree(tree, n); err != nil {
		return fmt.Errorf("node %s: config tree: %w", n.Name, err)
	}
	w.m.Nodes = append(w.m.Nodes, NodeManifest{Name: n.Name, Files: n.Entries()})

	bundlePath := filepath.Join(w.dir, "bundles", n.Name+".tar.gz")
	sum, err := w.writeBundle(bundlePath, n, w.packages())
	if err != nil {
		return err
	}
	seedBundle := bundlePath
	if w.opts.SeedWithoutPackages && len(w.r.Packages.Packages) > 0 {
		// The seed carries the same bundle without RPMs; it is not an output.
		seedBundle = filepath.Join(w.dir, ".seed-"+n.Name+".tar.gz")
		if sum, err = w.writeBundle(seedBundle, n, nil); err != nil {
			return err
		}
		defer os.Remove(seedBundle)
	}
	return w.writeSeed(n, seedBundle, sum)
}

func (w *writer) packages() []bundle.Package {
	var out []bundle.Package
	for _, p := range w.r.Packages.Packages {
		out = append(out, bundle.Package{Path: p.Path, Filename: p.Filename, Name: p.Name, NEVRA: p.NEVRA, SHA256: p.SHA256, Size: p.Size})
	}
	return out
}

func (w *writer) keys() []bundle.Key {
	var out []bundle.Key
	for _, k := range w.r.Packages.Keys {
		out = append(out, bundle.Key{Name: k.Name, Data: k.Data})
	}
	return out
}

// writeBundle streams the node's bundle to path and returns its sha256,
// computed on the way so the bundle is never read back for it.
func (w *writer) writeBundle(path string, n payload.Node, pkgs []bundle.Package) (string, error) {
	// Bundles and seeds carry the node's secrets: private to the builder.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("bundle %s: %w", n.Name, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("bundle %s: %w", n.Name, err)
	}
	defer f.Close()
	in := bundle.Input{
		Cluster: w.r.Spec.Cluster.Name, Node: n.Name, BuildID: w.m.BuildID,
		Epoch: w.epoch, Payload: n, Packages: pkgs, Keys: w.keys(),
		Components: w.r.Packages.Components,
	}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	if err := bundle.Write(cw, in); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("bundle %s: %w", n.Name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	w.known[path] = payload.Entry{Mode: "0600", Size: cw.n, SHA256: sum}
	return sum, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (w *writer) writeSeed(n payload.Node, bundlePath, sum string) error {
	seed, err := cloudinit.Render(cloudinit.Input{
		Spec: w.r.Spec, Node: n.Name, BundleSHA256: sum, InstallArgs: w.opts.InstallArgs,
	})
	if err != nil {
		return err
	}
	iso := filepath.Join(w.dir, "seeds", n.Name+".iso")
	if err := os.MkdirAll(filepath.Dir(iso), 0o700); err != nil {
		return fmt.Errorf("seed %s: %w", n.Name, err)
	}
	w.m.Nodes[len(w.m.Nodes)-1].InstanceID = cloudinit.InstanceID(w.r.Spec, n.Name)
	isoSum, err := cloudinit.WriteISO(iso, seed, bundlePath, w.epoch)
	if err != nil {
		return err
	}
	fi, err := os.Stat(iso)
	if err != nil {
		return fmt.Errorf("seed %s: %w", n.Name, err)
	}
	w.known[iso] = payload.Entry{Mode: payload.FormatMode(fi.Mode()), Size: fi.Size(), SHA256: isoSum}
	return nil
}

// finish writes manifest.json and SHA256SUMS over every file of the build.
func (w *writer) finish() error {
	var outputs []payload.Entry
	err := filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(w.dir, p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(filepath.Base(rel), ".") {
			return nil
		}
		e, ok := w.known[p]
		if !ok {
			if e, err = fileEntry(p); err != nil {
				return err
			}
		}
		e.Path = filepath.ToSlash(rel)
		outputs = append(outputs, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	w.m.Outputs = outputs
	manifest, err := json.MarshalIndent(w.m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	manifest = append(manifest, '\n')
	if err := os.WriteFile(filepath.Join(w.dir, "manifest.json"), manifest, 0o644); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	me := payload.Entry{Path: "manifest.json", SHA256: sha256Hex(manifest)}
	all := append(outputs, me)
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	var sums bytes.Buffer
	for _, e := range all {
		fmt.Fprintf(&sums, "%s  %s\n", e.SHA256, e.Path)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "SHA256SUMS"), sums.Bytes(), 0o644); err != nil {
		return fmt.Errorf("SHA256SUMS: %w", err)
	}
	return nil
}

// fileEntry hashes one output file, streaming it.
func fileEntry(path string) (payload.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return payload.Entry{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return payload.Entry{}, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return payload.Entry{}, fmt.Errorf("%s: %w", path, err)
	}
	return payload.Entry{
		Mode:   payload.FormatMode(fi.Mode()),
		Size:   fi.Size(),
		SHA256: hex.EncodeToString(h.Sum(nil)),
	}, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// replaceDir puts the finished build at final. The previous build is moved
// aside first and removed only after the new one is in place, so at every
// moment one complete build exists.
func replaceDir(tmp, final string) error {
	old := ""
	if _, err := os.Stat(final); err == nil {
		old = tmp + ".old"
		if err := os.Rename(final, old); err != nil {
			return fmt.Errorf("output: move previous build aside: %w", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			_ = os.Rename(old, final)
		}
		return fmt.Errorf("output: %w", err)
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}
