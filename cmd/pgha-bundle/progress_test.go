package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
)

// runAsCLI makes the test binary run the CLI (see TestMain).
const runAsCLI = "PGHA_BUNDLE_TEST_RUN_CLI"

// openPTY opens a pseudo-terminal pair with the kernel's ioctls: the
// master, read by the test, and the slave, the process's terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	return m, s
}

// runOnTerminal runs the CLI as a process whose standard error is a
// terminal; it returns standard output and what the terminal showed.
func runOnTerminal(t *testing.T, args ...string) (code int, stdout, screen string) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsCLI+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var scr bytes.Buffer
	done := make(chan struct{})
	go func() {
		io.Copy(&scr, master) // ends with EIO once the process closed its side
		close(done)
	}()
	err := cmd.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the terminal was not closed")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), scr.String()
}

var barLine = regexp.MustCompile(`\r\x1b\[K(verify packages|verify) \[[#.]{24}\] +\d+%  [0-9.]+/[0-9.]+ (B|KiB|MiB)`)

// TestProgressOnTerminal: on a terminal, build and verify draw a bar with
// bytes and rate on standard error, redrawn in place, and their lines
// stay whole; off a terminal, the same runs print plain lines only.
func TestProgressOnTerminal(t *testing.T) {
	pkgs, key := packagesAndKey(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	rpms, _ := filepath.Glob(filepath.Join(pkgs, "*.rpm"))

	code, stdout, screen := runOnTerminal(t, append([]string{"verify", "--key", key}, rpms...)...)
	if code != 0 {
		t.Fatalf("verify on a terminal: exit %d\n%s\n%q", code, stdout, screen)
	}
	if !barLine.MatchString(screen) || !regexp.MustCompile(`KiB/s|MiB/s| B/s`).MatchString(screen) {
		t.Errorf("verify drew no bar with bytes and rate on the terminal:\n%q", screen)
	}
	if !strings.Contains(screen, "[########################] 100%") {
		t.Errorf("verify's bar never reached 100%%:\n%q", screen)
	}
	if strings.Contains(stdout, "\r") || strings.Count(stdout, " OK\n") != len(rpms) {
		t.Errorf("verify's report on stdout is not one whole line per package:\n%q", stdout)
	}
	if strings.HasSuffix(strings.TrimRight(screen, "\r\n"), "%") {
		t.Errorf("the bar is left on the screen at the end:\n%q", screen)
	}

	code, stdout, screen = runOnTerminal(t, "build", "-f", spec, "--packages", pkgs, "--key", key, "--out", out)
	if code != 0 {
		t.Fatalf("build on a terminal: exit %d\n%s\n%q", code, stdout, screen)
	}
	for _, want := range []string{"verify packages [", "write nodes  "} {
		if !strings.Contains(screen, "\r\x1b[K"+want) {
			t.Errorf("build's terminal lacks %q:\n%q", want, screen)
		}
	}
	if !barLine.MatchString(screen) {
		t.Errorf("build drew no bar for the packages:\n%q", screen)
	}
	for _, step := range []string{"==> verify packages\n", "==> node co7-node02\n", "of 3 nodes in "} {
		if !strings.Contains(stdout, step) {
			t.Errorf("build's stdout lacks the step %q:\n%s", step, stdout)
		}
	}

	// Off a terminal (a pipe): no bar, no escape, the same step lines.
	cmd := exec.Command(os.Args[0], "build", "-f", spec, "--packages", pkgs, "--key", key, "--out", out)
	cmd.Env = append(os.Environ(), runAsCLI+"=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("build off a terminal: %v\n%s", err, e.String())
	}
	if strings.ContainsAny(o.String()+e.String(), "\r\x1b") || !strings.Contains(o.String(), "==> node co7-node02\n") {
		t.Errorf("build off a terminal is not plain lines:\nstdout %q\nstderr %q", o.String(), e.String())
	}

	// --quiet on a terminal: no progress, nothing but the warnings -q keeps
	// (the example's Patroni 3.0.2 is one).
	code, stdout, screen = runOnTerminal(t, "build", "-q", "-f", spec, "--packages", pkgs, "--key", key, "--out", out)
	onlyWarnings := true
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "warning: ") {
			onlyWarnings = false
		}
	}
	if code != 0 || !onlyWarnings || screen != "" {
		t.Errorf("build -q on a terminal: exit %d, stdout %q, terminal %q", code, stdout, screen)
	}
}

// progressRecorder sums the bytes of each phase; nodes are written in
// parallel, so it takes calls from several goroutines.
type progressRecorder struct {
	mu     sync.Mutex
	order  []string
	totals map[string]int64
	done   map[string]int64
	cur    string
}

func (p *progressRecorder) Start(label string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.order = append(p.order, label)
	p.totals[label], p.cur = total, label
}

func (p *progressRecorder) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[p.cur] += n
}

// TestBuildProgressCounts: the bytes a build reports are the bytes of the
// packages it verifies (their total known beforehand) and of each bundle
// and seed it writes (the nodes, written in parallel, under one phase).
func TestBuildProgressCounts(t *testing.T) {
	pkgs, key := packagesAndKey(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	rec := &progressRecorder{totals: map[string]int64{}, done: map[string]int64{}}
	res, err := pipeline.Run(pipeline.Options{SpecPath: spec, PackagesDir: pkgs, Keys: []string{key}, OutDir: dir, Progress: rec})
	if err != nil {
		t.Fatal(err)
	}
	var rpmBytes int64
	rpms, _ := filepath.Glob(filepath.Join(pkgs, "*.rpm"))
	for _, p := range rpms {
		fi, _ := os.Stat(p)
		rpmBytes += fi.Size()
	}
	if rec.totals["verify packages"] != rpmBytes || rec.done["verify packages"] != rpmBytes {
		t.Errorf("verify packages: total %d, done %d, want %d", rec.totals["verify packages"], rec.done["verify packages"], rpmBytes)
	}
	var written int64
	for _, n := range []string{"co7-node01", "co7-node02", "co7-node03"} {
		for _, p := range []string{filepath.Join(res.Dir, "bundles", n+".tar.gz"), filepath.Join(res.Dir, "seeds", n+".iso")} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			written += fi.Size()
		}
	}
	if rec.done["write nodes"] != written {
		t.Errorf("write nodes: reported %d bytes, the bundles and seeds hold %d", rec.done["write nodes"], written)
	}
	if want := "verify packages,write nodes"; strings.Join(rec.order, ",") != want {
		t.Errorf("phases: %v", rec.order)
	}
}
