//go:build e2e

package boot

import "testing"

// installArgFlags pass install.sh's test-only overrides through the build:
// the OS check (the product targets EL, the image is Debian) and the package
// step (Debian's packages are preinstalled in the image).
var installArgFlags = []string{"--install-arg", "--skip-os-check", "--install-arg", "--no-packages"}

// fixturePackages writes the Debian-layout fixture RPMs and their signing
// key, returning the package directory and the key's path.
func fixturePackages(t *testing.T, dir string) (pkgDir, key string) {
	t.Helper()
	t.Fatal("the Debian-layout fixture RPMs (internal/fixture) are not available yet")
	return "", ""
}
