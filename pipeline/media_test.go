package pipeline

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/bundle"
	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/manifest"
	"github.com/pgha-bundle/pgha-bundle/media"
)

// TestSharedMedia: a build with --packages-media shared writes the packages
// once, as an ISO and a tarball that hold the same SHA256SUMS, records them
// in manifest.json and SHA256SUMS, and every node's bundle and seed carry no
// RPM but name the media by that file's sha256. Two builds are the same bytes.
func TestSharedMedia(t *testing.T) {
	e := newEnv(t)
	o := e.opts()
	o.PackagesMedia = MediaShared
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cl := m.Cluster
	pm := m.PackagesMedia
	if pm == nil || pm.Label != media.Label(cl) || pm.ISO != "media/"+cl+"-packages.iso" || pm.Tarball != "media/"+cl+"-packages.tar" {
		t.Fatalf("manifest packages_media: %+v", pm)
	}

	// The tarball's SHA256SUMS has the pinned digest and lists every package.
	tb, err := os.ReadFile(filepath.Join(res.Dir, pm.Tarball))
	if err != nil {
		t.Fatal(err)
	}
	var sums []byte
	tr := tar.NewReader(bytes.NewReader(tb))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == cl+"-packages/SHA256SUMS" {
			sums, _ = io.ReadAll(tr)
		}
	}
	if s := sha256.Sum256(sums); hex.EncodeToString(s[:]) != pm.SHA256 {
		t.Errorf("the tarball's SHA256SUMS has sha256 %x, the manifest pins %s", s, pm.SHA256)
	}
	for _, p := range m.Packages {
		if !bytes.Contains(sums, []byte(p.SHA256+"  packages/"+p.Filename+"\n")) {
			t.Errorf("SHA256SUMS does not list %s:\n%s", p.Filename, sums)
		}
	}
	// The ISO holds the same SHA256SUMS, under the label.
	iso := filepath.Join(res.Dir, pm.ISO)
	if l, err := cloudinit.Label(iso); err != nil || l != pm.Label {
		t.Errorf("ISO label %q (%v), want %q", l, err, pm.Label)
	}
	files, err := cloudinit.ReadISO(iso)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1+len(m.Packages)+1 { // SHA256SUMS, the packages, one key
		t.Errorf("the ISO holds %d files", len(files))
	}
	for _, f := range files {
		if f.Name == "SHA256SUMS" {
			if b, _ := f.ReadAll(); !bytes.Equal(b, sums) {
				t.Error("the ISO's SHA256SUMS differs from the tarball's")
			}
		}
	}
	// Both are outputs, readable by all (public packages and keys), and
	// in SHA256SUMS.
	for _, p := range []string{pm.ISO, pm.Tarball} {
		found := false
		for _, out := range m.Outputs {
			found = found || out.Path == p && out.Mode == "0644"
		}
		if !found {
			t.Errorf("manifest outputs lack %s with mode 0644", p)
		}
	}
	cmd := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
	cmd.Dir = res.Dir
	if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte(pm.ISO+": OK")) {
		t.Errorf("sha256sum -c: %v\n%s", err, out)
	}

	// Bundles: no RPM, the media named; seeds: the same bundle, the media's
	// label in the script.
	for _, n := range m.Nodes {
		b, err := bundle.Read(filepath.Join(res.Dir, "bundles", n.Name+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Manifest.PackagesMedia; got == nil || got.Label != pm.Label || got.SHA256 != pm.SHA256 || len(b.Manifest.Packages) != len(m.Packages) {
			t.Errorf("bundle %s names media %+v with %d packages", n.Name, got, len(b.Manifest.Packages))
		}
		if fi, _ := os.Stat(filepath.Join(res.Dir, "bundles", n.Name+".tar.gz")); fi.Size() > 1<<20 {
			t.Errorf("bundle %s has %d bytes: it carries packages?", n.Name, fi.Size())
		}
		seed, err := cloudinit.ReadISO(filepath.Join(res.Dir, "seeds", n.Name+".iso"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range seed {
			if f.Name == cloudinit.NameUserData {
				ud, _ := f.ReadAll()
				if !bytes.Contains(ud, []byte("readonly MEDIA_LABEL='"+pm.Label+"'")) || !bytes.Contains(ud, []byte(pm.SHA256)) {
					t.Errorf("seed %s does not name the media", n.Name)
				}
			}
		}
	}

	// The same inputs, the same bytes.
	o.OutDir = filepath.Join(e.dir, "out2")
	again, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tree(t, res.Dir), tree(t, again.Dir)
	if len(a) != len(b) {
		t.Fatalf("builds hold %d and %d files", len(a), len(b))
	}
	for p, h := range a {
		if b[p] != h {
			t.Errorf("%s differs between two builds of the same inputs", p)
		}
	}
}

// TestPackagesMediaOption: per-node is the default, byte for byte; an
// unknown mode or one that contradicts --seed-without-packages is refused
// before any work.
func TestPackagesMediaOption(t *testing.T) {
	e := newEnv(t)
	def, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts()
	o.OutDir, o.PackagesMedia = filepath.Join(e.dir, "per-node"), MediaPerNode
	perNode, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tree(t, def.Dir), tree(t, perNode.Dir)
	for p, h := range a {
		if b[p] != h {
			t.Errorf("%s differs between the default and per-node", p)
		}
		if strings.HasPrefix(p, "media/") {
			t.Errorf("a per-node build wrote %s", p)
		}
	}
	if len(a) != len(b) || def.BuildID != perNode.BuildID {
		t.Errorf("default: %d files, build %s; per-node: %d files, build %s", len(a), def.BuildID, len(b), perNode.BuildID)
	}
	for _, c := range []struct {
		name, mode  string
		seedWithout bool
		want        string
	}{
		{"unknown", "bogus", false, `--packages-media "bogus": want per-node (the packages in every bundle and seed) or shared`},
		{"with seed-without-packages", MediaShared, true, "--seed-without-packages and --packages-media shared do not go together"},
	} {
		o := e.opts()
		o.OutDir = filepath.Join(e.dir, "refused")
		o.PackagesMedia, o.SeedWithoutPackages = c.mode, c.seedWithout
		if _, err := Run(o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(o.OutDir); err == nil {
			t.Errorf("%s: the refused build wrote %s", c.name, o.OutDir)
		}
	}
}
