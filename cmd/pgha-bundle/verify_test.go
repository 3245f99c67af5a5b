package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// TestVerifyCommand runs verify in-process over a fixture set signed with
// seeded keys (so key ids, and the output, are stable) and compares stdout
// with snapshots; exit codes and stderr are asserted per case.
func TestVerifyCommand(t *testing.T) {
	key, err := fixture.NewKeyFromSeed("verify-test", []byte("verify command test key"))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := fixture.NewKeyFromSeed("stranger", []byte("verify command stranger key"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "RPM-GPG-KEY-test")
	writeFile(t, keyFile, string(key.ArmoredPublic()))
	good, err := fixture.WriteSet(dir, fixture.EL7Components(), key)
	if err != nil {
		t.Fatal(err)
	}
	pkg := func(p fixture.Package, k *fixture.Key) string {
		path, err := fixture.WriteRPM(dir, p, k)
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	unsigned := pkg(fixture.Package{Name: "unsigned", Version: "1", Release: "1.el7", Arch: "noarch"}, nil)
	other := pkg(fixture.Package{Name: "stranger", Version: "1", Release: "1.el7", Arch: "noarch"}, stranger)
	el9 := pkg(fixture.Package{Name: "nine", Version: "1", Release: "1.el9", Arch: "aarch64"}, key)
	tampered := filepath.Join(dir, "tampered-1-1.el7.x86_64.rpm")
	b, err := os.ReadFile(good[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 1
	writeFile(t, tampered, string(b))

	cases := []struct {
		name      string
		args      []string
		code      int
		golden    string // stdout snapshot under testdata/verify/
		stderrHas string
	}{
		{"all good", append([]string{"verify", "--key", keyFile, "--os", "el7", "--arch", "x86_64"}, good...), 0, "good.stdout", ""},
		{"every kind of failure", []string{"verify", "--key", keyFile, "--os", "el7", "--arch", "x86_64", good[1], unsigned, other, el9, tampered}, 1, "failures.stdout", "4 of 5 packages failed"},
		{"digests only", []string{"verify", good[0], unsigned, other}, 0, "nokeys.stdout", "signatures were NOT checked"},
		{"digests only, tampered", []string{"verify", tampered}, 1, "", "1 of 1 packages failed"},
		{"no package", []string{"verify", "--key", keyFile}, 2, "", "no package given"},
		{"missing package", []string{"verify", "--key", keyFile, good[0], filepath.Join(dir, "nope.rpm")}, 2, "", "nope.rpm: no such file"},
		{"unreadable key", []string{"verify", "--key", filepath.Join(dir, "nokey"), good[0]}, 2, "", "nokey"},
		{"not a key", []string{"verify", "--key", good[0], good[0]}, 2, "", "key " + good[0]},
		{"bad os", []string{"verify", "--os", "el6", good[0]}, 2, "", "want el7, el8 or el9"},
		{"bad arch", []string{"verify", "--arch", "i686", good[0]}, 2, "", "want x86_64 or aarch64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.golden != "" {
				testutil.Golden(t, filepath.Join("testdata", "verify", tc.golden), []byte(stdout))
			}
			if !strings.Contains(stderr, tc.stderrHas) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderrHas, stderr)
			}
		})
	}
}
