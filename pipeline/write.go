package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pgha-bundle/pgha-bundle/bundle"
	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/asynchash"
	"github.com/pgha-bundle/pgha-bundle/internal/countio"
	"github.com/pgha-bundle/pgha-bundle/internal/writeback"
	"github.com/pgha-bundle/pgha-bundle/manifest"
	"github.com/pgha-bundle/pgha-bundle/media"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Result tells what a build wrote.
type Result struct {
	// Dir is OutDir/<cluster>.
	Dir      string
	BuildID  string
	Rendered *Rendered
}

// Run builds everything: config trees, bundles, seed ISOs, manifest.json and
// SHA256SUMS, into a temporary directory beside OutDir/<cluster> that takes
// its place only once complete and on disk. OutDir/<cluster> is replaced
// only when it holds an earlier build of the same cluster; builds into it
// exclude each other; what an interrupted build leaves is removed by the
// next one (see output.go).
func Run(opts Options) (res *Result, err error) {
	ctx := opts.ctx()
	epoch, err := opts.epoch()
	if err != nil {
		return nil, err
	}
	if opts.OutDir == "" {
		opts.OutDir = "out"
	}
	if opts.SpecData != nil && opts.SecretsPath == "" {
		return nil, errNoSecretsPath(&opts)
	}
	var o *output
	defer func() {
		if o == nil {
			return
		}
		if rerr := o.release(); rerr != nil && err == nil {
			// The new build is in place; the earlier one could not be
			// removed entirely: the next build removes the rest.
			opts.logf("warning: %v", rerr)
		}
	}()
	opts.prepare = func(spec *cluster.Spec) error {
		var err error
		o, err = openOutput(ctx, &opts, spec)
		return err
	}
	r, err := render(opts)
	if err != nil {
		return nil, err
	}
	// The secrets file stays locked until the output is in place: a second
	// build of the same secrets waits, then reads what this one wrote.
	defer r.release()
	opts.stepf("rendered")
	if err := ctx.Err(); err != nil {
		return nil, interrupted(ctx)
	}
	for _, w := range r.Warnings {
		opts.logf("%s", w)
	}
	m, err := newManifest(&opts, r, epoch)
	if err != nil {
		return nil, err
	}
	w := &writer{opts: &opts, ctx: ctx, r: r, dir: o.tmp, epoch: epoch, m: m, known: map[string]payload.Entry{}}
	if opts.shared() {
		if err := w.writeMedia(); err != nil {
			if ctx.Err() != nil {
				return nil, interrupted(ctx)
			}
			return nil, err
		}
	}
	// Nodes are written in parallel: one progress line for all of them.
	w.opts.progressStart("write nodes", 0)
	if err := w.nodes(); err != nil {
		if ctx.Err() != nil {
			return nil, interrupted(ctx)
		}
		return nil, err
	}
	// The client connection strings beside the nodes (cluster/connect.go).
	if err := os.WriteFile(filepath.Join(o.tmp, "connect.txt"), []byte(r.Spec.ConnectText()), 0o644); err != nil {
		return nil, fmt.Errorf("connect.txt: %w", err)
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, interrupted(ctx)
	}
	if err := o.commit(ctx); err != nil {
		return nil, err
	}
	opts.logf("==> wrote %s (build %s)", o.final, m.BuildID)
	return &Result{Dir: o.final, BuildID: m.BuildID, Rendered: r}, nil
}

// writer writes one build's outputs into dir and records them in the manifest.
type writer struct {
	opts  *Options
	ctx   context.Context
	r     *Rendered
	dir   string
	epoch time.Time
	m     *manifest.Manifest
	// shared is the shared packages media, nil in a per-node build.
	shared *bundle.Media
	// known holds the entries of outputs hashed while they were written.
	known   map[string]payload.Entry
	knownMu sync.Mutex
}

// nodes writes every node, as many at a time as there are CPUs: a node's
// bundle and seed are written one after the other, nodes beside each other,
// each in its own files (the manifest keeps the spec's order). The first
// error stops the others.
func (w *writer) nodes() error {
	w.m.Nodes = make([]manifest.Node, len(w.r.Nodes))
	ctx, cancel := context.WithCancelCause(w.ctx)
	defer cancel(nil)
	errs := make([]error, len(w.r.Nodes))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(w.r.Nodes)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if errs[i] = w.node(ctx, i); errs[i] != nil {
					cancel(errs[i])
				}
			}
		}()
	}
	for i := range w.r.Nodes {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && w.ctx.Err() == nil {
		return err // the first error, not a later node's cancellation
	}
	return errors.Join(errs...)
}

func (w *writer) setKnown(path string, e payload.Entry) {
	w.knownMu.Lock()
	w.known[path] = e
	w.knownMu.Unlock()
}

func (w *writer) node(ctx context.Context, i int) error {
	n := w.r.Nodes[i]
	w.opts.logf("==> node %s", n.Name)
	tree := filepath.Join(w.dir, "nodes", n.Name)
	if err := payload.WriteTree(tree, n); err != nil {
		return fmt.Errorf("node %s: config tree: %w", n.Name, err)
	}
	w.m.Nodes[i] = manifest.Node{Name: n.Name, Files: n.Entries()}
	w.opts.stepf("node " + n.Name + " tree")

	bundlePath := filepath.Join(w.dir, "bundles", n.Name+".tar.gz")
	in := w.bundleInput(n, w.r.PackagesOf(n.Name))
	if w.opts.SeedWithoutPackages && len(in.Packages) > 0 {
		// The seed carries the same bundle without RPMs, made straight
		// into the image; only the one with them is an output of its own.
		if _, err := w.writeBundle(ctx, bundlePath, in, nil); err != nil {
			return err
		}
		w.opts.stepf("node " + n.Name + " bundle")
		seedIn := in
		seedIn.Packages = nil
		if err := w.writeSeed(ctx, i, "", seedIn); err != nil {
			return err
		}
	} else {
		// The bundle's bytes go to its file and into the seed's image as
		// they are made: neither is read back.
		if err := w.writeSeed(ctx, i, bundlePath, in); err != nil {
			return err
		}
		w.opts.stepf("node " + n.Name + " bundle")
	}
	w.opts.stepf("node " + n.Name + " seed")
	return ctx.Err()
}

func (w *writer) bundleInput(n payload.Node, pkgs []rpm.Package) bundle.Input {
	in := bundle.Input{
		Cluster: w.r.Spec.Cluster.Name, Node: n.Name, BuildID: w.m.BuildID,
		Epoch: w.epoch, Payload: n, Packages: pkgs, Keys: w.r.Packages.Keys,
		Components: w.r.Packages.Components,
	}
	if len(pkgs) > 0 {
		in.Media = w.shared
	}
	return in
}

// writeMedia writes the shared packages media once, before the nodes, whose
// bundles and seeds name it: the tarball and the ISO, each streamed from
// the verified packages (rpm.CopyVerified) and hashed as written.
func (w *writer) writeMedia() error {
	cl := w.r.Spec.Cluster.Name
	in := media.Input{Cluster: cl, Packages: w.r.Packages.Packages, Keys: w.r.Packages.Keys, Epoch: w.epoch}
	if len(in.Packages) == 0 {
		return fmt.Errorf("--packages-media %s: the packages directory holds no packages to share", MediaShared)
	}
	digest, err := media.Digest(in)
	if err != nil {
		return err
	}
	w.opts.logf("==> packages media %s (SHA256SUMS sha256 %s)", media.Label(cl), digest)
	w.opts.progressStart("write packages media", 0)
	// The media holds packages and public keys only: readable by all.
	if err := os.MkdirAll(filepath.Join(w.dir, "media"), 0o755); err != nil {
		return fmt.Errorf("packages media: %w", err)
	}
	// The tarball and the image are written side by side, each on a core.
	var wg sync.WaitGroup
	var isoErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		isoErr = w.writeMediaISO(in)
	}()
	tarErr := w.writeMediaTar(in)
	wg.Wait()
	if err := errors.Join(tarErr, isoErr); err != nil {
		return err
	}
	w.shared = &bundle.Media{Label: media.Label(cl), SHA256: digest}
	w.m.PackagesMedia = &manifest.PackagesMedia{Label: w.shared.Label, SHA256: digest,
		ISO: media.ISOName(cl), Tarball: media.TarName(cl)}
	return nil
}

// writeMediaTar writes the packages media's tarball, hashed on the way.
func (w *writer) writeMediaTar(in media.Input) error {
	tarPath := filepath.Join(w.dir, filepath.FromSlash(media.TarName(in.Cluster)))
	f, err := os.OpenFile(tarPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("packages media: %w", err)
	}
	defer f.Close()
	h := asynchash.New(sha256.New())
	defer h.Close()
	wb := writeback.New(f)
	cw := &countio.Writer{W: io.MultiWriter(wb, h), Ctx: w.ctx, Progress: w.opts.progressAdd}
	if err := media.WriteTar(cw, in); err != nil {
		return err
	}
	wb.Flush()
	if err := f.Close(); err != nil {
		return fmt.Errorf("packages media: %w", err)
	}
	w.setKnown(tarPath, payload.Entry{Mode: "0644", Size: cw.N, SHA256: hex.EncodeToString(h.Sum())})
	return nil
}

// writeMediaISO writes the packages media's image.
func (w *writer) writeMediaISO(in media.Input) error {
	isoPath := filepath.Join(w.dir, filepath.FromSlash(media.ISOName(in.Cluster)))
	isoSum, err := media.WriteISO(isoPath, in)
	if err != nil {
		return err
	}
	fi, err := os.Stat(isoPath)
	if err != nil {
		return fmt.Errorf("packages media: %w", err)
	}
	w.opts.progressAdd(fi.Size())
	w.setKnown(isoPath, payload.Entry{Mode: payload.FormatMode(fi.Mode()), Size: fi.Size(), SHA256: isoSum})
	return nil
}

// writeBundle streams the node's bundle to path (when not empty) and to also
// (when not nil), and returns its sha256, computed on the way so the bundle
// is never read back for it.
func (w *writer) writeBundle(ctx context.Context, path string, in bundle.Input, also io.Writer) (string, error) {
	// Hashed beside the writing, on another core.
	h := asynchash.New(sha256.New())
	defer h.Close()
	dst := []io.Writer{h}
	var f *os.File
	var wb *writeback.Writer
	if path != "" {
		// Bundles and seeds carry the node's secrets: private to the builder.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", fmt.Errorf("bundle %s: %w", in.Node, err)
		}
		var err error
		f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return "", fmt.Errorf("bundle %s: %w", in.Node, err)
		}
		defer f.Close()
		wb = writeback.New(f)
		dst = append(dst, wb)
	}
	if also != nil {
		dst = append(dst, also)
	}
	cw := &countio.Writer{W: io.MultiWriter(dst...), Ctx: ctx, Progress: w.opts.progressAdd}
	if err := bundle.Write(cw, in); err != nil {
		return "", err
	}
	sum := hex.EncodeToString(h.Sum())
	if f != nil {
		wb.Flush()
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("bundle %s: %w", in.Node, err)
		}
		w.setKnown(path, payload.Entry{Mode: "0600", Size: cw.N, SHA256: sum})
	}
	return sum, nil
}

// writeSeed writes the node's seed image, its bundle (in) made straight into
// it and, when bundlePath is not empty, into that file too.
func (w *writer) writeSeed(ctx context.Context, i int, bundlePath string, in bundle.Input) error {
	n := w.r.Nodes[i]
	size, err := bundle.Size(in)
	if err != nil {
		return err
	}
	render := func(sum string) (cloudinit.Seed, error) {
		return cloudinit.Render(cloudinit.Input{
			Spec: w.r.Spec, Node: n.Name, BundleSHA256: sum, InstallArgs: w.opts.InstallArgs,
			PackagesMedia: seedMedia(in.Media, w.r.Spec.Cluster.Name),
		})
	}
	iso := filepath.Join(w.dir, "seeds", n.Name+".iso")
	if err := os.MkdirAll(filepath.Dir(iso), 0o700); err != nil {
		return fmt.Errorf("seed %s: %w", n.Name, err)
	}
	w.m.Nodes[i].InstanceID = cloudinit.InstanceID(w.r.Spec, n.Name)
	writeBundle := func(into io.Writer) (string, error) { return w.writeBundle(ctx, bundlePath, in, into) }
	isoSum, err := cloudinit.WriteISOStream(iso, size, render, writeBundle, w.epoch)
	if err != nil {
		return err
	}
	fi, err := os.Stat(iso)
	if err != nil {
		return fmt.Errorf("seed %s: %w", n.Name, err)
	}
	w.opts.progressAdd(fi.Size())
	w.setKnown(iso, payload.Entry{Mode: payload.FormatMode(fi.Mode()), Size: fi.Size(), SHA256: isoSum})
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
	mj, err := json.MarshalIndent(w.m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	mj = append(mj, '\n')
	if err := os.WriteFile(filepath.Join(w.dir, "manifest.json"), mj, 0o644); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	w.opts.stepf("manifest")
	me := payload.Entry{Path: "manifest.json", SHA256: payload.SHA256Hex(mj)}
	all := append(outputs, me)
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	var sums bytes.Buffer
	for _, e := range all {
		fmt.Fprintf(&sums, "%s  %s\n", e.SHA256, e.Path)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "SHA256SUMS"), sums.Bytes(), 0o644); err != nil {
		return fmt.Errorf("SHA256SUMS: %w", err)
	}
	w.opts.stepf("sums")
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

// seedMedia is what a seed needs to find the shared media its bundle names.
func seedMedia(m *bundle.Media, cluster string) *cloudinit.PackagesMedia {
	if m == nil {
		return nil
	}
	return &cloudinit.PackagesMedia{Label: m.Label, SHA256: m.SHA256, Tarball: path.Base(media.TarName(cluster))}
}
