//go:build e2e

package boot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// markerPrefix starts every line the guest's observer prints for the host.
// Markers can share a line with kernel or login-prompt output, so they are
// matched anywhere in a line.
const markerPrefix = "PGHA-E2E: "

// image is what mkimage.sh leaves in its cache directory.
type image struct {
	Dir    string
	Root   string // raw ext4 root file system
	Kernel string
	Initrd string
}

func loadImage(dir string) (image, error) {
	img := image{
		Dir:    dir,
		Root:   filepath.Join(dir, "root.img"),
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initrd.img"),
	}
	for _, p := range []string{img.Root, img.Kernel, img.Initrd} {
		if _, err := os.Stat(p); err != nil {
			return image{}, fmt.Errorf("image %s: %w", dir, err)
		}
	}
	return img, nil
}

// vm is one qemu run.
type vm struct {
	Accel    string // "kvm" or "tcg"
	Image    image
	Disk     string   // root disk: the raw image (with Snapshot) or a qcow2 overlay on it
	Format   string   // "raw" or "qcow2"
	Snapshot bool     // discard every write (snapshot=on)
	Drives   []string // extra read-only virtio disks (raw)
	CDROM    string   // the seed ISO
	CDROM2   string   // a second CD-ROM: the shared packages ISO
	Append   string   // extra kernel command line
	NIC      string   // qemu -nic value; empty means no NIC
	Serial   string   // file the serial console is written to
	Timeout  time.Duration
}

// result is what one run showed on its serial console.
type result struct {
	Elapsed    time.Duration // qemu start to exit
	ToHealthy  time.Duration // qemu start to the HEALTHY marker; 0 when never seen
	Pass       map[string]string
	Fail       map[string]string
	Info       map[string]string
	InstallLog []string
	Logs       []string
	Healthy    bool
	ChecksDone bool
	End        bool
	// WatchdogReset is the guest kernel's softdog line ("softdog: Initiating
	// system reboot"), and ResetUptime its kernel timestamp in seconds.
	WatchdogReset bool
	ResetUptime   float64
}

// softdogReset is what the guest kernel's softdog prints as it resets the
// machine (drivers/watchdog/softdog.c, with its "softdog: " prefix).
const softdogReset = "softdog: Initiating system reboot"

func (v vm) args() []string {
	drive := fmt.Sprintf("file=%s,format=%s,if=virtio,cache=unsafe", v.Disk, v.Format)
	nic := v.NIC
	if nic == "" {
		nic = "none"
	}
	if v.Snapshot {
		drive += ",snapshot=on"
	}
	a := []string{
		"-name", "pgha-e2e",
		"-machine", "pc", "-accel", v.Accel,
		"-m", "2048", "-smp", "2",
		"-nic", nic,
		// No VGA card (nothing for the guest to probe and drive under
		// TCG), and a virtio RNG so the guest's entropy pool fills at once.
		"-display", "none", "-vga", "none", "-monitor", "none", "-parallel", "none",
		"-device", "virtio-rng-pci",
		"-no-reboot",
		"-kernel", v.Image.Kernel, "-initrd", v.Image.Initrd,
		"-append", strings.TrimSpace("root=/dev/vda rw console=ttyS0 modprobe.blacklist=floppy panic=-1 " + v.Append),
		"-drive", drive,
	}
	if v.Accel == "kvm" {
		a = append(a, "-cpu", "host")
	}
	for _, d := range v.Drives {
		a = append(a, "-drive", fmt.Sprintf("file=%s,format=raw,if=virtio,readonly=on", d))
	}
	if v.CDROM != "" {
		a = append(a, "-drive", fmt.Sprintf("file=%s,format=raw,media=cdrom,readonly=on", v.CDROM))
	}
	if v.CDROM2 != "" {
		a = append(a, "-drive", fmt.Sprintf("file=%s,format=raw,media=cdrom,readonly=on", v.CDROM2))
	}
	return append(a, "-serial", "file:"+v.Serial, "-pidfile", v.Serial+".pid")
}

// startQemu starts qemu in its own process group, killed with the test
// binary (Pdeathsig) and by t.Cleanup, so no guest outlives a failed or
// interrupted test. Every run also leaves a -pidfile beside its serial log,
// which run.sh's exit trap uses as a last resort.
func startQemu(t testing.TB, args []string) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command("qemu-system-x86_64", args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		done <- err
	}()
	t.Cleanup(func() { killGroup(cmd) })
	return cmd, done
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil && cmd.ProcessState == nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// run boots the VM and waits until it powers off or the timeout passes,
// watching the serial console for the HEALTHY marker to time it.
func (v vm) run(t testing.TB) (result, error) {
	t.Helper()
	if err := os.WriteFile(v.Serial, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd, done := startQemu(t, v.args())
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(v.Timeout)
	defer deadline.Stop()
	var healthyAt time.Duration
	var runErr error
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				runErr = fmt.Errorf("qemu: %w", err)
			}
			break wait
		case <-deadline.C:
			killGroup(cmd)
			<-done
			runErr = fmt.Errorf("the VM did not power off within %s", v.Timeout)
			break wait
		case <-tick.C:
			if healthyAt == 0 && serialHas(v.Serial, markerPrefix+"HEALTHY") {
				healthyAt = time.Since(start)
			}
		}
	}
	res, err := parseSerial(v.Serial)
	if err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	if res.Healthy && healthyAt == 0 {
		healthyAt = res.Elapsed
	}
	res.ToHealthy = healthyAt
	return res, runErr
}

func serialHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// parseSerial reads the markers out of a serial console log.
func parseSerial(path string) (result, error) {
	res := result{Pass: map[string]string{}, Fail: map[string]string{}, Info: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		return res, fmt.Errorf("serial log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if j := strings.Index(line, softdogReset); j >= 0 {
			res.WatchdogReset = true
			res.ResetUptime = kernelTime(line[:j])
		}
		i := strings.Index(line, markerPrefix)
		if i < 0 {
			continue
		}
		kind, rest, _ := strings.Cut(line[i+len(markerPrefix):], " ")
		switch kind {
		case "PASS", "FAIL":
			name, detail := splitCheck(rest)
			if kind == "PASS" {
				res.Pass[name] = detail
			} else {
				res.Fail[name] = detail
			}
		case "INFO":
			k, val, _ := strings.Cut(rest, "=")
			res.Info[k] = val
		case "INSTALL-LOG":
			res.InstallLog = append(res.InstallLog, rest)
		case "LOG":
			res.Logs = append(res.Logs, rest)
		case "HEALTHY":
			res.Healthy = true
			res.Info["healthy_uptime"] = strings.TrimPrefix(rest, "uptime=")
		case "CHECKS-DONE":
			res.ChecksDone = true
		case "END":
			res.End = true
		}
	}
	return res, sc.Err()
}

// kernelTime is the printk timestamp ("[  123.456789] ") at the end of s, or
// -1 when there is none.
func kernelTime(s string) float64 {
	i := strings.LastIndex(s, "[")
	j := strings.LastIndex(s, "]")
	if i < 0 || j < i {
		return -1
	}
	var f float64
	if _, err := fmt.Sscanf(strings.TrimSpace(s[i+1:j]), "%g", &f); err != nil {
		return -1
	}
	return f
}

// splitCheck splits "file /etc/x got …" or "hostname node1" into the check's
// name and its detail: names with a path argument keep the path.
func splitCheck(s string) (name, detail string) {
	name, detail, _ = strings.Cut(s, " ")
	if (name == "file" || name == "secret-mode") && strings.HasPrefix(detail, "/") {
		p, d, _ := strings.Cut(detail, " ")
		return name + " " + p, d
	}
	return name, detail
}

// probeAccel decides between KVM and TCG. /dev/kvm can answer while nested
// virtualisation is not really there (guests hang or qemu asserts), so KVM
// is used only when it boots this kernel with no root disk to the expected
// panic within the time limit. PGHA_E2E_ACCEL=kvm|tcg overrides the probe.
func probeAccel(t testing.TB, img image, dir string, limit time.Duration) (accel, why string) {
	t.Helper()
	if a := os.Getenv("PGHA_E2E_ACCEL"); a != "" {
		return a, "PGHA_E2E_ACCEL"
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg", fmt.Sprintf("/dev/kvm unusable: %v", err)
	}
	f.Close()
	serial := filepath.Join(dir, "kvm-probe.serial")
	if err := os.WriteFile(serial, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, done := startQemu(t, []string{
		"-machine", "pc", "-accel", "kvm", "-cpu", "host", "-m", "512",
		"-nic", "none", "-display", "none", "-monitor", "none", "-parallel", "none", "-no-reboot",
		"-kernel", img.Kernel, "-append", "console=ttyS0 panic=-1 root=/dev/vda",
		"-serial", "file:" + serial, "-pidfile", serial + ".pid",
	})
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	select {
	case err := <-done:
		if serialHas(serial, "Kernel panic") {
			return "kvm", "kvm probe: kernel panicked as expected"
		}
		return "tcg", fmt.Sprintf("kvm probe: qemu exited without the expected panic (%v)", err)
	case <-ctx.Done():
		killGroup(cmd)
		<-done
		return "tcg", fmt.Sprintf("kvm probe: no panic within %s", limit)
	}
}

var errNoImage = errors.New("no image: run e2e/boot/run.sh, or set PGHA_E2E_IMAGE to a directory made by e2e/boot/mkimage.sh")
