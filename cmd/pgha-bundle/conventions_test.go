package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

func TestFlagsFirst(t *testing.T) {
	cmds := commands()
	tests := []struct {
		in, want string
	}{
		{"verify a.rpm b.rpm --key K", "verify --key K a.rpm b.rpm"},
		{"verify a.rpm --key=K b.rpm --os el9", "verify --key=K --os el9 a.rpm b.rpm"},
		{"diff A B --stat --format json", "diff --stat --format json A B"},
		{"diff --stat A B", "diff --stat A B"},
		{"validate -f - --strict", "validate -f - --strict"},
		{"inspect x.iso --show-secrets node1:/etc/f", "inspect --show-secrets x.iso node1:/etc/f"},
		{"diff A -- -B --stat", "diff -- A -B --stat"},
		{"diff A B --stat --", "diff --stat -- A B"},
		{"verify a.rpm --unknown b.rpm", "verify --unknown a.rpm b.rpm"},
		{"verify -", "verify -"},
		{"nosuch a --b", "nosuch a --b"},
		{"verify", "verify"},
	}
	for _, tt := range tests {
		got := flagsFirst(append([]string{"pgha-bundle"}, strings.Fields(tt.in)...), cmds)
		want := append([]string{"pgha-bundle"}, strings.Fields(tt.want)...)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, want)
		}
	}
}

// A flag after the paths means what it means before them.
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	key, err := fixture.NewKeyFromSeed("order", []byte("flag order test key"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.asc")
	writeFile(t, keyFile, string(key.ArmoredPublic()))
	pkg, err := fixture.WriteRPM(dir, fixture.Package{Name: "nine", Version: "1", Release: "1.el9", Arch: "x86_64"}, key)
	if err != nil {
		t.Fatal(err)
	}
	code1, out1, err1 := runCLI(t, "verify", "--key", keyFile, "--os", "el9", pkg)
	code2, out2, err2 := runCLI(t, "verify", pkg, "--key", keyFile, "--os=el9")
	if code1 != 0 || !strings.Contains(out1, "signature=verified") || code2 != code1 || out2 != out1 || err2 != err1 {
		t.Errorf("before: exit %d %q %q\nafter: exit %d %q %q", code1, out1, err1, code2, out2, err2)
	}
	spec := filepath.Join(t.TempDir(), "c.yaml")
	if code, _, errOut := runCLI(t, "init", "-o", spec); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, errOut := runCLI(t, "validate", "-f", spec, "--strict"); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("validate -f X --strict: exit %d %q %q", code, out, errOut)
	}
}

func TestUnknownCommand(t *testing.T) {
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"valdate"}, "pgha-bundle: unknown command \"valdate\"; did you mean \"validate\"? (see: pgha-bundle help)\n"},
		{[]string{"biuld", "-f", "x"}, "pgha-bundle: unknown command \"biuld\"; did you mean \"build\"? (see: pgha-bundle help)\n"},
		{[]string{"insp"}, "pgha-bundle: unknown command \"insp\"; did you mean \"inspect\"? (see: pgha-bundle help)\n"},
		{[]string{"frobnicate"}, "pgha-bundle: unknown command \"frobnicate\" (see: pgha-bundle help)\n"},
		{[]string{"help", "verfy"}, "pgha-bundle: No help topic for 'verfy'. Did you mean \"verify\"?\n"},
		{[]string{"help", "frobnicate"}, "pgha-bundle: No help topic for 'frobnicate'\n"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != 2 || out != "" || errOut != tt.stderr {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, %q", tt.args, code, out, errOut, tt.stderr)
		}
	}
}

func TestHelpCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "help")
	if code != 0 || errOut != "" {
		t.Fatalf("help: exit %d, stderr %q", code, errOut)
	}
	testutil.Golden(t, "testdata/help/pgha-bundle.txt", []byte(out))
	if _, same, _ := runCLI(t, "--help"); same != out {
		t.Error("help and --help differ")
	}
	if _, none, _ := runCLI(t); none != out {
		t.Error("no arguments does not show the help")
	}
	code, out, _ = runCLI(t, "help", "init")
	want, err := os.ReadFile("testdata/help/init.txt")
	if code != 0 || err != nil || out != string(want) {
		t.Errorf("help init: exit %d, differs from init --help (%v):\n%s", code, err, out)
	}
}

// withStdin runs f with data as the standard input `-f -` reads.
func withStdin(t *testing.T, data string, f func()) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(data)
	defer func() { stdin = old }()
	f()
}

func TestSpecFromStdin(t *testing.T) {
	withStdin(t, string(cluster.Example()), func() {
		code, out, errOut := runCLI(t, "validate", "--strict", "-f", "-")
		if code != 0 || out != "<stdin>: valid: 3 nodes, 0 warnings\n" || errOut != "" {
			t.Errorf("valid: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	withStdin(t, strings.Replace(string(cluster.Example()), "os: el7", "os: el6", 1), func() {
		code, out, errOut := runCLI(t, "validate", "-f", "-")
		if code != 2 || out != "<stdin>: invalid: 1 error, 0 warnings\n" || !strings.HasPrefix(errOut, "<stdin>:11:7: ") {
			t.Errorf("invalid: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}

// TestBuildFromStdin: build -f - renders what build -f FILE does (the same
// node files, byte for byte), needs --secrets, and names the spec <stdin>.
func TestBuildFromStdin(t *testing.T) {
	pkgs, key := packagesAndKey(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	sec := filepath.Join(dir, "s.yaml")
	fromFile, fromStdin := filepath.Join(dir, "file"), filepath.Join(dir, "stdin")
	for _, d := range []string{fromFile, fromStdin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := runCLI(t, "build", "-q", "-f", spec, "--packages", pkgs, "--key", key, "--secrets", sec, "--out", fromFile); code != 0 {
		t.Fatalf("build -f FILE: exit %d: %s", code, errOut)
	}
	withStdin(t, string(cluster.Example()), func() {
		code, stdout, errOut := runCLI(t, "build", "-f", "-", "--packages", pkgs, "--key", key, "--out", fromStdin)
		if code != 2 || stdout != "" || !strings.Contains(errOut, "--secrets FILE") {
			t.Errorf("build -f - without --secrets: exit %d, stdout %q, stderr %q", code, stdout, errOut)
		}
		if left, _ := os.ReadDir(fromStdin); len(left) != 0 {
			t.Errorf("a refused build -f - wrote %v", left)
		}
	})
	withStdin(t, string(cluster.Example()), func() {
		code, stdout, errOut := runCLI(t, "build", "-f", "-", "--packages", pkgs, "--key", key, "--secrets", sec, "--out", fromStdin)
		if code != 0 || !strings.Contains(stdout, "==> load spec <stdin>") {
			t.Fatalf("build -f -: exit %d, stdout %q, stderr %q", code, stdout, errOut)
		}
	})
	withStdin(t, strings.Replace(string(cluster.Example()), "os: el7", "os: el6", 1), func() {
		code, _, errOut := runCLI(t, "build", "-f", "-", "--packages", pkgs, "--key", key, "--secrets", sec, "--out", fromStdin)
		if code != 2 || !strings.HasPrefix(errOut, "<stdin>:11:7: ") {
			t.Errorf("build -f - of an invalid spec: exit %d, stderr %q", code, errOut)
		}
	})
	a, b := treeDigest(t, filepath.Join(fromFile, "pgcluster", "nodes")), treeDigest(t, filepath.Join(fromStdin, "pgcluster", "nodes"))
	if a != b || len(a) < 1000 {
		t.Errorf("the node files of build -f - differ from build -f FILE:\n%s\n%s", a, b)
	}
	m, err := os.ReadFile(filepath.Join(fromStdin, "pgcluster", "manifest.json"))
	if err != nil || !strings.Contains(string(m), `"name": "\u003cstdin\u003e"`) {
		t.Errorf("manifest of build -f - does not name the spec <stdin> (%v):\n%.600s", err, m)
	}
}

func TestQuiet(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "c.yaml")
	if code, out, errOut := runCLI(t, "init", "-q", "--network", "dhcp", "-o", spec); code != 0 || out != "" || errOut != "" {
		t.Errorf("init -q: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "validate", "--quiet", "-f", spec); code != 0 || out != "" || errOut != "" {
		t.Errorf("validate --quiet: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Problems are never silenced.
	writeFile(t, spec, strings.Replace(string(cluster.Example()), "os: el7", "os: el6", 1))
	code, out, errOut := runCLI(t, "validate", "-q", "-f", spec)
	if code != 2 || !strings.Contains(out, "invalid: 1 error") || !strings.Contains(errOut, "c.yaml:11:7: ") {
		t.Errorf("validate -q of an invalid spec: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// treeDigest lists every file under dir with its mode and sha256.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%v %x %s\n", fi.Mode(), sha256.Sum256(data), rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
