//go:build e2e

package boot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdomanski/iso9660"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/manifest"
)

// What the seed's install script (cloudinit/seed-install.sh.tmpl) and the
// bundle's install.sh leave on the node, as the guest checks look for it.
const (
	installLog       = "/var/log/pgha-bundle/seed-install.log"
	installStartLine = "seed install of node " + clusterName + "-" + nodeName + " starts"
	installDoneLine  = "install.sh finished"
	verifyOKLine     = "bundle.tgz sha256 verified"
	installReceipt   = layout.Receipt
)

// Lines of bundle/scripts/install.sh: its checksum step, and its closing
// line when a run found the node already matching the bundle.
const (
	installVerifyStep = "==> verify bundle checksums"
	installNoChanges  = "==> done: no changes, " + nodeName + " already matches bundle"
	installDonePrefix = "==> done: "
)

// mediaLines are what a seed install from the shared packages ISO prints:
// the seed found and mounted it by its label; install.sh (--no-packages,
// as the image carries Debian's packages) was handed it, checked its
// SHA256SUMS against the digest its bundle pins and every file against
// SHA256SUMS, and verified each package's signature with rpm -K against
// the key on the media.
func mediaLines(s seed) []string {
	lines := []string{"(label " + s.MediaLabel + ") mounted on /run/pgha-media.", "==> packages media " + s.MediaLabel,
		"SHA256SUMS has the sha256 the bundle pins, and every file on the media matches it"}
	for _, p := range s.Packages {
		lines = append(lines, p+": digests signatures OK")
	}
	return lines
}

// logHas reports whether any line of an install log contains s.
func logHas(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// seed is one built seed ISO and what the guest checks need from its build.
type seed struct {
	ISO string
	// MediaISO is the build's shared packages ISO (--packages-media
	// shared), attached as a second CD-ROM; MediaLabel its label.
	MediaISO      string
	MediaLabel    string
	Packages      []string // the packages' file names
	Files         []byte   // the bundle's FILES, read back out of the ISO
	EtcdEndpoints string
	PatroniURL    string
}

// seedBuilder runs the real pgha-bundle build on the one-node spec, from the
// Debian-layout fixture RPMs, into one output directory (so the secrets
// made by the first build are reused by the next).
type seedBuilder struct {
	bin, dir, packages, key string
}

func newSeedBuilder(t *testing.T, work string) *seedBuilder {
	t.Helper()
	b := &seedBuilder{dir: filepath.Join(work, "build")}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.bin = filepath.Join(b.dir, "pgha-bundle")
	cmd := exec.Command("go", "build", "-o", b.bin, "./cmd/pgha-bundle")
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/pgha-bundle: %v\n%s", err, out)
	}
	b.packages, b.key = fixturePackages(t, filepath.Join(b.dir, "rpms"))
	return b
}

// build writes the spec with the given generation and builds the node's seed.
func (b *seedBuilder) build(t *testing.T, generation int) seed {
	t.Helper()
	spec := filepath.Join(b.dir, "cluster.yaml")
	if err := os.WriteFile(spec, []byte(specYAML(generation)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(b.dir, "out")
	args := []string{"build", "-f", spec, "--packages", b.packages, "--key", b.key, "--out", out,
		"--packages-media", "shared"}
	args = append(args, installArgFlags...)
	cmd := exec.Command(b.bin, args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgha-bundle %s: %v\n%s", strings.Join(args, " "), err, o)
	}
	built := filepath.Join(out, clusterName, "seeds", nodeName+".iso")
	iso := filepath.Join(filepath.Dir(b.dir), fmt.Sprintf("seed-g%d.iso", generation))
	if err := copyFile(built, iso); err != nil {
		t.Fatal(err)
	}
	files, err := bundleFILES(iso)
	if err != nil {
		t.Fatalf("seed %s: %v", iso, err)
	}
	m, err := manifest.Read(filepath.Join(out, clusterName))
	if err != nil {
		t.Fatal(err)
	}
	if m.PackagesMedia == nil {
		t.Fatal("the build names no packages media")
	}
	mediaISO := filepath.Join(filepath.Dir(b.dir), fmt.Sprintf("media-g%d.iso", generation))
	if err := copyFile(filepath.Join(out, clusterName, m.PackagesMedia.ISO), mediaISO); err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	for _, p := range m.Packages {
		pkgs = append(pkgs, p.Filename)
	}
	return seed{
		ISO:           iso,
		MediaISO:      mediaISO,
		MediaLabel:    m.PackagesMedia.Label,
		Packages:      pkgs,
		Files:         files,
		EtcdEndpoints: fmt.Sprintf("https://%s:%d", nodeAddr, portEtcd),
		PatroniURL:    fmt.Sprintf("https://%s:%d", nodeAddr, portAPI),
	}
}

// specYAML is the one-node cluster. network.mode static: the seed carries a
// network-config (version 2, as for EL8/EL9) that names the NIC by its MAC
// address, and cloud-init in the guest applies it to the qemu NIC of that
// MAC, which the kernel names ens*/enp*. The target stays an EL one, as the
// product supports only those; install.sh's OS check is overridden
// (installArgFlags). Patroni's watchdog is required: the guest's softdog,
// set by Patroni to ttl - safety_margin = 55 s. With the default ttl (25 s)
// a TCG guest on a loaded two-core machine was reset by its watchdog in
// the middle of a boot: Patroni's loop had not run for 25 s.
func specYAML(generation int) string {
	return fmt.Sprintf(`apiVersion: pgha-bundle/v1
cluster:
  name: %s
  os: el9
  arch: x86_64
  generation: %d
network:
  mode: static
  prefix: %d
  gateway: %s
nodes:
  - name: %s
    address: %s
    mac_address: %s
ports:
  haproxy_rw: %d
  patroni_api: %d
  etcd_client: %d
patroni:
  watchdog: required
  ttl: 60
`, clusterName, generation, nodePrefix, nodeGateway, nodeName, nodeAddr, nodeMAC, portRW, portAPI, portEtcd)
}

// withEL7NetworkConfig writes a copy of a built seed ISO whose
// network-config is the one pgha-bundle renders for an EL7 target of the
// same spec (version 1, mac_address): the boot that uses it shows cloud-init
// reading that form too. Everything else on the seed, bundle included, is
// the build's own.
func withEL7NetworkConfig(t *testing.T, b *seedBuilder, s seed, out string) seed {
	t.Helper()
	spec, ps, err := cluster.Load(filepath.Join(b.dir, "cluster.yaml"))
	if err != nil {
		t.Fatalf("load the e2e spec: %v\n%s", err, ps)
	}
	spec.Cluster.OS = "el7"
	el7, err := cloudinit.Render(cloudinit.Input{Spec: spec, Node: nodeName})
	if err != nil {
		t.Fatalf("render the EL7 network-config: %v", err)
	}
	if !bytes.HasPrefix(el7.NetworkConfig, []byte("version: 1\n")) {
		t.Fatalf("the EL7 network-config is not version 1:\n%s", el7.NetworkConfig)
	}
	files, err := cloudinit.ReadISO(s.ISO)
	if err != nil {
		t.Fatalf("read %s: %v", s.ISO, err)
	}
	var seed cloudinit.Seed
	bundle := filepath.Join(filepath.Dir(out), "bundle-of-"+filepath.Base(out)+".tgz")
	for _, f := range files {
		switch f.Name {
		case cloudinit.NameUserData, cloudinit.NameMetaData, cloudinit.NameNetworkConfig:
			data, err := f.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			switch f.Name {
			case cloudinit.NameUserData:
				seed.UserData = data
			case cloudinit.NameMetaData:
				seed.MetaData = data
			default:
				if !bytes.HasPrefix(data, []byte("version: 2\n")) {
					t.Fatalf("the built seed's network-config is not version 2:\n%s", data)
				}
			}
		case cloudinit.NameBundle:
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			w, err := os.Create(bundle)
			if err == nil {
				_, err = io.Copy(w, r)
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
			r.Close()
			if err != nil {
				t.Fatalf("copy the bundle out of %s: %v", s.ISO, err)
			}
			if seed.BundleSHA256, err = cloudinit.FileSHA256(bundle); err != nil {
				t.Fatal(err)
			}
		}
	}
	if seed.UserData == nil || seed.MetaData == nil || seed.BundleSHA256 == "" {
		t.Fatalf("%s lacks user-data, meta-data or the bundle", s.ISO)
	}
	seed.NetworkConfig = el7.NetworkConfig
	if _, err := cloudinit.WriteISO(out, seed, bundle, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	s.ISO = out
	return s
}

// bundleFILES reads bundle.tgz from the seed ISO, as the guest will, and
// returns its payload list ("MODE OWNER GROUP SHA256 PATH" lines: the
// "file" facts of its FACTS).
func bundleFILES(isoPath string) ([]byte, error) {
	f, err := os.Open(isoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := iso9660.OpenImage(f)
	if err != nil {
		return nil, fmt.Errorf("open iso: %w", err)
	}
	root, err := img.RootDir()
	if err != nil {
		return nil, fmt.Errorf("iso root: %w", err)
	}
	kids, err := root.GetChildren()
	if err != nil {
		return nil, fmt.Errorf("iso root: %w", err)
	}
	for _, k := range kids {
		if k.Name() != "bundle.tgz" {
			continue
		}
		zr, err := gzip.NewReader(k.Reader())
		if err != nil {
			return nil, fmt.Errorf("bundle.tgz: %w", err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("bundle.tgz: %w", err)
			}
			if path.Base(h.Name) == layout.BundleFacts && strings.Count(strings.Trim(h.Name, "/"), "/") == 1 {
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, err
				}
				lines, err := layout.ParseFacts(b)
				if err != nil {
					return nil, fmt.Errorf("bundle.tgz: %w", err)
				}
				var out []byte
				for _, l := range lines {
					if l[0] == "file" {
						out = append(out, strings.Join(l[1:], " ")+"\n"...)
					}
				}
				return out, nil
			}
		}
		return nil, errors.New("bundle.tgz has no FACTS")
	}
	return nil, errors.New("no bundle.tgz on the seed")
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
