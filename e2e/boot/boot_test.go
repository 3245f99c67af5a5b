//go:build e2e

package boot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// The one-node cluster the VM becomes. Its address is static, from the
// seed's network-config, on the VM's one NIC: qemu's user-mode network with
// restrict=on, so nothing the guest sends leaves qemu (qemu itself answers
// as the gateway). The NIC is found by its MAC address: the guest kernel
// names it ens*/enp*, and cloud-init renames it to the spec's
// network.interface (the default, eth0).
const (
	clusterName = "e2e"
	nodeName    = "pg1"
	nodeAddr    = "192.0.2.10"
	nodePrefix  = 24
	nodeGateway = "192.0.2.1"
	nodeMAC     = "52:54:00:e2:e0:0a"
	nodeIface   = "eth0"
	portRW      = 5000
	portAPI     = 8008
	portEtcd    = 2379
	portPG      = 5432
)

// guestNIC is the qemu -nic value of the node's NIC.
var guestNIC = fmt.Sprintf("user,model=virtio-net-pci,mac=%s,restrict=on,net=%s/%d,host=%s,dhcpstart=192.0.2.200",
	nodeMAC, "192.0.2.0", nodePrefix, nodeGateway)

// secretModes are the secrets files' modes and owners from docs/layout.md,
// the contract the node must show whatever the renderer does.
var secretModes = [][2]string{
	{"600 postgres:postgres", "/etc/patroni/patroni.yml"},
	{"640 root:haproxy", "/etc/haproxy/haproxy.cfg"},
	{"600 etcd:etcd", "/etc/pgha-bundle/pki/etcd.key"},
	{"600 postgres:postgres", "/etc/pgha-bundle/pki/patroni.key"},
}

// The TLS files the guest's own checks use (docs/layout.md): etcd requires
// a client certificate, and the REST API is verified against the CA.
const (
	guestCA   = "/etc/pgha-bundle/pki/ca.crt"
	guestCert = "/etc/pgha-bundle/pki/node.crt"
	guestKey  = "/etc/pgha-bundle/pki/etcd.key"
)

// Every boot must show these checks passing.
var healthChecks = []string{"cloud-init-done", "hostname", "etc-hosts", "install-receipt",
	"payload-files", "no-world-readable-keys", "etcd-health", "patroni-leader", "select-1-rw",
	"nic-by-mac", "static-address", "default-route", "softdog-loaded", "watchdog-open", "packages-media-unmounted"}

func TestBootSeed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the boot test runs as root (it builds disks with mkfs.ext4 -d): use e2e/boot/run.sh")
	}
	testutil.NeedTool(t, "qemu-system-x86_64", "qemu-system-x86")
	testutil.NeedTool(t, "qemu-img", "qemu-utils")
	testutil.NeedTool(t, "mkfs.ext4", "e2fsprogs")

	dir := os.Getenv("PGHA_E2E_IMAGE")
	if dir == "" {
		t.Fatal(errNoImage)
	}
	img, err := loadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	work := artifactDir(t)
	t.Logf("artifacts (serial logs, seeds, disks): %s", work)

	accel, why := probeAccel(t, img, work, 20*time.Second)
	t.Logf("FIGURE accelerator=%s (%s)", accel, why)
	timeout := 20 * time.Minute
	if accel == "kvm" {
		timeout = 8 * time.Minute
	}
	if s := os.Getenv("PGHA_E2E_BOOT_TIMEOUT"); s != "" {
		if timeout, err = time.ParseDuration(s); err != nil {
			t.Fatalf("PGHA_E2E_BOOT_TIMEOUT: %v", err)
		}
	}

	b := newSeedBuilder(t, work)
	seed1 := b.build(t, 1)

	// One overlay for all three boots: the pristine image stays untouched
	// (never written), and each boot sees what the previous one left.
	overlay := filepath.Join(work, "disk.qcow2")
	run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", img.Root, overlay)

	// freeze: after its checks, the boot stops Patroni with SIGSTOP while
	// PostgreSQL runs on, and must end in a reset by the guest's softdog.
	boot := func(n int, s seed, freeze bool) result {
		t.Helper()
		v := vm{
			Accel: accel, Image: img, Disk: overlay, Format: "qcow2",
			Drives:  []string{checkDisk(t, work, n, s, freeze)},
			CDROM:   s.ISO,
			CDROM2:  s.MediaISO,
			NIC:     guestNIC,
			Serial:  filepath.Join(work, fmt.Sprintf("boot%d.serial", n)),
			Timeout: timeout,
		}
		res, err := v.run(t)
		summarise(t, n, res)
		if err != nil {
			t.Fatalf("boot %d: %v (serial console: %s)", n, err, v.Serial)
		}
		if !res.ChecksDone {
			if res.WatchdogReset {
				t.Fatalf("boot %d: the watchdog reset the guest at uptime %.1f s, before the checks ended: Patroni's loop did not run within its watchdog timeout (serial console: %s)", n, res.ResetUptime, v.Serial)
			}
			t.Fatalf("boot %d: the observer never finished its checks (serial console: %s)", n, v.Serial)
		}
		if freeze {
			// qemu runs with -no-reboot: the watchdog's reset ends it.
			if res.End || !res.WatchdogReset {
				t.Errorf("boot %d: Patroni frozen (pid %s), but no watchdog reset: softdog line seen %v, observer powered off %v (serial console: %s)",
					n, res.Info["frozen_pid"], res.WatchdogReset, res.End, v.Serial)
			}
			if _, ok := res.Pass["postgres-while-frozen"]; !ok {
				t.Errorf("boot %d: PostgreSQL did not answer with Patroni frozen: %s", n, res.Fail["postgres-while-frozen"])
			}
			frozen, err := strconv.ParseFloat(res.Info["frozen_uptime"], 64)
			if err != nil || res.ResetUptime < frozen {
				t.Errorf("boot %d: reset at uptime %.1f s, Patroni frozen at %q", n, res.ResetUptime, res.Info["frozen_uptime"])
			}
			t.Logf("FIGURE boot%d watchdog: Patroni frozen at uptime %.1fs, softdog reset at %.1fs (%.1fs later; Patroni's timeout is ttl-safety_margin = 55s from its last keepalive)",
				n, frozen, res.ResetUptime, res.ResetUptime-frozen)
		} else if !res.End {
			t.Fatalf("boot %d: the observer never finished (serial console: %s)", n, v.Serial)
		} else if res.WatchdogReset {
			t.Errorf("boot %d: the watchdog reset the guest", n)
		}
		for _, c := range healthChecks {
			if _, ok := res.Pass[c]; !ok {
				t.Errorf("boot %d: check %s did not pass: %s", n, c, res.Fail[c])
			}
		}
		for _, sm := range secretModes {
			if _, ok := res.Pass["secret-mode "+sm[1]]; !ok {
				t.Errorf("boot %d: %s is not %s: %s", n, sm[1], sm[0], res.Fail["secret-mode "+sm[1]])
			}
		}
		for c, d := range res.Fail {
			t.Errorf("boot %d: FAIL %s: %s", n, c, d)
		}
		if !res.Healthy {
			t.Errorf("boot %d: never healthy", n)
		}
		// The NIC the kernel named by its slot or path, not eth0, got the
		// static address because cloud-init matched its MAC address.
		if k := res.Info["nic_kernel_name"]; !strings.HasPrefix(k, "en") {
			t.Errorf("boot %d: the kernel named the NIC %q, want a predictable en* name (the MAC match is what must find it)", n, k)
		}
		t.Logf("FIGURE boot%d accelerator=%s qemu-start-to-healthy=%.1fs guest-uptime-at-healthy=%ss boot-total=%.1fs",
			n, accel, res.ToHealthy.Seconds(), res.Info["healthy_uptime"], res.Elapsed.Seconds())
		if t.Failed() {
			t.FailNow()
		}
		return res
	}
	// netcfg checks which network-config cloud-init applied last, and how
	// many it has applied on this disk.
	netcfg := func(n int, r result, version, applied string) {
		t.Helper()
		if got := r.Info["netcfg_version"]; got != version {
			t.Errorf("boot %d: cloud-init last applied network-config version %q, want %s", n, got, version)
		}
		if got := r.Info["netcfg_applied"]; got != applied {
			t.Errorf("boot %d: cloud-init applied a network-config %q times, want %s", n, got, applied)
		}
	}

	// Boot 1: first boot, cloud-init applies the version 2 network-config
	// (MAC match, set-name) and runs install.sh.
	r1 := boot(1, seed1, false)
	netcfg(1, r1, "2", "1")
	if got := r1.Info["runcmd"]; got != "this-boot" {
		t.Errorf("boot 1: runcmd ran %q, want this-boot", got)
	}
	iid := r1.Info["instance_id"]
	if iid == "" {
		t.Fatal("boot 1: no instance-id")
	}
	if n := atoi(r1.Info["install_runs"]); n != 1 {
		t.Errorf("boot 1: install.sh completed %d times in the seed install log, want 1", n)
	}
	for _, want := range append([]string{verifyOKLine, installVerifyStep, installDonePrefix, installDoneLine}, mediaLines(seed1)...) {
		if !logHas(r1.InstallLog, want) {
			t.Errorf("boot 1: the seed install log lacks %q", want)
		}
	}
	if logHas(r1.InstallLog, installNoChanges) {
		t.Errorf("boot 1: install.sh found nothing to change on a fresh image")
	}

	// Boot 2: same seed, same instance-id: nothing runs again, the enabled
	// units bring the cluster back by themselves. Then Patroni is frozen and
	// the watchdog resets the guest.
	r2 := boot(2, seed1, true)
	netcfg(2, r2, "2", "1")
	if got := r2.Info["instance_id"]; got != iid {
		t.Errorf("boot 2: instance-id %q, want %q (unchanged seed)", got, iid)
	}
	if got := r2.Info["runcmd"]; got != "earlier-boot" {
		t.Errorf("boot 2: runcmd ran %q, want earlier-boot: cloud-init ran the install again", got)
	}
	if a, b := atoi(r2.Info["install_runs"]), atoi(r1.Info["install_runs"]); a != b {
		t.Errorf("boot 2: install.sh ran again (%d completions, %d after boot 1)", a, b)
	}

	// Boot 3, on the disk the watchdog reset: the node comes back a healthy
	// member. Generation bumped, so a new instance-id: cloud-init applies the
	// seed's network-config, here the version 1 one pgha-bundle writes for
	// EL7 (mac_address), runs the install again, and install.sh finds nothing
	// to change.
	seed2 := withEL7NetworkConfig(t, b, b.build(t, 2), filepath.Join(work, "seed-g2-el7net.iso"))
	r3 := boot(3, seed2, false)
	netcfg(3, r3, "1", "2")
	if got := r3.Info["instance_id"]; got == iid || got == "" {
		t.Errorf("boot 3: instance-id %q, want a new one after the generation bump (was %q)", got, iid)
	}
	if got := r3.Info["runcmd"]; got != "this-boot" {
		t.Errorf("boot 3: runcmd ran %q, want this-boot", got)
	}
	if a, b := atoi(r3.Info["install_runs"]), atoi(r2.Info["install_runs"]); a != b+1 {
		t.Errorf("boot 3: install.sh completions %d, want %d", a, b+1)
	}
	for _, want := range mediaLines(seed2) {
		if !logHas(r3.InstallLog, want) {
			t.Errorf("boot 3: the seed install log lacks %q", want)
		}
	}
	if !logHas(r3.InstallLog, installNoChanges) {
		t.Errorf("boot 3: install.sh did not report nothing to change; its output:\n%s", strings.Join(r3.InstallLog, "\n"))
	}
}

// summarise logs what a boot showed, failures and guest logs included.
func summarise(t *testing.T, n int, r result) {
	t.Helper()
	keys := make([]string, 0, len(r.Info))
	for k := range r.Info {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, r.Info[k])
	}
	t.Logf("boot %d: %d passed, %d failed;%s", n, len(r.Pass), len(r.Fail), b.String())
	// The guest's logs are few lines (cloud-init warnings, where the boot's
	// time went, and the units' journals on failure): always shown.
	for _, l := range r.Logs {
		t.Logf("boot %d guest: %s", n, l)
	}
	if len(r.Fail) > 0 || !r.Healthy {
		for _, l := range r.InstallLog {
			t.Logf("boot %d install.sh: %s", n, l)
		}
	}
}

// checkDisk makes the read-only disk the image's observer runs check.sh
// from: the script, what this boot must show, and the bundle's FILES.
func checkDisk(t *testing.T, work string, n int, s seed, freeze bool) string {
	t.Helper()
	src := filepath.Join(work, fmt.Sprintf("check%d", n))
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join("guest", "check.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, sm := range secretModes {
		modes = append(modes, sm[0]+" "+sm[1])
	}
	env := map[string]string{
		"E2E_PHASE":          strconv.Itoa(n),
		"E2E_NODE":           nodeName,
		"E2E_ADDR":           nodeAddr,
		"E2E_PORT_RW":        strconv.Itoa(portRW),
		"E2E_ETCD_ENDPOINTS": s.EtcdEndpoints,
		"E2E_PATRONI_URL":    s.PatroniURL,
		"E2E_CA":             guestCA,
		"E2E_CERT":           guestCert,
		"E2E_KEY":            guestKey,
		"E2E_RECEIPT":        installReceipt,
		"E2E_INSTALL_LOG":    installLog,
		"E2E_INSTALL_START":  installStartLine,
		"E2E_INSTALL_DONE":   installDoneLine,
		"E2E_VERIFY_OK":      verifyOKLine,
		"E2E_SECRET_MODES":   strings.Join(modes, "\n"),
		"E2E_MAC":            nodeMAC,
		"E2E_IFACE":          nodeIface,
		"E2E_PREFIX":         strconv.Itoa(nodePrefix),
		"E2E_GATEWAY":        nodeGateway,
		"E2E_PORT_PG":        strconv.Itoa(portPG),
		"E2E_FREEZE":         strconv.FormatBool(freeze),
		"E2E_WAIT":           strconv.Itoa(healthWait),
	}
	var envText strings.Builder
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&envText, "%s=%s\n", k, shellQuote(env[k]))
	}
	for name, data := range map[string][]byte{
		"check.sh":   script,
		"expect.env": []byte(envText.String()),
		"FILES":      s.Files,
	} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(work, fmt.Sprintf("check%d.img", n))
	os.Remove(disk)
	run(t, "mkfs.ext4", "-q", "-F", "-L", "pghacheck", "-d", src, disk, "8M")
	return disk
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return -1
	}
	return n
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// artifactDir is PGHA_E2E_ARTIFACTS (kept after the run, for CI logs) or a
// temporary directory. The directory is not emptied here: run.sh makes it
// fresh and already writes the test's own log into it.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("PGHA_E2E_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// moduleRoot is the repository root, two levels above this package.
func moduleRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
