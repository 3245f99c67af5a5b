package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// fixturePackages is one signed el7 package set shared by the tests of this
// package (making a key and the RPMs takes seconds): its directory and key.
var fixturePackages = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "pgha-cli-rpms-")
	if err != nil {
		return "", err
	}
	buildRoots = append(buildRoots, dir) // removed by TestMain
	key, err := fixture.NewKeyFromSeed("cli test", []byte("cli test"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "KEY"), key.ArmoredPublic(), 0o644); err != nil {
		return "", err
	}
	pkgs := filepath.Join(dir, "rpms")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		return "", err
	}
	if _, err := fixture.WriteSet(pkgs, fixture.EL7Components(), key); err != nil {
		return "", err
	}
	return dir, nil
})

// packagesAndKey returns the shared fixture packages directory and key file.
func packagesAndKey(t *testing.T) (pkgs, key string) {
	t.Helper()
	dir, err := fixturePackages()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "rpms"), filepath.Join(dir, "KEY")
}
