package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// treeHash is the sha256 of every path, mode and content under dir: equal
// before and after a command that must not change anything.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := p + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			line += " " + hex.EncodeToString(s[:])
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	s := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(s[:])
}

// TestReaderErrors gives inspect, diff, verify and build files that are not
// what they should be: each gets exit status 2 and a message naming the file
// and saying what is wrong, and nothing on disk changes. On main the damaged
// ISO made inspect and diff panic inside kdomanski/iso9660, a truncated ISO
// said "iso f.iso: EOF" and a text key file "tag byte does not have MSB set".
func TestReaderErrors(t *testing.T) {
	b := makeBuildsOnce(t)
	dir := t.TempDir()
	t.Chdir(dir)
	iso, err := os.ReadFile(filepath.Join(b.root, "base/demo/seeds/pg1.iso"))
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := os.ReadFile(filepath.Join(b.root, "base/demo/bundles/pg1.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	// The root directory's extent moved beyond the end of the image (both
	// byte orders, so only the bounds are wrong).
	farRoot := bytes.Clone(iso)
	binary.LittleEndian.PutUint32(farRoot[16*2048+156+2:], 5000)
	binary.BigEndian.PutUint32(farRoot[16*2048+156+6:], 5000)
	// The bundle inside the seed cut short: the ISO is whole, its bundle.tgz
	// is not (its last 4 KiB zeroed).
	files := map[string][]byte{
		"half.iso":      iso[:len(iso)/2],
		"short.iso":     iso[:1000],
		"empty.iso":     nil,
		"text.iso":      []byte("hello\n"),
		"far-root.iso":  farRoot,
		"good.iso":      iso,
		"half.tar.gz":   tgz[:len(tgz)/2],
		"text.tar.gz":   []byte("hello\n"),
		"raw.tgz":       bytes.Repeat([]byte("not gzip "), 100),
		"notakey.asc":   []byte("hello\n"),
		"signature.asc": []byte("-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const (
		notISO    = "not a complete ISO 9660 image (truncated? not an ISO?)"
		notBundle = "not a complete gzip-compressed tar archive (truncated? not a bundle?)"
		keyHint   = "a key file holds an armored key (\"-----BEGIN PGP PUBLIC KEY BLOCK-----\""
	)
	specPath := absSpec(t, "base.yaml")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"truncated iso", []string{"inspect", "half.iso"}, []string{"iso half.iso: " + notISO + ": the volume holds"}},
		{"iso cut in its system area", []string{"inspect", "short.iso"}, []string{"iso short.iso: " + notISO + ": the file has 1000 bytes"}},
		{"empty iso", []string{"inspect", "empty.iso"}, []string{"iso empty.iso: " + notISO}},
		{"text as iso", []string{"inspect", "text.iso"}, []string{"iso text.iso: " + notISO}},
		{"damaged iso (panicked)", []string{"inspect", "far-root.iso"}, []string{"iso far-root.iso: damaged ISO 9660 image: root directory record: its extent (2048 bytes at byte 10240000) ends beyond the file's"}},
		{"diff damaged iso (panicked)", []string{"diff", "far-root.iso", "good.iso"}, []string{"iso far-root.iso: damaged ISO 9660 image"}},
		{"diff truncated iso", []string{"diff", "good.iso", "half.iso"}, []string{"iso half.iso: " + notISO}},
		{"truncated bundle", []string{"inspect", "half.tar.gz"}, []string{"bundle half.tar.gz: " + notBundle + ": it ends inside "}},
		{"text as bundle", []string{"inspect", "text.tar.gz"}, []string{"bundle text.tar.gz: " + notBundle + ": it is shorter than a gzip header"}},
		{"not gzip", []string{"inspect", "raw.tgz"}, []string{"bundle raw.tgz: " + notBundle + ": no gzip header at its start"}},
		{"text key, verify", []string{"verify", "--key", "notakey.asc", "good.iso"}, []string{"key notakey.asc: not an OpenPGP public key: neither an armored block nor a binary OpenPGP packet", keyHint, "gpg --export"}},
		{"signature as key, verify", []string{"verify", "--key", "signature.asc", "good.iso"}, []string{`key signature.asc: not an OpenPGP public key: an armored "PGP SIGNATURE" block`, keyHint}},
		{"text key, build", []string{"build", "-f", specPath, "--packages", filepath.Join(b.root, "pkgs-15.4"), "--key", "notakey.asc", "--secrets", "s.yaml", "--out", "out"},
			[]string{"key notakey.asc: not an OpenPGP public key", keyHint}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := treeHash(t, dir)
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, bad := range []string{"panic", "goroutine", "MSB", ": EOF"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr holds %q:\n%s", bad, stderr)
				}
			}
			if after := treeHash(t, dir); after != before {
				t.Error("the command changed files on disk")
			}
		})
	}
}

// absSpec is the absolute path of a spec under diff/testdata/specs.
func absSpec(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(testDir, specDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testDir is the package directory, taken before any test changes it.
var testDir, _ = os.Getwd()

// TestPanicIsReportedAsBug injects a command that panics: run reports an
// internal error with the stack and exit status 70, distinct from every
// answer about the input.
func TestPanicIsReportedAsBug(t *testing.T) {
	defer func(f func() []*cli.Command) { commandList = f }(commandList)
	commandList = func() []*cli.Command {
		return append(commands(), &cli.Command{
			Name: "boom",
			Action: func(*cli.Context) error {
				var m map[string]int
				m["x"] = 1 // a nil map write: a runtime panic, as a bug would give
				return nil
			},
		})
	}
	code, stdout, stderr := runCLI(t, "boom")
	if code != exitInternal || code == exitOK || code == exitFailed || code == exitUsage {
		t.Errorf("exit %d, want %d", code, exitInternal)
	}
	for _, w := range []string{
		"pgha-bundle: internal error (a bug in pgha-bundle, please report it): assignment to entry in nil map",
		"goroutine ", "readers_test.go", // the stack, down to the panic
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout: %q", stdout)
	}
	// The help documents the code.
	if _, out, _ := runCLI(t, "--help"); !strings.Contains(out, "70 internal error, a bug in pgha-bundle") {
		t.Errorf("--help does not document exit status 70:\n%s", out)
	}
}
