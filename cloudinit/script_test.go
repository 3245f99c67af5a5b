package cloudinit

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// writeTestBundle writes a .tgz whose <top>/install.sh records its arguments
// in /var/lib/pgha-bundle/install-args.
func writeTestBundle(t *testing.T, p, top string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	script := "#!/bin/bash\nprintf '%s\\n' \"$@\" >/var/lib/pgha-bundle/install-args\necho 'install ran'\n"
	for _, h := range []*tar.Header{
		{Name: top + "/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: top + "/install.sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(script))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write([]byte(script)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Close() error }{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return fileSum(t, p)
}

const (
	stubBlkid = `#!/bin/bash
[ "$*" = "-t LABEL=cidata -o device" ] || { echo "blkid stub: unexpected arguments: $*" >&2; exit 2; }
echo "$SEED_ISO"
`
	// The kernel here has no iso9660 driver: "mounting" extracts the image with xorriso.
	stubMount = `#!/bin/bash
[ "$#" -eq 4 ] && [ "$1 $2" = "-o ro" ] || { echo "mount stub: unexpected arguments: $*" >&2; exit 2; }
xorriso -osirrox on -indev "$3" -extract / "$4" >/dev/null 2>&1
`
	stubUmount = `#!/bin/bash
rm -rf "${1:?}"/*
`
)

// TestSeedScriptRuns runs the generated script as cloud-init would, as root
// in a private mount namespace where /etc/hosts, /run, /var/lib and /var/log
// are test directories and blkid/mount are stubs that find and read the real
// seed ISO. It checks the /etc/hosts merge (twice: the block is replaced,
// other lines kept), the bundle check, unpacking, install.sh and its
// arguments, and that cloud-init's output gets one line only.
func TestSeedScriptRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root in CI")
		}
		t.Skip("needs root for a private mount namespace")
	}
	unshare := testutil.NeedTool(t, "unshare", "util-linux")
	testutil.NeedTool(t, "xorriso", "xorriso")
	dir := t.TempDir()
	for _, d := range []string{"bin", "run", "varlib", "varlog"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"blkid": stubBlkid, "mount": stubMount, "umount": stubUmount} {
		if err := os.WriteFile(filepath.Join(dir, "bin", name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n# BEGIN pgha-bundle pgprod\n10.9.9.9 stale\n# END pgha-bundle pgprod\n::1 localhost6\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle.tgz")
	sum := writeTestBundle(t, bundle, "pgprod-pg1")
	spec := loadSpec(t, "el7-static")
	args := []string{"--skip-os-check", "--it's quoted"}
	seed := mustRender(t, Input{Spec: spec, Node: "pg1", BundleSHA256: sum, InstallArgs: args})
	iso := filepath.Join(dir, "pg1.iso")
	if _, err := WriteISO(iso, seed, bundle, testEpoch); err != nil {
		t.Fatal(err)
	}

	seedISO := iso
	run := func(ud []byte) (string, error) {
		script := filepath.Join(dir, "seed-install.sh")
		if err := os.WriteFile(script, []byte(seedScript(t, ud)), 0o700); err != nil {
			t.Fatal(err)
		}
		inner := `set -e
mount --make-rprivate /
mount --bind "$T/hosts" /etc/hosts
mount --bind "$T/run" /run
mount --bind "$T/varlib" /var/lib
mount --bind "$T/varlog" /var/log
PATH="$T/bin:$PATH" exec bash "$T/seed-install.sh"`
		cmd := exec.Command(unshare, "-m", "bash", "-c", inner)
		cmd.Env = append(os.Environ(), "T="+dir, "SEED_ISO="+seedISO)
		out, err := cmd.Output()
		return string(out), err
	}
	for i := 1; i <= 2; i++ {
		out, err := run(seed.UserData)
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "varlog/pgha-bundle/seed-install.log"))
			t.Fatalf("run %d: %v\n%s\nlog:\n%s", i, err, out, log)
		}
		if out != "pgha-bundle seed install done: see "+LogFile+"\n" {
			t.Errorf("run %d: cloud-init would log %q", i, out)
		}
	}
	got, err := os.ReadFile(hosts)
	if err != nil {
		t.Fatal(err)
	}
	wantHosts := "127.0.0.1 localhost\n::1 localhost6\n# BEGIN pgha-bundle pgprod\n" +
		"10.20.0.11 pg1.db.example.com pg1\n10.20.0.12 pg2.db.example.com pg2\n10.20.0.13 pg3.db.example.com pg3\n" +
		"# END pgha-bundle pgprod\n"
	if string(got) != wantHosts {
		t.Errorf("/etc/hosts:\n%s\nwant:\n%s", got, wantHosts)
	}
	gotArgs, err := os.ReadFile(filepath.Join(dir, "varlib/pgha-bundle/install-args"))
	if err != nil || string(gotArgs) != strings.Join(args, "\n")+"\n" {
		t.Errorf("install.sh arguments %q (%v), want %q", gotArgs, err, args)
	}
	if _, err := os.Stat(filepath.Join(dir, "varlib/pgha-bundle/bundle/pgprod-pg1/install.sh")); err != nil {
		t.Errorf("bundle not unpacked under %s: %v", BundleDir, err)
	}
	logPath := filepath.Join(dir, "varlog/pgha-bundle/seed-install.log")
	log, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(log), "sha256 verified") || !strings.Contains(string(log), "install ran") {
		t.Errorf("log: %v\n%s", err, log)
	}
	if fi, err := os.Stat(logPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, %v", fi.Mode(), err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "run"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pgha-") { // libmount's own mount/utab may be there
			t.Errorf("left in /run: %s", e.Name())
		}
	}

	// A seed whose recorded sha256 does not match the bundle must not run it.
	if err := os.Remove(filepath.Join(dir, "varlib/pgha-bundle/install-args")); err != nil {
		t.Fatal(err)
	}
	wrong := mustRender(t, Input{Spec: spec, Node: "pg1", BundleSHA256: strings.Repeat("ab", 32), InstallArgs: args})
	out, err := run(wrong.UserData)
	if err == nil || !strings.HasPrefix(out, "pgha-bundle seed install failed") {
		t.Errorf("a wrong sha256 did not fail: %v %q", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "varlib/pgha-bundle/install-args")); err == nil {
		t.Error("install.sh ran from a bundle that failed its check")
	}
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "the seed expects "+strings.Repeat("ab", 32)) {
		t.Errorf("log does not say why:\n%s", log)
	}

	// The seed's files extracted into cloud-init's NoCloud seed directory
	// (a host that cannot mount the ISO): the script takes the bundle from
	// there, and neither looks for nor mounts a device.
	seedDir := filepath.Join(dir, "varlib/cloud/seed/nocloud")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := ReadISO(iso)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(seedDir, f.Name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "mount"), []byte("#!/bin/sh\necho mount must not run >&2\nexit 9\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	seedISO = "" // blkid finds nothing
	if out, err := run(seed.UserData); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("from the seed directory: %v\n%s\nlog:\n%s", err, out, log)
	}
	if gotArgs, err := os.ReadFile(filepath.Join(dir, "varlib/pgha-bundle/install-args")); err != nil || string(gotArgs) != strings.Join(args, "\n")+"\n" {
		t.Errorf("from the seed directory: install.sh arguments %q (%v)", gotArgs, err)
	}
	if log, _ := os.ReadFile(logPath); !strings.Contains(string(log), "seed directory /var/lib/cloud/seed/nocloud holds bundle.tgz") {
		t.Errorf("the log does not name the seed directory:\n%s", log)
	}
}

// TestSeedScriptMedia runs the script of a seed whose bundle takes its
// packages from a shared media, as TestSeedScriptRuns does: the packages ISO
// is found by its label and mounted, its SHA256SUMS checked, and install.sh
// given its mount point; then unmounted. A media of another build stops the
// seed before install.sh; without the ISO, the media's tarball in a seed
// directory is handed over instead.
func TestSeedScriptMedia(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root in CI")
		}
		t.Skip("needs root for a private mount namespace")
	}
	unshare := testutil.NeedTool(t, "unshare", "util-linux")
	testutil.NeedTool(t, "xorriso", "xorriso")
	dir := t.TempDir()
	for _, d := range []string{"bin", "run", "varlib", "varlog"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	blkid := `#!/bin/bash
case "$*" in
"-t LABEL=cidata -o device") echo "$SEED_ISO" ;;
"-t LABEL=PGPROD_PKGS_0123ABCD -o device") [ -z "$MEDIA_ISO" ] || echo "$MEDIA_ISO" ;;
*) echo "blkid stub: unexpected arguments: $*" >&2; exit 2 ;;
esac
`
	for name, body := range map[string]string{"blkid": blkid, "mount": stubMount, "umount": stubUmount} {
		if err := os.WriteFile(filepath.Join(dir, "bin", name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rpmData := []byte("an rpm\n")
	sums := []byte(sha256Hex(rpmData) + "  packages/etcd-3.5.12-1.el9.x86_64.rpm\n")
	mediaISO := filepath.Join(dir, "media.iso")
	if _, err := WriteTreeISO(mediaISO, "PGPROD_PKGS_0123ABCD", []TreeFile{
		treeFile("SHA256SUMS", sums), treeFile("packages/etcd-3.5.12-1.el9.x86_64.rpm", rpmData),
	}, testEpoch); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "bundle.tgz")
	sum := writeTestBundle(t, bundle, "pgprod-pg1")
	spec := loadSpec(t, "el7-static")
	m := &PackagesMedia{Label: "PGPROD_PKGS_0123ABCD", SHA256: sha256Hex(sums), Tarball: "pgprod-packages.tar"}
	iso := filepath.Join(dir, "pg1.iso")
	run := func(media *PackagesMedia, mediaISO string) (string, string, error) {
		seed := mustRender(t, Input{Spec: spec, Node: "pg1", BundleSHA256: sum, InstallArgs: []string{"--no-packages"}, PackagesMedia: media})
		if _, err := WriteISO(iso, seed, bundle, testEpoch); err != nil {
			t.Fatal(err)
		}
		script := filepath.Join(dir, "seed-install.sh")
		if err := os.WriteFile(script, []byte(seedScript(t, seed.UserData)), 0o700); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "varlib/pgha-bundle/install-args"))
		inner := `set -e
mount --make-rprivate /
mount --bind "$T/hosts" /etc/hosts
mount --bind "$T/run" /run
mount --bind "$T/varlib" /var/lib
mount --bind "$T/varlog" /var/log
PATH="$T/bin:$PATH" exec bash "$T/seed-install.sh"`
		cmd := exec.Command(unshare, "-m", "bash", "-c", inner)
		cmd.Env = append(os.Environ(), "T="+dir, "SEED_ISO="+iso, "MEDIA_ISO="+mediaISO)
		out, err := cmd.Output()
		log, _ := os.ReadFile(filepath.Join(dir, "varlog/pgha-bundle/seed-install.log"))
		return string(out), string(log), err
	}
	installArgs := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "varlib/pgha-bundle/install-args"))
		return string(b)
	}

	out, log, err := run(m, mediaISO)
	if err != nil {
		t.Fatalf("%v\n%s\nlog:\n%s", err, out, log)
	}
	args := strings.Split(strings.TrimSpace(installArgs()), "\n")
	if len(args) != 3 || args[0] != "--no-packages" || args[1] != "--packages-media" || !strings.HasPrefix(args[2], "/run/pgha-media.") {
		t.Errorf("install.sh arguments %q, want --no-packages --packages-media /run/pgha-media.*", args)
	}
	if !strings.Contains(log, "packages media "+mediaISO+" (label PGPROD_PKGS_0123ABCD) mounted on /run/pgha-media.") {
		t.Errorf("the log does not say the media was mounted:\n%s", log)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "run"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pgha-") {
			t.Errorf("left in /run: %s", e.Name())
		}
	}

	// Another build's media: refused before install.sh runs.
	other := *m
	other.SHA256 = strings.Repeat("ef", 32)
	out, log, err = run(&other, mediaISO)
	if err == nil || !strings.HasPrefix(out, "pgha-bundle seed install failed") || installArgs() != "" {
		t.Errorf("another build's media: %v %q, install.sh arguments %q", err, out, installArgs())
	}
	if !strings.Contains(log, "the seed expects "+other.SHA256+": attach the packages ISO of this build") {
		t.Errorf("the log does not say why:\n%s", log)
	}

	// No packages ISO, no tarball: the seed says what to attach.
	out, log, err = run(m, "")
	if err == nil || !strings.Contains(log, "no device labelled PGPROD_PKGS_0123ABCD and no pgprod-packages.tar in a seed directory") || installArgs() != "" {
		t.Errorf("no media: %v %q\nlog:\n%s", err, out, log)
	}

	// The tarball in a seed directory stands in for the ISO.
	seedDir := filepath.Join(dir, "varlib/cloud/seed/nocloud")
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(seedDir, "pgprod-packages.tar"), []byte("tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, log, err = run(m, ""); err != nil {
		t.Fatalf("tarball: %v\n%s\nlog:\n%s", err, out, log)
	}
	if got := installArgs(); !strings.Contains(got, "--packages-media\n/var/lib/cloud/seed/nocloud/pgprod-packages.tar\n") {
		t.Errorf("install.sh arguments %q, want the tarball in the seed directory", got)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
