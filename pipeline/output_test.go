package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"golang.org/x/sys/unix"
)

// recordSteps builds o and returns the named steps it passed, in order.
func recordSteps(t *testing.T, o Options) []string {
	t.Helper()
	var steps []string
	o.step = func(s string) { steps = append(steps, s) }
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
	return steps
}

// dotEntries lists what a build may leave in OUT besides the builds.
func dotEntries(t *testing.T, out string) []string {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var dots []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			dots = append(dots, e.Name())
		}
	}
	return dots
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var diffs []string
	for p, h := range want {
		if got[p] != h {
			diffs = append(diffs, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, p+" (added)")
		}
	}
	sort.Strings(diffs)
	t.Fatalf("%s: %d files differ: %v", what, len(diffs), diffs)
}

// killEnv carries the killed build's inputs to the helper process.
const killEnv = "PGHA_BUNDLE_TEST_KILL"

// TestKilledBuildHelper is the build that TestKilledBuilds kills: it runs
// only in a helper process, and SIGKILLs itself at the named step.
func TestKilledBuildHelper(t *testing.T) {
	v := os.Getenv(killEnv)
	if v == "" {
		t.Skip("runs only as TestKilledBuilds' helper process")
	}
	f := strings.Split(v, "\n")
	e := &env{spec: f[0], out: f[1], pkgs: f[2], key: f[3]}
	o := e.opts()
	o.InstallArgs = []string{"--skip-os-check"}
	o.step = func(s string) {
		if s == f[4] {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
	fmt.Println("step never reached")
}

// TestKilledBuilds kills a build with SIGKILL at each of its named steps,
// spread from taking the output to the swap: the previous output and the
// secrets file are intact (or, once swapped, the new build is whole), and
// the next build succeeds and leaves no temporary directory.
func TestKilledBuilds(t *testing.T) {
	e := newEnv(t)
	oldOpts := e.opts()
	newOpts := e.opts()
	newOpts.InstallArgs = []string{"--skip-os-check"}
	res, err := Run(oldOpts)
	if err != nil {
		t.Fatal(err)
	}
	final := res.Dir
	oldTree := tree(t, final)
	secretsPath := DefaultSecretsPath(e.spec)
	secretsBefore, err := os.ReadFile(secretsPath)
	if err != nil {
		t.Fatal(err)
	}
	ref := newOpts
	ref.OutDir = filepath.Join(e.dir, "ref")
	if err := os.Mkdir(ref.OutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	steps := recordSteps(t, ref)
	newTree := tree(t, filepath.Join(ref.OutDir, "pgcluster"))
	sameTree(t, "the second build into OUT", tree(t, final), oldTree)
	if reflect.DeepEqual(newTree, oldTree) {
		t.Fatal("test setup: the new build does not differ from the old one")
	}
	if len(steps) != 20 {
		t.Fatalf("the build passes %d named steps, want 20: %q", len(steps), steps)
	}
	swapped := -1
	for i, s := range steps {
		if s == "swapped" {
			swapped = i
		}
	}
	if swapped < 0 {
		t.Fatalf("no swapped step in %q", steps)
	}
	for i, step := range steps {
		t.Run(fmt.Sprintf("%02d %s", i, step), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestKilledBuildHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), killEnv+"="+strings.Join([]string{e.spec, e.out, e.pkgs, e.key, step}, "\n"))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper build was not killed at %q: %v\n%s", step, err, out)
			}
			want, what := oldTree, "the previous output"
			if i >= swapped {
				want, what = newTree, "the new output, once swapped in,"
			}
			sameTree(t, what+" after a kill at "+step, tree(t, final), want)
			if b, _ := os.ReadFile(secretsPath); !bytes.Equal(b, secretsBefore) {
				t.Fatal("the secrets file changed")
			}
			var tmps []string
			for _, d := range dotEntries(t, e.out) {
				if strings.Contains(d, ".tmp-") {
					tmps = append(tmps, d)
				}
			}
			if i >= 3 && len(tmps) == 0 {
				t.Fatalf("a kill at %s left no temporary directory: the clean-up is not exercised", step)
			}

			var log bytes.Buffer
			o := newOpts
			o.Log = &log
			if _, err := Run(o); err != nil {
				t.Fatalf("the build after a kill at %s: %v\n%s", step, err, log.String())
			}
			sameTree(t, "the build after the kill", tree(t, final), newTree)
			if d := dotEntries(t, e.out); len(d) != 0 {
				t.Fatalf("left in OUT after the next build: %v\n%s", d, log.String())
			}
			if len(tmps) > 0 && !strings.Contains(log.String(), "left by an interrupted build") {
				t.Errorf("the next build did not say it removed %v:\n%s", tmps, log.String())
			}
			if _, err := Run(oldOpts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestInterruptedBuild ends the build's context at each step: before the
// swap the build stops, removes its temporary directory and leaves the
// previous output; at the swap it is done.
func TestInterruptedBuild(t *testing.T) {
	e := newEnv(t)
	res, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	oldTree := tree(t, res.Dir)
	newOpts := e.opts()
	newOpts.InstallArgs = []string{"--skip-os-check"}
	steps := recordSteps(t, newOpts)
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	done := false
	for _, step := range steps {
		done = done || step == "swapped"
		t.Run(step, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			o := newOpts
			o.Context = ctx
			o.step = func(s string) {
				if s == step {
					cancel(errors.New("test signal"))
				}
			}
			_, err := Run(o)
			var ie *InterruptedError
			if done {
				if err != nil {
					t.Fatalf("interrupted after the swap: %v", err)
				}
				if _, err := Run(e.opts()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), "interrupted (test signal)") {
				t.Fatalf("want an interruption, got %v", err)
			}
			sameTree(t, "the previous output", tree(t, res.Dir), oldTree)
			if d := dotEntries(t, e.out); len(d) != 0 {
				t.Fatalf("left in OUT: %v", d)
			}
		})
	}
}

// TestNoExchange: on a filesystem without RENAME_EXCHANGE the build stops
// before any work with a clear error, and nothing changes.
func TestNoExchange(t *testing.T) {
	e := newEnv(t)
	res, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	before := tree(t, e.dir)
	real := renameat2
	defer func() { renameat2 = real }()
	for _, flag := range []uint{unix.RENAME_EXCHANGE, unix.RENAME_NOREPLACE} {
		renameat2 = func(from, to string, flags uint) error {
			if flags == flag {
				return unix.EINVAL
			}
			return real(from, to, flags)
		}
		var log bytes.Buffer
		o := e.opts()
		o.Log = &log
		_, err = Run(o)
		if err == nil || !strings.Contains(err.Error(), "cannot swap two directories atomically") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Fatalf("flag %#x unsupported: %v", flag, err)
		}
		if strings.Contains(log.String(), "verify packages") {
			t.Errorf("the packages were verified before the filesystem was found wanting:\n%s", log.String())
		}
		sameTree(t, "the inputs and the previous output", tree(t, e.dir), before)
		if d := dotEntries(t, e.out); len(d) != 0 {
			t.Fatalf("left in OUT: %v", d)
		}
	}
	renameat2 = real
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	_ = res
}

// TestStaleTemporaries: a build removes exactly the temporary directories
// the tool made and no running build holds, and puts back an earlier build
// an older release left aside.
func TestStaleTemporaries(t *testing.T) {
	e := newEnv(t)
	res, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(rel, content string) {
		t.Helper()
		p := filepath.Join(e.out, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyBuild := func(to string) {
		t.Helper()
		if out, err := exec.Command("cp", "-a", res.Dir, filepath.Join(e.out, to)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	// Killed builds: marked, no build holds the marker.
	mk(".pgcluster.tmp-dead.mark", "")
	mk(".pgcluster.tmp-dead/bundles/x.tar.gz", "passwords")
	mk(".pgcluster.tmp-nodir.mark", "") // killed between marker and directory
	copyBuild(".pgcluster.tmp-swapped") // killed after the swap: the earlier build with its marker
	mk(".pgcluster.tmp-swapped.mark", "")
	// A running build's: its marker is locked.
	mk(".pgcluster.tmp-running.mark", "")
	mk(".pgcluster.tmp-running/nodes/x", "in progress")
	held, err := os.Open(filepath.Join(e.out, ".pgcluster.tmp-running.mark"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// Unmarked: an empty one goes; one with files or a file stays.
	if err := os.Mkdir(filepath.Join(e.out, ".pgcluster.tmp-empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	mk(".pgcluster.tmp-1234/nodes/a/etc/x", "an older release's interrupted build")
	mk(".pgcluster.tmp-file", "a user's file")
	// An earlier build an older release moved aside while OUT/pgcluster exists.
	copyBuild(".pgcluster.tmp-5678.old")
	// Another cluster's temporary directory.
	mk(".other.tmp-dead.mark", "")
	mk(".other.tmp-dead/x", "")

	// A refused build changes nothing, leftovers included.
	all := dotEntries(t, e.out)
	mk("pgcluster/NOTES", "a user's notes")
	if _, err := Run(e.opts()); err == nil || !strings.Contains(err.Error(), "files no build wrote: NOTES") {
		t.Fatalf("a build holding a user's file was not refused: %v", err)
	}
	if got := dotEntries(t, e.out); !reflect.DeepEqual(got, all) {
		t.Fatalf("a refused build changed the leftovers: %v, was %v", got, all)
	}
	os.Remove(filepath.Join(res.Dir, "NOTES"))

	var log bytes.Buffer
	o := e.opts()
	o.Log = &log
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
	got := dotEntries(t, e.out)
	want := []string{".other.tmp-dead", ".other.tmp-dead.mark", ".pgcluster.tmp-1234", ".pgcluster.tmp-file",
		".pgcluster.tmp-running", ".pgcluster.tmp-running.mark"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("left in OUT: %v\nwant %v\n%s", got, want, log.String())
	}
	if !strings.Contains(log.String(), ".pgcluster.tmp-1234 is not marked as a temporary directory of pgha-bundle, so it is left alone") {
		t.Errorf("the unmarked directory is not named:\n%s", log.String())
	}

	// With OUT/pgcluster gone, an earlier build left aside is put back
	// (then replaced by this build), not removed.
	if err := os.Rename(res.Dir, filepath.Join(e.out, ".pgcluster.tmp-9999.old")); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "put the earlier build "+filepath.Join(e.out, ".pgcluster.tmp-9999.old")+" back") {
		t.Errorf("the earlier build was not put back:\n%s", log.String())
	}
	if got := dotEntries(t, e.out); !reflect.DeepEqual(got, want) {
		t.Fatalf("left in OUT: %v", got)
	}
}

// TestConcurrentBuildsExclude forces the race: one build pauses while it
// holds the output; a second build into the same OUT/<cluster> fails at once
// naming this process, or with Wait builds once the first is done.
func TestConcurrentBuildsExclude(t *testing.T) {
	e := newEnv(t)
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	for _, wait := range []bool{false, true} {
		paused, resume := make(chan struct{}), make(chan struct{})
		first := e.opts()
		first.step = func(s string) {
			if s == "rendered" {
				close(paused)
				<-resume
			}
		}
		done := make(chan error, 1)
		go func() { _, err := Run(first); done <- err }()
		<-paused

		var log testutil.SyncBuffer
		second := e.opts()
		second.Wait = wait
		second.Log = &log
		if !wait {
			_, err := Run(second)
			want := fmt.Sprintf("another build of cluster pgcluster into %s is running (pid %d, lock %s/.pgcluster.lock): wait for it to finish, or build with --wait", e.out, os.Getpid(), e.out)
			if err == nil || err.Error() != want {
				t.Fatalf("second build: %v\nwant %s", err, want)
			}
			close(resume)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			continue
		}
		second2 := make(chan error, 1)
		go func() { _, err := Run(second); second2 <- err }()
		for !strings.Contains(log.String(), "==> waiting for the build running into") {
			select {
			case err := <-second2:
				t.Fatalf("the second build did not wait: %v\n%s", err, log.String())
			default:
			}
			time.Sleep(10 * time.Millisecond)
		}
		if strings.Contains(log.String(), "verify packages") {
			t.Fatalf("the waiting build went on:\n%s", log.String())
		}
		close(resume)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := <-second2; err != nil {
			t.Fatalf("the waiting build: %v", err)
		}
	}
	if d := dotEntries(t, e.out); len(d) != 0 {
		t.Fatalf("left in OUT: %v", d)
	}
}

// TestOutputOnAnotherFilesystem: OUT/<cluster> mounted apart from OUT (a
// tmpfs here) cannot be swapped; the build says so before any work.
func TestOutputOnAnotherFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	e := newEnv(t)
	res, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(e.dir, "kept")
	if out, err := exec.Command("cp", "-a", res.Dir, kept).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := unix.Mount("tmpfs", res.Dir, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer unix.Unmount(res.Dir, unix.MNT_DETACH)
	if out, err := exec.Command("cp", "-a", kept+"/.", res.Dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	before := tree(t, e.dir)
	_, err = Run(e.opts())
	if err == nil || !strings.Contains(err.Error(), res.Dir+" is on another filesystem than "+e.out+" (a mount point?)") {
		t.Fatalf("want a refusal naming the mount point, got %v", err)
	}
	sameTree(t, "the inputs and the mounted build", tree(t, e.dir), before)
}
