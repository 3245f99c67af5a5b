//go:build e2e

package e2ecluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// children tracks the processes this test started itself, so that the reaper
// (the test is a child subreaper) only reaps orphans adopted from the daemons
// (PostgreSQL detaches from Patroni with setsid and a double fork) and never
// steals an exit status exec.Cmd.Wait is waiting for.
var children struct {
	sync.Mutex
	pids map[int]bool
}

// startCmd starts c and registers it as our own child.
func startCmd(c *exec.Cmd) error {
	children.Lock()
	defer children.Unlock()
	if err := c.Start(); err != nil {
		return err
	}
	if children.pids == nil {
		children.pids = map[int]bool{}
	}
	children.pids[c.Process.Pid] = true
	return nil
}

// startReaper makes the test process the subreaper of everything it starts
// and reaps the orphans that reach it, so that a killed postmaster does not
// linger as a zombie whose PID still answers kill(pid, 0) and blocks the
// next start on the same PGDATA. It stops when ctx ends.
func startReaper(ctx context.Context) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			reapOrphans()
		}
	}()
	return nil
}

func reapOrphans() {
	children.Lock()
	defer children.Unlock()
	me := os.Getpid()
	for _, pid := range procPIDs() {
		if children.pids[pid] {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut at the last ')'.
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 2 || f[0] != "Z" || f[1] != strconv.Itoa(me) {
			continue
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}
}

func procPIDs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// runCmd runs a command to completion and returns its combined output; the
// error carries the output's tail so a failure explains itself.
func runCmd(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	return runCmdIn(ctx, env, "", name, args...)
}

// runCmdIn is runCmd with stdin (credentials go there, never on a command line).
func runCmdIn(ctx context.Context, env []string, stdin, name string, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, name, args...)
	c.Stdin = strings.NewReader(stdin)
	if env != nil {
		c.Env = env
	}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := startCmd(c); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	err := c.Wait()
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out.Bytes(), 3000))
	}
	return out.Bytes(), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// nsRoot holds the namespace files: one network namespace shared by the
// cluster (its own loopback, carrying 127.0.0.11–13, so nothing on the host's
// ports matters and nothing the test opens is seen outside) and one mount
// namespace per node. The directory is a private bind mount of itself, which
// is what lets `unshare --mount=FILE` pin a namespace there.
type nsRoot struct {
	dir string
	net string // network namespace file
	// A member's CA, certificate and key, copied out of an installed node:
	// etcd and Patroni's REST API speak only TLS to clients that have them.
	ca, cert, key string
}

// takeClientTLS copies the TLS files install.sh put on n (the paths its
// facts give the scripts) into the root's directory, for the test's own
// etcdctl and curl.
func (r *nsRoot) takeClientTLS(ctx context.Context, n *node) error {
	dir := filepath.Join(r.dir, "client-tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range []struct {
		env string
		dst *string
	}{{"PGHA_ETCD_CACERT", &r.ca}, {"PGHA_ETCD_CERT", &r.cert}, {"PGHA_ETCD_KEY", &r.key}} {
		src := n.env[f.env]
		if src == "" {
			return fmt.Errorf("node %s: its facts give no %s", n.name, f.env)
		}
		b, err := n.readFile(ctx, src)
		if err != nil {
			return err
		}
		*f.dst = filepath.Join(dir, filepath.Base(src))
		if err := os.WriteFile(*f.dst, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// etcdctl runs Debian's etcdctl (v3 API) against endpoints with the member's
// client certificate.
func (r *nsRoot) etcdctl(ctx context.Context, endpoints []string, args ...string) ([]byte, error) {
	argv := append([]string{"etcdctl", "--endpoints=" + strings.Join(endpoints, ","),
		"--cacert", r.ca, "--cert", r.cert, "--key", r.key}, args...)
	return r.run(ctx, []string{"PATH=/usr/bin:/bin", "ETCDCTL_API=3"}, argv...)
}

// netArgv prefixes argv so that it runs in the cluster's network namespace.
func (r *nsRoot) netArgv(argv ...string) []string {
	return append([]string{"nsenter", "--net=" + r.net, "--"}, argv...)
}

// run runs a client command (psql, etcdctl, curl) inside the cluster's
// network namespace.
func (r *nsRoot) run(ctx context.Context, env []string, argv ...string) ([]byte, error) {
	a := r.netArgv(argv...)
	return runCmd(ctx, env, a[0], a[1:]...)
}

// httpGet fetches url with curl inside the network namespace; user and
// password, when set, are handed to curl on stdin.
func (r *nsRoot) httpGet(ctx context.Context, url, user, password string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cfg := ""
	if user != "" {
		cfg = fmt.Sprintf("user = \"%s:%s\"\n", user, password)
	}
	a := r.netArgv("curl", "-sS", "--fail", "--max-time", "3", "--cacert", r.ca, "--config", "-", url)
	return runCmdIn(ctx, nil, cfg, a[0], a[1:]...)
}

// newNet creates the cluster's network namespace with the node addresses on
// its loopback (as /32, so each is "configured here" for install.sh).
func (r *nsRoot) newNet(ctx context.Context, addrs []string) error {
	r.net = filepath.Join(r.dir, "net")
	if err := os.WriteFile(r.net, nil, 0o600); err != nil {
		return err
	}
	script := "set -e\nip link set lo up\n"
	for _, a := range addrs {
		script += "ip addr add " + a + "/32 dev lo\n"
	}
	if _, err := runCmd(ctx, nil, "unshare", "--net="+r.net, "sh", "-c", script); err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	return nil
}

func newNSRoot(ctx context.Context, dir string) (*nsRoot, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := runCmd(ctx, nil, "mount", "--bind", dir, dir); err != nil {
		return nil, err
	}
	if _, err := runCmd(ctx, nil, "mount", "--make-private", dir); err != nil {
		_, _ = runCmd(context.Background(), nil, "umount", dir)
		return nil, err
	}
	return &nsRoot{dir: dir}, nil
}

func (r *nsRoot) close() error {
	if r.net != "" {
		if _, err := runCmd(context.Background(), nil, "umount", r.net); err != nil {
			return err
		}
	}
	_, err := runCmd(context.Background(), nil, "umount", r.dir)
	return err
}

// privatePaths are the directories every node sees as its own: an overlay of
// the host's directory with a per-node upper layer, so a node starts from the
// host's users and packages and writes only to its own copy.
var privatePaths = []string{"/etc", "/var/lib", "/var/log", "/run"}

// node is one cluster member: a mount namespace and the daemons in it.
type node struct {
	name, addr string
	dir        string // host-side state: overlay layers, logs
	nsFile     string
	netFile    string
	ns         string // "mnt:[inode]" as /proc/PID/ns/mnt shows it
	env        map[string]string
	bundle     string // the extracted bundle install.sh ran from, as the node sees it
	mu         sync.Mutex
	daemons    map[string]*daemon
}

func newNode(ctx context.Context, root *nsRoot, base, name, addr string) (*node, error) {
	n := &node{name: name, addr: addr, dir: filepath.Join(base, name), nsFile: filepath.Join(root.dir, name), netFile: root.net,
		daemons: map[string]*daemon{}}
	if err := os.MkdirAll(filepath.Join(n.dir, "log"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(n.nsFile, nil, 0o600); err != nil {
		return nil, err
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, p := range privatePaths {
		layer := filepath.Join(n.dir, "overlay", strings.ReplaceAll(strings.Trim(p, "/"), "/", "_"))
		upper, work := filepath.Join(layer, "upper"), filepath.Join(layer, "work")
		if err := os.MkdirAll(upper, 0o755); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(work, 0o755); err != nil {
			return nil, err
		}
		fmt.Fprintf(&script, "mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s\n", p, upper, work, p)
	}
	// PostgreSQL's socket directory starts empty on every node: the host's
	// lock files must not be seen as another postmaster's.
	script.WriteString("mount -t tmpfs -o mode=2775 tmpfs /run/postgresql 2>/dev/null || { mkdir -p /run/postgresql && mount -t tmpfs -o mode=2775 tmpfs /run/postgresql; }\n")
	if _, err := runCmd(ctx, nil, "unshare", "--mount="+n.nsFile, "--propagation", "private", "sh", "-c", script.String()); err != nil {
		// unshare may have pinned the namespace before the script failed.
		_, _ = runCmd(context.Background(), nil, "umount", n.nsFile)
		return nil, fmt.Errorf("node %s: namespace: %w", name, err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(n.nsFile, &st); err != nil {
		return nil, err
	}
	n.ns = fmt.Sprintf("mnt:[%d]", st.Ino)
	if _, err := n.sh(ctx, "chown postgres:postgres /run/postgresql"); err != nil {
		return nil, err
	}
	return n, nil
}

// sh runs a shell script inside the node's namespace as root.
func (n *node) sh(ctx context.Context, script string) ([]byte, error) {
	out, err := runCmd(ctx, nil, "nsenter", "--net="+n.netFile, "--mount="+n.nsFile, "--", "sh", "-c", script)
	if err != nil {
		return out, fmt.Errorf("node %s: %w", n.name, err)
	}
	return out, nil
}

// readFile reads a file as the node sees it.
func (n *node) readFile(ctx context.Context, path string) ([]byte, error) {
	out, err := runCmd(ctx, nil, "nsenter", "--mount="+n.nsFile, "--", "cat", "--", path)
	if err != nil {
		if bytes.Contains(out, []byte("No such file")) {
			return nil, fmt.Errorf("node %s: %s: %w", n.name, path, os.ErrNotExist)
		}
		return nil, fmt.Errorf("node %s: %w", n.name, err)
	}
	return out, nil
}

// lookupUser resolves an account (and optionally a group) as the node sees
// them: install.sh may have created them inside the namespace.
func (n *node) lookupUser(ctx context.Context, name, group string) (*user.User, error) {
	out, err := n.sh(ctx, fmt.Sprintf("getent passwd %q", name))
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	if len(f) < 7 {
		return nil, fmt.Errorf("user %s: unexpected passwd entry", name)
	}
	u := &user.User{Username: name, Uid: f[2], Gid: f[3], HomeDir: f[5]}
	if group != "" {
		out, err := n.sh(ctx, fmt.Sprintf("getent group %q", group))
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", group, err)
		}
		g := strings.Split(strings.TrimSpace(string(out)), ":")
		if len(g) < 3 {
			return nil, fmt.Errorf("group %s: unexpected group entry", group)
		}
		u.Gid = g[2]
	}
	return u, nil
}

// daemon is one long-running process started from a unit's ExecStart.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// start runs the unit's ExecStartPre and ExecStart inside the node's
// namespace, as the unit's User/Group (setpriv keeps the PID, so the PID we
// hold is the daemon's), with the environment systemd would give it.
func (n *node) start(ctx context.Context, unitName string) (*daemon, error) {
	path := "/etc/systemd/system/" + unitName + ".service"
	b, err := n.readFile(ctx, path)
	if err != nil {
		return nil, err
	}
	u, err := ParseUnit(bytes.NewReader(b), unitName+".service", n.name)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.name, err)
	}
	uenv, err := u.Env(func(p string) ([]byte, error) { return n.readFile(ctx, p) })
	if err != nil {
		return nil, fmt.Errorf("node %s unit %s: %w", n.name, unitName, err)
	}
	env := map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
	var priv []string
	if u.User != "" && u.User != "root" {
		acct, err := n.lookupUser(ctx, u.User, u.Group)
		if err != nil {
			return nil, fmt.Errorf("node %s unit %s: %w", n.name, unitName, err)
		}
		gid := acct.Gid
		priv = []string{"setpriv", "--reuid=" + acct.Uid, "--regid=" + gid, "--init-groups", "--"}
		env["USER"], env["LOGNAME"], env["HOME"], env["SHELL"] = u.User, u.User, acct.HomeDir, "/bin/sh"
		for _, d := range u.RuntimeDirectory {
			if _, err := n.sh(ctx, fmt.Sprintf("mkdir -p /run/%s && chown %s:%s /run/%s", d, acct.Uid, gid, d)); err != nil {
				return nil, err
			}
		}
	}
	for k, v := range uenv {
		env[k] = v
	}
	logPath := filepath.Join(n.dir, "log", unitName+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==> %s start %s\n", time.Now().Format(time.RFC3339Nano), unitName)
	for i, pre := range u.ExecStartPre {
		enter := []string{"nsenter", "--net=" + n.netFile, "--mount=" + n.nsFile, "--"}
		argv := append(enter, Command(pre, env)...)
		if !u.PrivilegedPre[i] && priv != nil {
			argv = append(append(enter, priv...), Command(pre, env)...)
		}
		c := exec.CommandContext(ctx, argv[0], argv[1:]...)
		c.Env, c.Dir, c.Stdout, c.Stderr = EnvList(env), "/", logf, logf
		if err := startCmd(c); err != nil {
			return nil, err
		}
		if err := c.Wait(); err != nil {
			return nil, fmt.Errorf("node %s unit %s ExecStartPre %q: %w (log %s)", n.name, unitName, pre, err, logPath)
		}
	}
	argv := append(append([]string{"--net=" + n.netFile, "--mount=" + n.nsFile, "--"}, priv...), Command(u.ExecStart, env)...)
	c := exec.Command("nsenter", argv...) // not tied to ctx: daemons outlive single steps
	c.Env, c.Dir, c.Stdout, c.Stderr = EnvList(env), "/", logf, logf
	// Own process group (HAProxy's workers, Patroni's helpers); a parent-death
	// signal so that a test binary killed from outside takes its daemons along.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startCmd(c); err != nil {
		return nil, fmt.Errorf("node %s unit %s: %w", n.name, unitName, err)
	}
	d := &daemon{name: unitName, cmd: c, log: logPath, done: make(chan struct{})}
	go func() {
		d.err = c.Wait()
		close(d.done)
	}()
	n.mu.Lock()
	n.daemons[unitName] = d
	n.mu.Unlock()
	return d, nil
}

func (n *node) daemon(name string) *daemon {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.daemons[name]
}

// signal sends sig to a daemon's process group.
func (n *node) signal(name string, sig syscall.Signal) error {
	d := n.daemon(name)
	if d == nil || d.exited() {
		return fmt.Errorf("node %s: %s is not running", n.name, name)
	}
	return syscall.Kill(-d.cmd.Process.Pid, sig)
}

// stop sends SIGTERM (what systemctl stop sends) and waits for the exit.
func (n *node) stop(ctx context.Context, name string) error {
	d := n.daemon(name)
	if d == nil || d.exited() {
		return nil
	}
	if err := syscall.Kill(d.cmd.Process.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("node %s: %s did not stop after SIGTERM: %w", n.name, name, ctx.Err())
	}
}

// pids lists every process living in the node's mount namespace: the daemons
// and everything they spawned, PostgreSQL included.
func (n *node) pids() []int {
	var out []int
	for _, pid := range procPIDs() {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && l == n.ns {
			out = append(out, pid)
		}
	}
	return out
}

// killAll SIGKILLs every process of the node (a node crash) and waits until
// none is left.
func (n *node) killAll(ctx context.Context) error {
	for {
		pids := n.pids()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: processes %v survive SIGKILL: %w", n.name, pids, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	n.mu.Lock()
	ds := n.daemons
	n.mu.Unlock()
	for _, d := range ds {
		select {
		case <-d.done:
		case <-ctx.Done():
			return fmt.Errorf("node %s: %s not reaped: %w", n.name, d.name, ctx.Err())
		}
	}
	return nil
}

// destroy kills what is left and releases the namespace; the overlay layers
// vanish with the namespace's last reference.
func (n *node) destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := n.killAll(ctx)
	if _, uerr := runCmd(ctx, nil, "umount", n.nsFile); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

// permanent marks an error that no amount of waiting will fix (a daemon
// exited): poll returns it at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// poll calls f until it returns nil or the deadline passes; it returns the
// time taken and, on timeout, f's last error obtained before the deadline
// (the one that explains the wait, not the deadline's own).
func poll(ctx context.Context, timeout time.Duration, what string, f func(context.Context) error) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		err := f(ctx)
		if err == nil {
			return time.Since(start), nil
		}
		var perm permanent
		if errors.As(err, &perm) {
			return time.Since(start), fmt.Errorf("%s: %w", what, perm.error)
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%s: not reached within %v: %w", what, timeout, last)
		case <-tick.C:
		}
	}
}

// exited returns a permanent error naming the first daemon of nodes that
// is no longer running.
func exited(nodes []*node) error {
	for _, n := range nodes {
		n.mu.Lock()
		for name, d := range n.daemons {
			if d.exited() {
				n.mu.Unlock()
				return permanent{fmt.Errorf("node %s: %s exited (%v); see its log %s", n.name, name, d.err, d.log)}
			}
		}
		n.mu.Unlock()
	}
	return nil
}
