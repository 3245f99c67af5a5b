//go:build e2e

package boot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// installArgFlags pass install.sh's test-only overrides through the build:
// the OS check (the product targets EL, the image is Debian), the package
// step (Debian's packages are preinstalled in the image: install.sh still
// checks the shared packages media the seed hands it), and shorter health
// waits than the production ones (900 s each), so that a service that never
// comes up fails the boot in minutes. The limits still leave TCG on a busy
// two-core machine several times what a healthy start takes.
var installArgFlags = []string{
	"--install-arg", "--skip-os-check", "--install-arg", "--no-packages",
	"--install-arg", "--timeout-etcd", "--install-arg", "180",
	"--install-arg", "--timeout-patroni", "--install-arg", "420",
	"--install-arg", "--timeout-haproxy", "--install-arg", "180",
}

// healthWait is how long, in seconds, the guest's checks poll etcd, Patroni
// and HAProxy's read-write port once cloud-init has finished: at once after
// an install, and on a boot without one the time the enabled units take to
// bring the cluster back.
const healthWait = 300

// fixturePackages writes the Debian-layout fixture RPMs (file lists at the
// paths Debian installs the programs to, so the generated configs name the
// binaries the image has), signed with a fresh key, and that key.
func fixturePackages(t *testing.T, dir string) (pkgDir, keyPath string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey("pgha-bundle e2e boot")
	if err != nil {
		t.Fatalf("fixture key: %v", err)
	}
	if _, err := fixture.WriteSet(dir, fixture.DebianComponents("el9", "x86_64"), key); err != nil {
		t.Fatalf("fixture packages: %v", err)
	}
	armored := key.ArmoredPublic()
	keyPath = filepath.Join(filepath.Dir(dir), "RPM-GPG-KEY-e2e")
	if err := os.WriteFile(keyPath, armored, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, keyPath
}
