package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/media"
)

// withMedia turns in into a bundle of a shared-media build: its packages
// and keys go to a media tarball at dir/<name>, which the bundle pins.
func withMedia(t *testing.T, in *Input, dir, name string) string {
	t.Helper()
	mi := media.Input{Cluster: in.Cluster, Packages: in.Packages, Keys: in.Keys, Epoch: in.Epoch}
	d, err := media.Digest(mi)
	must(t, err)
	in.Media = &Media{Label: media.Label(in.Cluster), SHA256: d}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	must(t, err)
	must(t, media.WriteTar(f, mi))
	must(t, f.Close())
	return p
}

// TestBundleWithMediaCarriesNoPackages: the bundle lists the packages and
// names the media in manifest.json and FACTS, and holds no packages/.
func TestBundleWithMediaCarriesNoPackages(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	withMedia(t, &in, dir, "media.tar")
	p := writeBundle(t, dir, in)
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	must(t, err)
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		must(t, err)
		rel := strings.TrimPrefix(h.Name, "demo-pg2/")
		if strings.HasPrefix(rel, "packages") {
			t.Errorf("the bundle holds %s", h.Name)
		}
		files[rel], _ = io.ReadAll(tr)
	}
	want := "packages_media " + in.Media.Label + " " + in.Media.SHA256 + "\n"
	if !bytes.Contains(files["FACTS"], []byte(want)) || !bytes.Contains(files["FACTS"], []byte("package etcd etcd-3.5.12-1.el9.x86_64 ")) {
		t.Errorf("FACTS lacks %q or the packages:\n%s", want, files["FACTS"])
	}
	if !bytes.Contains(files["manifest.json"], []byte(`"packages_media": {`)) {
		t.Errorf("manifest.json does not name the media:\n%s", files["manifest.json"])
	}
	if size, err := Size(in); err != nil || size != fileSize(t, p) {
		t.Errorf("Size says %d (%v), the bundle has %d bytes", size, err, fileSize(t, p))
	}
	b, err := Read(p)
	must(t, err)
	if b.Manifest.PackagesMedia == nil || *b.Manifest.PackagesMedia != *in.Media || len(b.Manifest.Packages) != 3 {
		t.Errorf("Read: media %v, %d packages", b.Manifest.PackagesMedia, len(b.Manifest.Packages))
	}
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	must(t, err)
	return fi.Size()
}

// TestInstallFromMedia runs install.sh of a bundle that names a shared
// media, with the media given as a tarball, as a directory, found by its
// label, or not at all, intact or tampered with.
func TestInstallFromMedia(t *testing.T) {
	t.Parallel()
	extracted := func(t *testing.T, h *host, tarball string) string {
		d := filepath.Join(h.dir, "extracted")
		must(t, os.MkdirAll(d, 0o755))
		if out, err := exec.Command("tar", "-xf", tarball, "-C", d).CombinedOutput(); err != nil {
			t.Fatalf("tar -x: %v\n%s", err, out)
		}
		return d
	}
	appendTo := func(t *testing.T, p, s string) {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteString(s)
		must(t, err)
		must(t, f.Close())
	}
	cases := []struct {
		name string
		// setup returns install.sh's arguments.
		setup func(t *testing.T, h *host, tarball string) []string
		want  string // in the output of a refused install; "" when it succeeds
		from  string // where dnf takes the packages from, below h.dir
	}{
		{name: "tarball", setup: func(t *testing.T, h *host, tarball string) []string {
			return []string{"--packages-media", tarball}
		}, from: "tmp/pgha-media."},
		{name: "extracted tarball", setup: func(t *testing.T, h *host, tarball string) []string {
			return []string{"--packages-media", extracted(t, h, tarball)}
		}, from: "extracted/demo-packages/packages/"},
		{name: "mounted media", setup: func(t *testing.T, h *host, tarball string) []string {
			return []string{"--packages-media", filepath.Join(extracted(t, h, tarball), "demo-packages")}
		}, from: "extracted/demo-packages/packages/"},
		{name: "by label", setup: func(t *testing.T, h *host, tarball string) []string {
			writeFile(t, h.state+"/blkid-"+media.Label("demo"), filepath.Join(extracted(t, h, tarball), "demo-packages")+"\n")
			return nil
		}, from: "tmp/pgha-media."},
		{name: "no media", setup: func(t *testing.T, h *host, tarball string) []string { return nil },
			want: "this bundle's packages are on the media labelled " + media.Label("demo") + " and no device has that label"},
		{name: "media does not mount", setup: func(t *testing.T, h *host, tarball string) []string {
			writeFile(t, h.state+"/blkid-"+media.Label("demo"), "/dev/sr1\n")
			writeFile(t, h.state+"/fail-mount", "")
			return nil
		}, want: "cannot mount /dev/sr1"},
		{name: "tampered package", setup: func(t *testing.T, h *host, tarball string) []string {
			d := extracted(t, h, tarball)
			appendTo(t, d+"/demo-packages/packages/etcd-3.5.12-1.el9.x86_64.rpm", "x")
			return []string{"--packages-media", d}
		}, want: "does not match its SHA256SUMS: it is damaged or was altered"},
		{name: "tampered package by label", setup: func(t *testing.T, h *host, tarball string) []string {
			d := extracted(t, h, tarball)
			appendTo(t, d+"/demo-packages/packages/etcd-3.5.12-1.el9.x86_64.rpm", "x")
			writeFile(t, h.state+"/blkid-"+media.Label("demo"), d+"/demo-packages\n")
			return nil
		}, want: "does not match its SHA256SUMS: it is damaged or was altered"},
		{name: "tampered package and sums", setup: func(t *testing.T, h *host, tarball string) []string {
			d := extracted(t, h, tarball) + "/demo-packages"
			appendTo(t, d+"/packages/etcd-3.5.12-1.el9.x86_64.rpm", "x")
			sums, err := exec.Command("sh", "-c", "cd "+d+" && sha256sum packages/*.rpm packages/keys/*").Output()
			must(t, err)
			writeFile(t, d+"/SHA256SUMS", string(sums))
			return []string{"--packages-media", d}
		}, want: "is not the one this bundle was built for: its SHA256SUMS has sha256"},
		{name: "another build's media", setup: func(t *testing.T, h *host, tarball string) []string {
			other := testInput(t, t.TempDir())
			other.Packages[1] = fakePackage(t, t.TempDir(), "etcd", "etcd-3.5.13-1.el9.x86_64", 2000)
			return []string{"--packages-media", withMedia(t, &other, h.dir, "other.tar")}
		}, want: "is not the one this bundle was built for"},
		{name: "not a tarball", setup: func(t *testing.T, h *host, tarball string) []string {
			writeFile(t, h.dir+"/junk.tar", "junk\n")
			return []string{"--packages-media", h.dir + "/junk.tar"}
		}, want: "its SHA256SUMS has sha256 (none: no demo-packages/SHA256SUMS), the bundle pins"},
		{name: "not a media", setup: func(t *testing.T, h *host, tarball string) []string {
			return []string{"--packages-media", h.state}
		}, want: "holds no SHA256SUMS: not a packages media"},
		{name: "tarball with members beyond its sums", setup: func(t *testing.T, h *host, tarball string) []string {
			// A link out of the tree, then a file through it: only the
			// members SHA256SUMS lists may be extracted.
			outside := filepath.Join(h.dir, "outside")
			must(t, os.MkdirAll(outside, 0o755))
			extra := filepath.Join(h.dir, "extra")
			must(t, os.MkdirAll(filepath.Join(extra, "demo-packages"), 0o755))
			must(t, os.Symlink(outside, filepath.Join(extra, "demo-packages", "escape")))
			if out, err := exec.Command("tar", "-rf", tarball, "-C", extra, "demo-packages/escape").CombinedOutput(); err != nil {
				t.Fatalf("tar -r: %v\n%s", err, out)
			}
			must(t, os.Remove(filepath.Join(extra, "demo-packages", "escape")))
			must(t, os.MkdirAll(filepath.Join(extra, "demo-packages", "escape"), 0o755))
			must(t, os.WriteFile(filepath.Join(extra, "demo-packages", "escape", "owned"), []byte("x"), 0o644))
			if out, err := exec.Command("tar", "-rf", tarball, "-C", extra, "demo-packages/escape/owned").CombinedOutput(); err != nil {
				t.Fatalf("tar -r: %v\n%s", err, out)
			}
			t.Cleanup(func() {
				if _, err := os.Stat(filepath.Join(outside, "owned")); err == nil {
					t.Errorf("install.sh extracted a member SHA256SUMS does not list, through a link, out of its directory")
				}
			})
			return []string{"--packages-media", tarball}
		}, from: "tmp/pgha-media."},
		{name: "missing path", setup: func(t *testing.T, h *host, tarball string) []string {
			return []string{"--packages-media", h.dir + "/nowhere.tar"}
		}, want: "no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			tmp := filepath.Join(h.dir, "tmp")
			must(t, os.MkdirAll(tmp, 0o755))
			h.env = append(h.env, "TMPDIR="+tmp)
			in := testInput(t, h.dir)
			tarball := withMedia(t, &in, h.dir, "demo-packages.tar")
			h.extract(in)
			out, code := h.run("install.sh", tc.setup(t, h, tarball)...)
			calls := h.calls()
			if tc.want != "" {
				if code == 0 || !strings.Contains(out, tc.want) {
					t.Fatalf("exit %d, want a refusal saying %q\n%s", code, tc.want, out)
				}
				if m := mutating(calls); len(m) > 0 {
					t.Errorf("a refused install changed the host: %v", m)
				}
			} else {
				if code != 0 {
					t.Fatalf("install exit %d\n%s\n%s", code, out, strings.Join(calls, "\n"))
				}
				dnf := ""
				for _, c := range calls {
					if strings.HasPrefix(c, "dnf ") {
						dnf = c
					}
				}
				for _, p := range in.Packages {
					if !strings.Contains(dnf, filepath.Join(h.dir, tc.from)) || !strings.Contains(dnf, "/packages/"+p.Filename) {
						t.Errorf("dnf does not install %s from %s: %q", p.Filename, tc.from, dnf)
					}
				}
				if strings.Count(strings.Join(calls, "\n"), "rpm --dbpath") < len(in.Packages) {
					t.Errorf("the media's packages were not checked with rpm -K:\n%s", strings.Join(calls, "\n"))
				}
			}
			// What the run mounted is unmounted, what it extracted removed.
			if left, _ := filepath.Glob(tmp + "/pgha-media.*"); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			mounted, _ := os.ReadFile(h.state + "/mounted")
			unmounted, _ := os.ReadFile(h.state + "/unmounted")
			if string(mounted) != string(unmounted) {
				t.Errorf("mounted %q, unmounted %q", mounted, unmounted)
			}
		})
	}
}

// TestInstallMediaOptions: --packages-media names a media only for a bundle
// built with one; --no-packages needs no media unless one is given.
func TestInstallMediaOptions(t *testing.T) {
	t.Parallel()
	t.Run("per-node bundle", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		h.extract(testInput(t, h.dir))
		out, code := h.run("install.sh", "--packages-media", h.dir+"/x.tar")
		if want := "this bundle carries its own packages"; code == 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q\n%s", code, want, out)
		}
	})
	t.Run("no packages", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		in := testInput(t, h.dir)
		withMedia(t, &in, h.dir, "m.tar")
		h.extract(in)
		out, code := h.run("install.sh", "--no-packages")
		if want := "--no-packages: the packages media " + media.Label("demo") + " is not needed"; code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q\n%s", code, want, out)
		}
	})
	t.Run("no packages, media given", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		in := testInput(t, h.dir)
		tarball := withMedia(t, &in, h.dir, "m.tar")
		h.extract(in)
		out, code := h.run("install.sh", "--no-packages", "--packages-media", tarball)
		if want := "every file on the media matches it"; code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q\n%s", code, want, out)
		}
		for _, c := range h.calls() {
			if strings.HasPrefix(c, "dnf ") {
				t.Errorf("--no-packages installed: %s", c)
			}
		}
	})
}

// TestUpgradeFromMedia: upgrade.sh installs a newer package from the next
// build's media, and refuses the previous build's.
func TestUpgradeFromMedia(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	in := testInput(t, h.dir)
	v1 := withMedia(t, &in, h.dir, "v1.tar")
	h.extract(in)
	if out, code := h.run("install.sh", "--packages-media", v1); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	v2 := newer(t, h, in, "v2", func(n *Input) {
		n.Packages[1] = fakePackage(t, h.dir, "etcd", "etcd-3.5.13-1.el9.x86_64", 2000)
	})
	v2tar := withMedia(t, &v2, h.dir, "v2.tar")
	h.extract(v2)
	out, code := h.run("upgrade.sh", "--packages-media", v1)
	if want := "is not the one this bundle was built for"; code == 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want %q\n%s", code, want, out)
	}
	if m := mutating(h.calls()); len(m) > 0 {
		t.Errorf("a refused upgrade changed the host: %v", m)
	}
	out, code = h.run("upgrade.sh", "--packages-media", v2tar)
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	installed := false
	for _, c := range h.calls() {
		installed = installed || strings.HasPrefix(c, "dnf ") && strings.Contains(c, "/demo-packages/packages/etcd-3.5.13-1.el9.x86_64.rpm")
	}
	if !installed {
		t.Errorf("etcd 3.5.13 not installed from the media:\n%s", strings.Join(h.calls(), "\n"))
	}
	r, _ := h.receipt()
	for _, p := range r.Packages {
		if p.Name == "etcd" && p.NEVRA != "etcd-3.5.13-1.el9.x86_64" {
			t.Errorf("receipt etcd %s", p.NEVRA)
		}
	}
	// A configuration-only upgrade needs no media: every package is there.
	v3 := newer(t, h, v2, "v3", func(n *Input) { setContent(n, "/etc/patroni/patroni.yml", "v3\n") })
	h.extract(v3)
	out, code = h.run("upgrade.sh")
	if want := "every package is installed at the bundle's version or newer: the packages media " + v3.Media.Label + " is not needed"; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, want %q\n%s", code, want, out)
	}
}
