//go:build e2e

package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

const (
	clusterName = "e2e"
	subnet      = "10.77.0"
	bridgeAddr  = subnet + ".1"
	portPG      = 5432
	portAPI     = 8008
	portRW      = 5000
	portRO      = 5001
	portEtcd    = 2379
	portPeer    = 2380
)

// memberNames are the cluster's founding members; spareNames the nodes
// the scaling test adds (addresses after theirs, on the same bridge).
var (
	memberNames = []string{"pg1", "pg2", "pg3"}
	spareNames  = []string{"pg4", "pg5"}
)

// nodeName is the name of the i-th node: founders first, then the spares.
func nodeName(i int) string {
	if i < len(memberNames) {
		return memberNames[i]
	}
	return spareNames[i-len(memberNames)]
}

// pgfsSize is each node's PostgreSQL file system: room for the cluster,
// its WAL (wal_keep_size 128MB) and the load, small enough to fill.
const pgfsSize = "768M"

func memberAddr(i int) string { return fmt.Sprintf("%s.%d", subnet, 11+i) }

// specYAML is the cluster every fault runs on: synchronous mode, Patroni's
// shortest timings, real per-node certificates for the nodes' own addresses.
func specYAML(pkgDir, key string) string {
	var nodes strings.Builder
	for i, n := range memberNames {
		fmt.Fprintf(&nodes, "  - name: %s\n    address: %s\n", n, memberAddr(i))
	}
	return fmt.Sprintf(`apiVersion: pgha-bundle/v1
cluster:
  name: %s
  os: el9
  arch: x86_64
  generation: 1
nodes:
%snetwork:
  mode: dhcp
  clients: [%s.0/24]
ports:
  postgresql: %d
  patroni_api: %d
  haproxy_rw: %d
  haproxy_ro: %d
  etcd_client: %d
  etcd_peer: %d
postgresql:
  parameters:
    max_connections: 200
    shared_buffers: 32MB
patroni:
  ttl: 20
  loop_wait: 2
  retry_timeout: 4
  synchronous_mode: true
  watchdog: "off"
packages:
  dir: %s
  keys: [%s]
`, clusterName, nodes.String(), subnet, portPG, portAPI, portRW, portRO, portEtcd, portPeer, pkgDir, key) + specExtra
}

// Hooks of other scenarios on the same bring-up (vip_test.go): spec lines
// appended to the spec, packages added to the fixture set, a tree layered
// over the base one, and the network namespace the workload dials from.
var (
	specExtra     string
	extraPackages []fixture.Package
	// sharedMount, when set, is a path every node mounts read-write from one
	// directory of the harness's work directory (as an NFS share would be:
	// backup_test.go's repository).
	sharedMount string
	// backupHostName, when set, is the spec's backup host (backup.host,
	// backup_test.go): a container of its own, installed from its own
	// seed, beside the members and not one of h.nodes.
	backupHostName string
	// cloneMounts, with sharedMount, binds in every node sharedMount's
	// directory again, read-only, at [0] and a second shared directory
	// read-write at [1] (clone_test.go: the source's repository and the
	// clone's own).
	cloneMounts [2]string
)

// backupHostAddr is the backup host's address on the bridge.
func backupHostAddr() string { return fmt.Sprintf("%s.%d", subnet, 30) }

// harness owns everything the test creates: the network namespace with the
// bridge, the nodes' overlays, cgroups and containers.
type harness struct {
	t      *testing.T
	ctx    context.Context
	id     string
	work   string // scratch: build, node overlays
	logs   string // artefacts kept after the run
	base   string // the cached Debian tree (read-only lower layer)
	netns  string // name under /run/netns
	nsPath string
	cgroup string // path below each hierarchy holding one cgroup per node
	nodes  []*node
	// backupHost is the backup host's container (backupHostName).
	backupHost *node
	bundles    map[string]string // node → bundle .tar.gz
	seeds      map[string]string // node → its seed ISO's files, extracted
	// fromSeeds: the nodes install themselves at first boot, cloud-init
	// running the seed's script (which runs install.sh).
	fromSeeds bool

	sec *secrets.Secrets
	// oldSec are the secrets before a rotation (lifecycle_test.go): the
	// cluster takes the new ones member by member, so clients try both.
	oldSec  *secrets.Secrets
	pgUser  string
	apiUser string
	ca      []byte // the cluster CA, for the REST API

	redact *strings.Replacer
	runs   int // workload runs so far; each fault has its own

	patroniVersion   string // the tree's Debian package version
	patroniBefore303 bool

	// debianRPMs: the bundles' RPMs carry the files Debian installed for
	// each component (packages_test.go), and install.sh and upgrade.sh run
	// their package step with the tree's rpm; otherwise they are stubs and
	// the scripts run with --no-packages.
	debianRPMs bool
	key        *fixture.Key // the packages' signing key

	extraLower string // a tree layered over base in every node (vip_test.go)
	// firewall turns firewalld on in every node, with the operator's own
	// rules of firewall_test.go, before install.sh runs.
	firewall bool
	shared   string // the directory bound at sharedMount in every node
	clientNS string // when set, the workload dials the VIP from this namespace
}

// node is one container.
type node struct {
	h      *harness
	name   string
	addr   string
	dir    string // upper, work, root (the overlay mount)
	root   string
	pgfs   string // the small file system mounted as /var/lib/pgsql/15
	cgroup string
	cmd    *exec.Cmd // systemd-nspawn
	pid    int       // the container's systemd (PID 1 inside)
	boots  int
	// out: no longer a member of the cluster (uninstalled or destroyed):
	// the health checks leave it out.
	out bool
}

// run runs a host command and returns its combined output; errors carry the
// output's tail.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return runIn(ctx, "", name, args...)
}

func runIn(ctx context.Context, stdin, name string, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		b := out.Bytes()
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, b)
	}
	return out.Bytes(), nil
}

// moduleRoot is the repository root, two levels above this package.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// newHarness builds the bundles and the empty network; nodes come later.
func newHarness(t *testing.T, ctx context.Context) *harness {
	// run.sh passes its own id, so that its last-resort cleanup finds what
	// this run made.
	id := os.Getenv("PGHA_E2E_FAULTS_ID")
	if id == "" {
		id = strconv.Itoa(os.Getpid())
	}
	h := &harness{t: t, ctx: ctx, id: id, fromSeeds: os.Getenv("PGHA_E2E_FAULTS_DIRECT") == ""}
	h.netns = "pghaf-" + h.id
	h.nsPath = "/run/netns/" + h.netns
	h.cgroup = "pgha-faults-" + h.id
	work, err := os.MkdirTemp("", "pgha-e2e-faults-"+id+"-")
	if err != nil {
		t.Fatal(err)
	}
	h.work = work
	h.logs = os.Getenv("PGHA_E2E_ARTIFACTS")
	if h.logs == "" {
		h.logs = filepath.Join(work, "artifacts")
	}
	if err := os.MkdirAll(h.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.teardown)
	out, err := run(ctx, filepath.Join(moduleRoot(), "e2e", "boot", "mkbase.sh"))
	if err != nil {
		t.Fatalf("base tree: %v", err)
	}
	h.base = filepath.Join(strings.TrimSpace(lastLine(string(out))), "root")
	if _, err := os.Stat(filepath.Join(h.base, "usr/bin/patroni")); err != nil {
		t.Fatalf("base tree %s: %v", h.base, err)
	}
	v, err := run(ctx, "chroot", h.base, "dpkg-query", "-W", "-f", "${Version}", "patroni")
	if err != nil {
		t.Fatalf("patroni version: %v", err)
	}
	h.patroniVersion = strings.TrimSpace(string(v))
	h.patroniBefore303 = debianVersionBefore(h.patroniVersion, "3.0.3")
	if sharedMount != "" {
		// postgres's, as the tree numbers it (every node has the same ids).
		h.shared = filepath.Join(work, "shared")
		ids, err := run(ctx, "chroot", h.base, "sh", "-c", "echo $(id -u postgres):$(id -g postgres)")
		if err != nil {
			t.Fatalf("postgres's ids: %v", err)
		}
		for _, d := range []string{h.shared, h.shared + "-clone"} {
			if err := os.MkdirAll(d, 0o750); err != nil {
				t.Fatal(err)
			}
			if _, err := run(ctx, "chown", strings.TrimSpace(string(ids)), d); err != nil {
				t.Fatal(err)
			}
		}
	}
	return h
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// build runs the real pgha-bundle build on the spec, from Debian-layout
// fixture packages (the tree carries Debian's daemons; install.sh runs with
// --no-packages) or, with debianRPMs, RPMs of Debian's own files, and reads
// back the secrets.
func (h *harness) build() error {
	dir := filepath.Join(h.work, "build")
	pkgDir := filepath.Join(dir, "rpms")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		return err
	}
	key, err := fixture.NewKey("pgha-bundle e2e faults")
	if err != nil {
		return err
	}
	h.key = key
	pkgs := fixture.DebianComponents("el9", "x86_64")
	if h.debianRPMs {
		if pkgs, err = debianTreePackages(h.ctx, h.base, releaseA); err != nil {
			return err
		}
	}
	if _, err := fixture.WriteSet(pkgDir, append(pkgs, extraPackages...), key); err != nil {
		return err
	}
	keyPath := filepath.Join(dir, "RPM-GPG-KEY-e2e")
	if err := os.WriteFile(keyPath, key.ArmoredPublic(), 0o644); err != nil {
		return err
	}
	spec := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(spec, []byte(specYAML(pkgDir, keyPath)), 0o644); err != nil {
		return err
	}
	bin := os.Getenv("PGHA_E2E_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "pgha-bundle")
		c := exec.CommandContext(h.ctx, "go", "build", "-o", bin, "./cmd/pgha-bundle")
		c.Dir = moduleRoot()
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %w\n%s", err, out)
		}
	}
	out := filepath.Join(dir, "out")
	secPath := filepath.Join(dir, "secrets.yaml")
	if _, err := run(h.ctx, bin, append([]string{"build", "-f", spec, "--out", out, "--secrets", secPath}, h.buildArgs()...)...); err != nil {
		return err
	}
	if h.sec, err = secrets.Load(secPath); err != nil {
		return err
	}
	h.redact = redactor(h.sec)
	h.bundles = map[string]string{}
	h.seeds = map[string]string{}
	names := memberNames
	if backupHostName != "" {
		names = append(append([]string(nil), names...), backupHostName)
	}
	for _, n := range names {
		h.bundles[n] = filepath.Join(out, clusterName, "bundles", n+".tar.gz")
		if _, err := os.Stat(h.bundles[n]); err != nil {
			return err
		}
		// The seed ISO, extracted with the project's own reader: this
		// kernel has no ISO 9660 driver, so the container gets the files
		// as its NoCloud seed directory.
		iso := filepath.Join(out, clusterName, "seeds", n+".iso")
		dst := filepath.Join(dir, "seeds", n)
		if err := extractISO(iso, dst); err != nil {
			return err
		}
		h.seeds[n] = dst
	}
	return nil
}

// buildArgs are the build's flags for the harness's Debian tree. The
// seeds' script runs install.sh with the image's overrides: the OS check
// (the target is EL, the tree Debian) and, unless the packages carry
// Debian's own files (debianRPMs), the package step (the tree carries
// Debian's daemons, the fixture RPMs stubs).
func (h *harness) buildArgs() []string {
	if h.debianRPMs {
		return []string{"--install-arg", "--skip-os-check"}
	}
	return []string{"--seed-without-packages", "--install-arg", "--skip-os-check", "--install-arg", "--no-packages"}
}

// noPackages is install.sh's and upgrade.sh's --no-packages when the
// bundles' RPMs are stubs (they would replace Debian's daemons), nothing
// when they carry Debian's files (debianRPMs).
func (h *harness) noPackages() []string {
	if h.debianRPMs {
		return nil
	}
	return []string{"--no-packages"}
}

// redactor replaces every secret value with a marker, for the logs kept.
func redactor(ss ...*secrets.Secrets) *strings.Replacer {
	var pairs []string
	for _, s := range ss {
		for _, v := range []string{s.SuperuserPassword, s.ReplicationPassword, s.RewindPassword, s.RestAPIPassword, s.HAProxyStatsPassword} {
			if len(v) >= 4 {
				pairs = append(pairs, v, "[REDACTED]")
			}
		}
		b, _ := yaml.Marshal(s)
		for _, line := range strings.Split(string(b), "\n") {
			// The cluster's name is no secret (clone_test.go's is long).
			if k, v, ok := strings.Cut(line, ": "); ok && k != "cluster" && len(strings.TrimSpace(v)) >= 8 {
				pairs = append(pairs, strings.Trim(strings.TrimSpace(v), `"'`), "[REDACTED]")
			}
		}
	}
	return strings.NewReplacer(pairs...)
}

// network creates the test's namespace with the bridge: the only place any
// address of the cluster lives.
func (h *harness) network() error {
	cmds := [][]string{
		{"ip", "netns", "add", h.netns},
		{"ip", "-n", h.netns, "link", "set", "lo", "up"},
		{"ip", "-n", h.netns, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", h.netns, "addr", "add", bridgeAddr + "/24", "dev", "br0"},
		{"ip", "-n", h.netns, "link", "set", "br0", "up"},
	}
	for _, c := range cmds {
		if _, err := run(h.ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// cgroupHierarchies are where a node's cgroup is made: the host has cgroups
// v1 with systemd's named hierarchy and the unified one beside it
// (hybrid), and systemd-nspawn takes its place from both.
var cgroupHierarchies = []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"}

// dial opens a TCP connection from inside the test's network namespace;
// connections to the VIP come from the client's namespace when there is
// one, so that its neighbour table is the one that follows the address.
func (h *harness) dial(ctx context.Context, addr string) (net.Conn, error) {
	if h.clientNS != "" && strings.HasPrefix(addr, vipAddr+":") {
		return dialIn(ctx, h.clientNS, addr)
	}
	return dialIn(ctx, h.nsPath, addr)
}

// dialIn opens a TCP connection from inside network namespace ns: the
// socket is made on a thread moved into it, and that thread is thrown away
// afterwards (the goroutine exits locked).
func dialIn(ctx context.Context, ns, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(ns)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// newNode prepares a node's overlay over the cached tree and its own
// configuration (hostname, address unit, Debian's own services disabled).
func (h *harness) newNode(i int) (*node, error) {
	return h.newMachine(nodeName(i), memberAddr(i), func(n *node) { h.nodes = append(h.nodes, n) })
}

// newBackupHost makes the backup host's container (backupHostName).
func (h *harness) newBackupHost() (*node, error) {
	return h.newMachine(backupHostName, backupHostAddr(), func(n *node) { h.backupHost = n })
}

// machines are every container: the nodes and the backup host.
func (h *harness) machines() []*node {
	if h.backupHost == nil {
		return h.nodes
	}
	return append(append([]*node(nil), h.nodes...), h.backupHost)
}

// newMachine makes a container's tree, cgroups and file systems; record
// keeps it (newNode, newBackupHost) once its tree is mounted, so that
// teardown finds it even when this fails half-way.
func (h *harness) newMachine(name, addr string, record func(*node)) (*node, error) {
	n := &node{h: h, name: name, addr: addr}
	n.dir = filepath.Join(h.work, "nodes", n.name)
	n.root = filepath.Join(n.dir, "root")
	n.cgroup = h.cgroup + "/" + n.name
	for _, d := range []string{"upper", "wk", "root"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, hier := range cgroupHierarchies {
		if err := os.MkdirAll(filepath.Join(hier, n.cgroup), 0o755); err != nil {
			return nil, err
		}
	}
	lower := h.base
	if h.extraLower != "" {
		lower = h.extraLower + ":" + h.base
	}
	if _, err := run(h.ctx, "mount", "-t", "overlay", "overlay", "-o",
		"lowerdir="+lower+",upperdir="+filepath.Join(n.dir, "upper")+",workdir="+filepath.Join(n.dir, "wk"), n.root); err != nil {
		return nil, err
	}
	record(n)
	w := func(p, s string, mode os.FileMode) error {
		p = filepath.Join(n.root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, []byte(s), mode)
	}
	hosts := "127.0.0.1\tlocalhost\n"
	if err := errors.Join(
		w("etc/hostname", n.name+"\n", 0o644),
		w("etc/hosts", hosts, 0o644),
		w("etc/machine-id", "", 0o444),
		w("usr/local/sbin/pgha-e2e-net", "#!/bin/sh\n# The node's address on the container's veth (the harness's bridge).\nset -eu\nip addr replace "+n.addr+"/24 dev host0\nip link set host0 up\n", 0o755),
		w("etc/systemd/system/pgha-e2e-net.service", `[Unit]
Description=pgha-bundle e2e: node address on host0
DefaultDependencies=no
Before=network-pre.target network.target network-online.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/pgha-e2e-net

[Install]
WantedBy=sysinit.target
`, 0o644),
	); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(n.root, "etc/systemd/system/sysinit.target.wants"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink("../pgha-e2e-net.service", filepath.Join(n.root, "etc/systemd/system/sysinit.target.wants/pgha-e2e-net.service")); err != nil {
		return nil, err
	}
	if h.firewall {
		if err := n.firewallOn(h.ctx); err != nil {
			return nil, err
		}
	}
	// Only the units install.sh writes may run the daemons; cloud-init has
	// no seed in this bring-up.
	for _, u := range []string{"etcd", "haproxy", "patroni", "postgresql"} {
		os.Remove(filepath.Join(n.root, "etc/systemd/system/multi-user.target.wants", u+".service"))
	}
	if h.fromSeeds {
		// NoCloud only, from the seed directory; the harness owns the
		// network (the spec's mode is dhcp: the image is in charge).
		if err := w("etc/cloud/cloud.cfg.d/90_pgha_e2e.cfg", "# Written by the fault harness.\ndatasource_list: [ NoCloud, None ]\nnetwork:\n  config: disabled\n# The tree generates no locale but C.UTF-8.\nlocale: C.UTF-8\n", 0o644); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(n.root, "var/lib/cloud/seed/nocloud"), 0o755); err != nil {
			return nil, err
		}
	} else if err := w("etc/cloud/cloud-init.disabled", "", 0o644); err != nil {
		return nil, err
	}
	if _, err := run(h.ctx, "chroot", n.root, "install", "-d", "-m", "0700", "-o", "postgres", "-g", "postgres", "/var/lib/pgsql", "/var/lib/pgsql/15"); err != nil {
		return nil, err
	}
	// PGDATA's parent is a small file system of its own (a loop-mounted
	// ext4 image), so that a fault can fill it.
	img := filepath.Join(n.dir, "pgfs.img")
	n.pgfs = filepath.Join(n.dir, "pgfs")
	if err := os.MkdirAll(n.pgfs, 0o700); err != nil {
		return nil, err
	}
	ids, err := run(h.ctx, "chroot", n.root, "sh", "-c", "echo $(id -u postgres):$(id -g postgres)")
	if err != nil {
		return nil, err
	}
	for _, c := range [][]string{
		{"truncate", "-s", pgfsSize, img},
		{"mkfs.ext4", "-q", "-F", "-L", "pgdata", img},
		{"mount", "-o", "loop", img, n.pgfs},
		{"chown", strings.TrimSpace(string(ids)), n.pgfs},
		{"chmod", "0700", n.pgfs},
	} {
		if _, err := run(h.ctx, c[0], c[1:]...); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// boot starts the container in its own cgroup and network namespace (a veth
// on the test's bridge) and waits for systemd to be up with the node's
// address configured.
func (n *node) boot() error {
	h := n.h
	n.boots++
	console, err := os.OpenFile(filepath.Join(h.logs, fmt.Sprintf("%s.console.%d.log", n.name, n.boots)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer console.Close()
	// The shell moves itself into the node's cgroup before exec: nspawn
	// (--keep-unit, no systemd on the host) makes its payload cgroup below
	// the one it starts in.
	script := `for h in ` + strings.Join(cgroupHierarchies, " ") + `; do echo $$ >"$h/$1/cgroup.procs" || exit 1; done; ns=$2; shift 2; exec nsenter --net="$ns" systemd-nspawn --quiet --keep-unit --register=no --boot --network-bridge=br0 --console=passive "$@"`
	args := []string{"-c", script, "sh", n.cgroup, h.nsPath, "-M", n.name, "-D", n.root, "--bind=" + n.pgfs + ":/var/lib/pgsql/15"}
	if h.fromSeeds {
		args = append(args, "--bind-ro="+h.seeds[n.name]+":/var/lib/cloud/seed/nocloud")
	}
	// The members' share; the backup host keeps its repository on its own
	// disk.
	if h.shared != "" && n != h.backupHost {
		args = append(args, "--bind="+h.shared+":"+sharedMount)
		if cloneMounts[0] != "" {
			args = append(args, "--bind-ro="+h.shared+":"+cloneMounts[0], "--bind="+h.shared+"-clone:"+cloneMounts[1])
		}
	}
	// A veth left by the node's previous life (its namespace still being
	// torn down after a kill) would make nspawn fail with "File exists".
	_, _ = run(h.ctx, "ip", "-n", h.netns, "link", "del", "vb-"+n.name)
	c := exec.Command("sh", args...)
	c.Stdout, c.Stderr = console, console
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return fmt.Errorf("%s: systemd-nspawn: %w", n.name, err)
	}
	n.cmd = c
	go func() { _ = c.Wait() }()
	n.pid = 0
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if n.pid == 0 {
			n.pid = n.findInit()
		}
		if n.pid != 0 {
			// Running, or still starting (cloud-final runs the seed's
			// install for minutes) with the node's address in place.
			out, _ := n.exec(h.ctx, "systemctl", "is-system-running")
			switch strings.TrimSpace(string(out)) {
			case "running", "degraded":
				return nil
			case "starting":
				if _, err := n.exec(h.ctx, "systemctl", "is-active", "--quiet", "pgha-e2e-net.service"); err == nil {
					return nil
				}
			}
		}
		select {
		case <-h.ctx.Done():
			return h.ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: systemd did not reach running within 90s", n.name)
}

// findInit returns the PID of the container's systemd: the child of
// systemd-nspawn.
func (n *node) findInit() int {
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", n.cmd.Process.Pid, n.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "systemd" {
			return pid
		}
	}
	return 0
}

// exec runs a command inside the container (all its namespaces).
func (n *node) exec(ctx context.Context, argv ...string) ([]byte, error) {
	if n.pid == 0 {
		return nil, fmt.Errorf("%s is not running", n.name)
	}
	a := append([]string{"-t", strconv.Itoa(n.pid), "-a", "--", "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}, argv...)
	return run(ctx, "nsenter", a...)
}

// netExec runs a host command (nft, ip) in the container's network namespace.
func (n *node) netExec(ctx context.Context, stdin string, argv ...string) ([]byte, error) {
	a := append([]string{"-t", strconv.Itoa(n.pid), "-n", "--"}, argv...)
	return runIn(ctx, stdin, "nsenter", a...)
}

// kill ends the container at once, as a power cut would: every process of
// its cgroup gets SIGKILL, PID 1 first.
func (n *node) kill() {
	if n.pid != 0 {
		_ = syscall.Kill(n.pid, syscall.SIGKILL)
	}
	killCgroup(n.cgroup, false)
	n.pid = 0
	n.cmd = nil
}

// killCgroup SIGKILLs every process under the cgroup path rel (in every
// hierarchy) until none is left, then removes the cgroups below it, and rel
// itself when all is true.
func killCgroup(rel string, all bool) {
	for _, hier := range cgroupHierarchies {
		killCgroupIn(filepath.Join(hier, rel), all)
	}
}

func killCgroupIn(dir string, all bool) {
	for try := 0; try < 50; try++ {
		left := 0
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					left++
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	last := 1
	if all {
		last = 0
	}
	for i := len(dirs) - 1; i >= last; i-- { // deepest first
		_ = os.Remove(dirs[i])
	}
}

// install copies each node's bundle in and runs its install.sh, all nodes
// at once (etcd's health gate needs its peers).
func (h *harness) install() error {
	all := h.machines()
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, n := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.install(h.bundles[n.name])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return h.readCluster()
}

// readCluster reads what the test needs from an installed node: the CA and
// the user names of patroni.yml.
func (h *harness) readCluster() error {
	ca, err := os.ReadFile(filepath.Join(h.nodes[0].root, "etc/pgha-bundle/pki/ca.crt"))
	if err != nil {
		return err
	}
	h.ca = ca
	b, err := os.ReadFile(filepath.Join(h.nodes[0].root, "etc/patroni/patroni.yml"))
	if err != nil {
		return err
	}
	var cfg struct {
		RestAPI struct {
			Authentication struct {
				Username string `yaml:"username"`
			} `yaml:"authentication"`
		} `yaml:"restapi"`
		PostgreSQL struct {
			Authentication struct {
				Superuser struct {
					Username string `yaml:"username"`
				} `yaml:"superuser"`
			} `yaml:"authentication"`
		} `yaml:"postgresql"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("patroni.yml: %w", err)
	}
	h.pgUser, h.apiUser = cfg.PostgreSQL.Authentication.Superuser.Username, cfg.RestAPI.Authentication.Username
	if h.pgUser == "" || h.apiUser == "" {
		return errors.New("patroni.yml: no superuser or REST API user")
	}
	return nil
}

func (n *node) install(bundle string) error {
	data, err := os.ReadFile(bundle)
	if err != nil {
		return err
	}
	dst := filepath.Join(n.root, "root", "bundle.tar.gz")
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return err
	}
	top := clusterName + "-" + n.name
	out, err := n.exec(n.h.ctx, "bash", "-c", "cd /root && tar -xzf bundle.tar.gz && exec bash "+top+"/install.sh --skip-os-check "+strings.Join(n.h.noPackages(), " "))
	n.h.saveLog(n.name+".install.log", out)
	if err != nil {
		return fmt.Errorf("%s: install.sh: %w", n.name, errors.New(n.h.redact.Replace(err.Error())))
	}
	return nil
}

// waitSeedInstall waits for cloud-init to finish on every node (its runcmd
// ran the seed's script and install.sh), then reads what install() reads.
func (h *harness) waitSeedInstall() error {
	err := eachNode(h.machines(), func(n *node) error {
		ctx, cancel := context.WithTimeout(h.ctx, 8*time.Minute)
		defer cancel()
		out, err := n.exec(ctx, "cloud-init", "status", "--wait")
		log, _ := os.ReadFile(filepath.Join(n.root, "var/log/pgha-bundle/seed-install.log"))
		h.saveLog(n.name+".seed-install.log", log)
		cl, _ := os.ReadFile(filepath.Join(n.root, "var/log/cloud-init-output.log"))
		h.saveLog(n.name+".cloud-init-output.log", cl)
		if err != nil {
			return fmt.Errorf("%s: cloud-init: %v (%s)", n.name, err, strings.TrimSpace(string(out)))
		}
		if !strings.Contains(string(log), "install.sh finished") {
			return fmt.Errorf("%s: the seed's install did not finish; its log:\n%s", n.name, h.redact.Replace(string(log)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return h.readCluster()
}

// extractISO writes an ISO's files into dir with cloudinit's reader.
func extractISO(iso, dir string) error {
	files, err := cloudinit.ReadISO(iso)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		b, err := f.ReadAll()
		if err != nil {
			return err
		}
		if strings.Contains(f.Name, "/") {
			return fmt.Errorf("%s: unexpected directory entry %s", iso, f.Name)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// saveLog keeps an artefact, secrets redacted.
func (h *harness) saveLog(name string, b []byte) {
	s := string(b)
	if h.redact != nil {
		s = h.redact.Replace(s)
	}
	_ = os.WriteFile(filepath.Join(h.logs, name), []byte(s), 0o644)
}

// saveJournals keeps each running node's journal.
func (h *harness) saveJournals(suffix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range h.machines() {
		if n.pid == 0 {
			continue
		}
		out, _ := n.exec(ctx, "journalctl", "--no-pager", "-o", "short-precise", "-b")
		h.saveLog(n.name+".journal"+suffix+".log", out)
	}
}

// teardown removes everything the test made, whatever state it is in.
func (h *harness) teardown() {
	h.saveJournals("")
	all := h.machines()
	for _, n := range all {
		n.kill()
	}
	killCgroup(h.cgroup, true)
	for _, n := range all {
		for _, m := range []string{n.pgfs, n.root} {
			for try := 0; try < 20 && m != ""; try++ {
				if _, err := run(context.Background(), "umount", m); err == nil || !isMounted(m) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if _, err := os.Stat(h.nsPath); err == nil {
		if _, err := run(context.Background(), "ip", "netns", "del", h.netns); err != nil {
			h.t.Errorf("teardown: %v", err)
		}
	}
	for _, n := range all {
		for _, m := range []string{n.pgfs, n.root} {
			if m != "" && isMounted(m) {
				h.t.Errorf("teardown: %s is still mounted; the work directory %s is kept", m, h.work)
				return
			}
		}
	}
	if os.Getenv("PGHA_E2E_KEEP") == "" {
		_ = os.RemoveAll(filepath.Join(h.work, "nodes"))
		_ = os.RemoveAll(filepath.Join(h.work, "build"))
		if h.shared != "" {
			_ = os.RemoveAll(h.shared)
		}
	}
	h.t.Logf("artefacts (journals, install logs, consoles; secrets redacted): %s", h.logs)
}

func isMounted(p string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}
