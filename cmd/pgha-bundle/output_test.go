package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// hashTree describes every entry under dir (type, mode, link target or
// content digest) by relative path: two calls agree only when nothing under
// dir changed.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(s[:])
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func treeChanges(before, after map[string]string) []string {
	var diffs []string
	for p, h := range before {
		if a, ok := after[p]; !ok {
			diffs = append(diffs, "-"+p)
		} else if a != h {
			diffs = append(diffs, "~"+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "+"+p)
		}
	}
	sort.Strings(diffs)
	return diffs
}

// outputCase is one directory with a spec, its secrets and an earlier build
// in out/pgcluster, made from packages shared by every case.
type outputCase struct {
	dir, spec, secrets, out, final string
	pkgs, key                      string
}

func (c *outputCase) args(extra ...string) []string {
	return append([]string{"build", "-f", c.spec, "--packages", c.pkgs, "--key", c.key, "--out", c.out}, extra...)
}

func (c *outputCase) write(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(c.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, content)
	return p
}

func (c *outputCase) editManifest(t *testing.T, from, to string) {
	t.Helper()
	p := filepath.Join(c.final, "manifest.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(from)) {
		t.Fatalf("test setup: manifest.json lacks %q", from)
	}
	writeFile(t, p, strings.Replace(string(b), from, to, 1))
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v\n%s", from, to, err, out)
	}
}

// TestBuildOutputRules: OUT/<cluster> is replaced only when it holds an
// earlier build of the cluster and no input; anything else stops the build
// with a message naming it, and nothing under the case's directory (spec,
// secrets file, output) changes.
func TestBuildOutputRules(t *testing.T) {
	shared := t.TempDir()
	pkgs := filepath.Join(shared, "rpms")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey("output test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(shared, "KEY")
	writeFile(t, keyFile, string(key.ArmoredPublic()))
	if _, err := fixture.WriteSet(pkgs, fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// setup changes the case after its first build and returns the
		// arguments; nil means c.args().
		setup func(t *testing.T, c *outputCase) []string
		code  int
		// stderr must hold each, with {final}, {out} and {dir} replaced.
		stderr []string
		// changed: the build may change the tree (a success).
		changed bool
	}{
		{"an earlier build is replaced", func(t *testing.T, c *outputCase) []string {
			return c.args("--install-arg", "--skip-os-check")
		}, 0, nil, true},
		{"an earlier build of a later manifest format is replaced", func(t *testing.T, c *outputCase) []string {
			c.editManifest(t, `"format": 1,`, `"format": 2, "signed_by": "someone",`)
			return nil
		}, 0, nil, true},
		{"first build makes OUT", func(t *testing.T, c *outputCase) []string {
			return c.args("--out", filepath.Join(c.dir, "new"))
		}, 0, nil, true},
		{"a directory the tool did not write", func(t *testing.T, c *outputCase) []string {
			os.RemoveAll(c.final)
			c.write(t, "out/pgcluster/notes.txt", "a user's notes")
			return nil
		}, 2, []string{"{final} was not written by pgha-bundle (it has no manifest.json), so a build of cluster pgcluster will not replace it; nothing was changed: move it away or build into another --out"}, false},
		{"an empty directory", func(t *testing.T, c *outputCase) []string {
			os.RemoveAll(c.final)
			os.Mkdir(c.final, 0o755)
			return nil
		}, 2, []string{"{final} was not written by pgha-bundle (it has no manifest.json)"}, false},
		{"a plain file", func(t *testing.T, c *outputCase) []string {
			os.RemoveAll(c.final)
			c.write(t, "out/pgcluster", "a user's file")
			return nil
		}, 2, []string{"{final} is a file, not a build of cluster pgcluster; nothing was changed: move it away or build into another --out"}, false},
		{"a symlink to a user's directory", func(t *testing.T, c *outputCase) []string {
			os.RemoveAll(c.final)
			c.write(t, "mine/notes.txt", "a user's notes")
			os.Symlink("../mine", c.final)
			return nil
		}, 2, []string{"{final} is a symbolic link (to ../mine), not a build of cluster pgcluster"}, false},
		{"a symlink to an earlier build", func(t *testing.T, c *outputCase) []string {
			os.Rename(c.final, filepath.Join(c.dir, "kept"))
			os.Symlink(filepath.Join(c.dir, "kept"), c.final)
			return nil
		}, 2, []string{"{final} is a symbolic link (to {dir}/kept), not a build of cluster pgcluster"}, false},
		{"a named pipe", func(t *testing.T, c *outputCase) []string {
			os.RemoveAll(c.final)
			if err := unix.Mkfifo(c.final, 0o644); err != nil {
				t.Fatal(err)
			}
			return nil
		}, 2, []string{"{final} is a named pipe, not a build of cluster pgcluster"}, false},
		{"a build of another cluster", func(t *testing.T, c *outputCase) []string {
			c.editManifest(t, `"cluster": "pgcluster"`, `"cluster": "other"`)
			return nil
		}, 2, []string{`{final} holds a build of cluster "other", not of "pgcluster"; nothing was changed: move it to {out}/other (or away), or build into another --out`}, false},
		{"a manifest of another tool", func(t *testing.T, c *outputCase) []string {
			c.editManifest(t, `"tool": "pgha-bundle"`, `"tool": "terraform"`)
			return nil
		}, 2, []string{`{final} holds a manifest.json written by "terraform", not by pgha-bundle; nothing was changed`}, false},
		{"a manifest that is not JSON", func(t *testing.T, c *outputCase) []string {
			writeFile(t, filepath.Join(c.final, "manifest.json"), "{\"tool\": \"pgha-bundle\",")
			return nil
		}, 2, []string{"{final} is not an earlier build of cluster pgcluster: its manifest.json is not valid JSON (unexpected end of JSON input)"}, false},
		{"a manifest without a format", func(t *testing.T, c *outputCase) []string {
			c.editManifest(t, `"format": 1,`, ``)
			return nil
		}, 2, []string{"{final} is not an earlier build of cluster pgcluster: its manifest.json has no format number"}, false},
		{"manifest.json is a directory", func(t *testing.T, c *outputCase) []string {
			os.Remove(filepath.Join(c.final, "manifest.json"))
			os.Mkdir(filepath.Join(c.final, "manifest.json"), 0o755)
			return nil
		}, 2, []string{"{final} is not an earlier build of cluster pgcluster: its manifest.json is a directory"}, false},
		{"an earlier build holding a user's file", func(t *testing.T, c *outputCase) []string {
			c.write(t, "out/pgcluster/nodes/NOTES", "a user's notes")
			return nil
		}, 2, []string{"{final} is a build of cluster pgcluster, but it also holds files no build wrote: nodes/NOTES; nothing was changed: move them out of the build directory, then build again"}, false},
		{"the spec inside the build", func(t *testing.T, c *outputCase) []string {
			b, _ := os.ReadFile(c.spec)
			c.spec = c.write(t, "out/pgcluster/cluster.yaml", string(b))
			return c.args("--secrets", c.secrets)
		}, 2, []string{"the spec {final}/cluster.yaml is inside {final}, which this build would replace; nothing was changed: move it out of the output directory, then build again"}, false},
		{"the spec reached through a symlink into the build", func(t *testing.T, c *outputCase) []string {
			b, _ := os.ReadFile(c.spec)
			inside := c.write(t, "out/pgcluster/cluster.yaml", string(b))
			link := filepath.Join(c.dir, "link.yaml")
			os.Symlink(inside, link)
			c.spec = link
			return c.args("--secrets", c.secrets)
		}, 2, []string{"the spec {dir}/link.yaml is inside {final}, which this build would replace"}, false},
		{"the secrets file inside the build", func(t *testing.T, c *outputCase) []string {
			b, _ := os.ReadFile(c.secrets)
			return c.args("--secrets", c.write(t, "out/pgcluster/cluster.secrets.yaml", string(b)))
		}, 2, []string{"the secrets file {final}/cluster.secrets.yaml is inside {final}, which this build would replace, and with it the cluster's CA key and passwords; nothing was changed"}, false},
		{"a new secrets file inside the build", func(t *testing.T, c *outputCase) []string {
			return c.args("--secrets", filepath.Join(c.final, "new.secrets.yaml"))
		}, 2, []string{"the secrets file {final}/new.secrets.yaml is inside {final}"}, false},
		{"the package directory inside the build", func(t *testing.T, c *outputCase) []string {
			copyTree(t, c.pkgs, filepath.Join(c.final, "rpms"))
			return c.args("--packages", filepath.Join(c.final, "rpms"))
		}, 2, []string{"the package directory {final}/rpms is inside {final}"}, false},
		{"the package directory is OUT/<cluster>", func(t *testing.T, c *outputCase) []string {
			return c.args("--packages", c.final)
		}, 2, []string{"the package directory {final} is inside {final}"}, false},
		{"a key inside the build", func(t *testing.T, c *outputCase) []string {
			b, _ := os.ReadFile(c.key)
			return c.args("--key", c.write(t, "out/pgcluster/KEY", string(b)))
		}, 2, []string{"the key {final}/KEY is inside {final}"}, false},
		{"the base-provides file inside the build", func(t *testing.T, c *outputCase) []string {
			return c.args("--base-provides", c.write(t, "out/pgcluster/provides.txt", "bash\n"))
		}, 2, []string{"the base-provides file {final}/provides.txt is inside {final}"}, false},
		{"OUT's parent is missing", func(t *testing.T, c *outputCase) []string {
			return c.args("--out", filepath.Join(c.dir, "missing", "out"))
		}, 2, []string{"output directory {dir}/missing/out does not exist, nor does its parent {dir}/missing; nothing was changed: create the parent first or fix --out"}, false},
		{"OUT is a file", func(t *testing.T, c *outputCase) []string {
			return c.args("--out", c.spec)
		}, 2, []string{"output {dir}/cluster.yaml is a file, not a directory; fix --out"}, false},
		{"an ancestor of OUT is a file", func(t *testing.T, c *outputCase) []string {
			return c.args("--out", filepath.Join(c.spec, "a", "out"))
		}, 2, []string{"output directory {dir}/cluster.yaml/a/out cannot be made: {dir}/cluster.yaml is a file, not a directory; nothing was changed: fix --out"}, false},
		{"another build holds the lock", func(t *testing.T, c *outputCase) []string {
			holdLock(t, filepath.Join(c.out, ".pgcluster.lock"), 4242)
			return nil
		}, 2, []string{"another build of cluster pgcluster into {out} is running (pid 4242, lock {out}/.pgcluster.lock): wait for it to finish, or build with --wait"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := &outputCase{dir: dir, spec: filepath.Join(dir, "cluster.yaml"), secrets: filepath.Join(dir, "cluster.secrets.yaml"),
				out: filepath.Join(dir, "out"), final: filepath.Join(dir, "out", "pgcluster"), pkgs: pkgs, key: keyFile}
			writeFile(t, c.spec, string(cluster.Example()))
			if code, stdout, stderr := runCLI(t, c.args()...); code != 0 {
				t.Fatalf("first build: exit %d\n%s%s", code, stdout, stderr)
			}
			args := tc.setup(t, c)
			if args == nil {
				args = c.args()
			}
			before := hashTree(t, dir)
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			r := strings.NewReplacer("{final}", c.final, "{out}", c.out, "{dir}", dir)
			for _, w := range tc.stderr {
				if w = r.Replace(w); !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks\n%s\nstderr:\n%s", w, stderr)
				}
			}
			if code != 0 {
				if !strings.Contains(stderr, "build failed; the previous output is unchanged") {
					t.Errorf("stderr lacks the summary:\n%s", stderr)
				}
				if strings.Contains(stdout, "==> verify packages") {
					t.Errorf("the packages were verified before the output was refused:\n%s", stdout)
				}
			}
			after := hashTree(t, dir)
			if d := treeChanges(before, after); !tc.changed && len(d) != 0 {
				t.Errorf("the refused build changed %v", d)
			}
			if tc.changed {
				if d := treeChanges(before, after); len(d) == 0 && !strings.Contains(tc.name, "later manifest") {
					t.Errorf("the build changed nothing")
				}
				// Only the builds remain: no temporary directory, marker or lock.
				for p := range after {
					if base := filepath.Base(p); strings.HasPrefix(base, ".pgcluster.") {
						t.Errorf("left behind: %s", p)
					}
				}
			}
		})
	}
}

// holdLock takes the build lock at path as another build would, with pid
// written in it, until the test ends.
func holdLock(t *testing.T, path string, pid int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%d\n", pid)
	t.Cleanup(func() { f.Close() })
	return f
}

// TestBuildWaitsAndIsInterrupted: with --wait a build waits for the lock's
// holder; SIGINT or SIGTERM while it waits stops it with 128+signal and a
// message, leaving everything as it was; once the lock is free it builds.
func TestBuildWaitsAndIsInterrupted(t *testing.T) {
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "rpms")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey("wait test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "KEY")
	writeFile(t, keyFile, string(key.ArmoredPublic()))
	if _, err := fixture.WriteSet(pkgs, fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	out := filepath.Join(dir, "out")
	args := []string{"pgha-bundle", "build", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", out, "--wait"}
	if code, _, stderr := runCLI(t, args[1:]...); code != 0 {
		t.Fatalf("first build: exit %d\n%s", code, stderr)
	}
	lock := holdLock(t, filepath.Join(out, ".pgcluster.lock"), 4343)
	before := hashTree(t, dir)

	start := func() (*testutil.SyncBuffer, *testutil.SyncBuffer, chan int) {
		var stdout, stderr testutil.SyncBuffer
		done := make(chan int, 1)
		go func() { done <- run(args, &stdout, &stderr) }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(stdout.String(), "==> waiting for the build running into "+filepath.Join(out, "pgcluster")+" (pid 4343, lock ") {
			if time.Now().After(deadline) {
				t.Fatalf("the build does not say it waits:\n%s%s", stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return &stdout, &stderr, done
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		_, stderr, done := start()
		// The build catches the signal: it is waiting, so its handler is installed.
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		code := <-done
		if code != 128+int(sig) {
			t.Fatalf("%v: exit %d, want %d\n%s", sig, code, 128+int(sig), stderr.String())
		}
		want := "pgha-bundle: build interrupted by " + unix.SignalName(sig) + ": its temporary directory was removed; the previous output is unchanged"
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("%v: stderr lacks %q:\n%s", sig, want, stderr.String())
		}
		if d := treeChanges(before, hashTree(t, dir)); len(d) != 0 {
			t.Fatalf("%v: the interrupted build changed %v", sig, d)
		}
	}

	stdout, stderr, done := start()
	time.Sleep(200 * time.Millisecond)
	select {
	case code := <-done:
		t.Fatalf("the build did not wait: exit %d\n%s", code, stderr.String())
	default:
	}
	lock.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d after the lock was freed\n%s%s", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, ".pgcluster.lock")); err == nil {
		t.Error("the lock file is left behind")
	}
}
