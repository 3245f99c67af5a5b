package bundle

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
)

// realEtcd is one member of a three-member etcd cluster of the test, serving
// plain HTTP on its own loopback address (etcdctl_at adds TLS to https
// endpoints only).
type realEtcd struct {
	name, client, peer string
	bin, data, initial string
	cmd                *exec.Cmd
	log                string
	exited             chan struct{}
}

// start starts the member (again, on its data, after a stop).
func (m *realEtcd) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(t, err)
	defer log.Close()
	m.cmd = exec.Command("nice", "-n", "19", m.bin, "--name", m.name, "--data-dir", m.data,
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", m.initial, "--initial-cluster-token", "leave-test", "--initial-cluster-state", "new")
	m.cmd.Stdout, m.cmd.Stderr = log, log
	must(t, m.cmd.Start())
	m.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { _ = cmd.Wait(); close(exited) }(m.cmd, m.exited)
}

// stop stops the member as uninstall.sh's "systemctl stop etcd" does.
func (m *realEtcd) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

// portOn returns a TCP port nobody listens on at ip.
func portOn(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startEtcdCluster starts pg1, pg2 and pg3 on 127.0.0.21-23 and returns
// once they are ready for a member remove.
func startEtcdCluster(t *testing.T, etcd, etcdctl string) []*realEtcd {
	t.Helper()
	dir := t.TempDir()
	var ms []*realEtcd
	var initial []string
	for i, name := range []string{"pg1", "pg2", "pg3"} {
		ip := fmt.Sprintf("127.0.0.%d", 21+i)
		m := &realEtcd{name: name, bin: etcd, data: filepath.Join(dir, name), log: filepath.Join(dir, name+".log"),
			client: fmt.Sprintf("http://%s:%d", ip, portOn(t, ip)),
			peer:   fmt.Sprintf("http://%s:%d", ip, portOn(t, ip))}
		ms = append(ms, m)
		initial = append(initial, name+"="+m.peer)
	}
	for _, m := range ms {
		m.initial = strings.Join(initial, ",")
		m.start(t)
		t.Cleanup(func() { m.stop() })
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, m := range ms {
			b, _ := os.ReadFile(m.log)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) > 15 {
				lines = lines[len(lines)-15:]
			}
			t.Logf("etcd %s, last lines:\n%s", m.name, strings.Join(lines, "\n"))
		}
	})
	waitReady(t, etcdctl, ms)
	return ms
}

// waitReady returns once every member of ms is healthy and has been
// connected to the others for longer than etcd's health interval (5s):
// before that, etcd refuses any member remove as "unhealthy cluster".
func waitReady(t *testing.T, etcdctl string, ms []*realEtcd) {
	t.Helper()
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.client)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(etcdctl, "--endpoints="+strings.Join(eps, ","), "endpoint", "health").CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd cluster not healthy after 60s: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(6 * time.Second)
}

// leaver runs uninstall.sh's etcd steps of one member, with lib.sh's own
// functions: check_leave_etcd, then, once the test lets it go on,
// leave_etcd.
type leaver struct {
	m            *realEtcd
	cmd          *exec.Cmd
	out          testutil.SyncBuffer
	checked, run string
	done         chan struct{}
	err          error
}

// startLeaver starts the member's uninstall: check_leave_etcd at once, and
// leave_etcd when the test creates l.run. It prints "stays" when the member
// stays in etcd, "leaves" when it left.
func startLeaver(t *testing.T, ms []*realEtcd, m *realEtcd, etcdctl, bin, env string) *leaver {
	t.Helper()
	dir := t.TempDir()
	l := &leaver{m: m, checked: filepath.Join(dir, "checked"), run: filepath.Join(dir, "run"), done: make(chan struct{})}
	lib, err := filepath.Abs("scripts/lib.sh")
	must(t, err)
	var paths strings.Builder
	for k, v := range layout.PathKeys {
		fmt.Fprintf(&paths, "P[%s]=%s; ", k, v)
	}
	var eps []string
	for _, o := range ms {
		eps = append(eps, o.client)
	}
	script := `set -euo pipefail; . "$1"; POLL_INTERVAL=0.5; KEEP_MEMBERSHIP=${KEEP:-0}; ` + paths.String() + `
check_leave_etcd
echo "== checked"
: >"$2"
until [ -e "$3" ]; do sleep 0.05; done
leave_etcd
if [ -n "$LEAVE_ETCD_ID" ]; then echo leaves; else echo stays; fi`
	l.cmd = exec.Command("bash", "-c", script, "leave", lib, l.checked, l.run)
	l.cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "PGHA_NODE="+m.name,
		"PGHA_ETCDCTL_BIN="+etcdctl, "PGHA_ETCD_ENDPOINT="+m.client, "PGHA_ETCD_ENDPOINTS="+strings.Join(eps, ","))
	if env != "" {
		l.cmd.Env = append(l.cmd.Env, env)
	}
	l.cmd.Stdout, l.cmd.Stderr = &l.out, &l.out
	must(t, l.cmd.Start())
	go func() { l.err = l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			_ = l.cmd.Process.Kill()
			<-l.done
		}
	})
	return l
}

// waitChecked waits until check_leave_etcd has returned.
func (l *leaver) waitChecked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		// The marker line follows the check's output through the pipe: once
		// the buffer holds it, it holds the check's output too (the file
		// alone may appear before the copy of the output has been made).
		if _, err := os.Stat(l.checked); err == nil && strings.Contains(l.out.String(), "== checked\n") {
			return
		}
		select {
		case <-l.done:
			t.Fatalf("%s: check_leave_etcd failed: %v\n%s", l.m.name, l.err, l.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: check_leave_etcd did not return in 60s\n%s", l.m.name, l.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leave lets the member leave etcd and waits for leave_etcd's answer.
func (l *leaver) leave(t *testing.T) (stays bool, out string, err error) {
	t.Helper()
	if err := os.WriteFile(l.run, nil, 0o644); err != nil {
		return false, "", err
	}
	select {
	case <-l.done:
	case <-time.After(120 * time.Second):
		return false, l.out.String(), errors.New("leave_etcd did not return in 120s")
	}
	out = l.out.String()
	return strings.HasSuffix(out, "stays\n"), out, l.err
}

// systemctlStandIn answers "systemctl is-active --quiet etcd" as on a
// member whose etcd runs, and refuses anything else.
func systemctlStandIn(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "systemctl"), `#!/bin/sh
[ "$*" = "is-active --quiet etcd" ] && exit 0
echo "systemctl stand-in: unexpected call: $*" >&2
exit 3
`)
	must(t, os.Chmod(filepath.Join(bin, "systemctl"), 0o755))
	return bin
}

// members lists etcd's members at the endpoints of ms, by name.
func members(t *testing.T, etcdctl string, ms ...*realEtcd) []string {
	t.Helper()
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.client)
	}
	out, err := exec.Command(etcdctl, "--endpoints="+strings.Join(eps, ","), "--dial-timeout=3s", "member", "list", "-w", "simple").Output()
	if err != nil {
		t.Fatalf("etcdctl member list at %s: %v\n%s", eps, err, out)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Split(line, ", "); len(f) >= 3 {
			names = append(names, f[2])
		}
	}
	return names
}

// TestLeaveEtcdConcurrentlyWithRealEtcd: every member of a three-member
// etcd is uninstalled at once. Each passes check_leave_etcd while the
// others still run; leave_etcd then decides again from etcd's members of
// that moment: whether the three leave together or one after another (pg1,
// pg3, then pg2, each stopping its etcd once it left, as uninstall.sh
// does), every leave succeeds and exactly one member stays, the last.
func TestLeaveEtcdConcurrentlyWithRealEtcd(t *testing.T) {
	etcd := testutil.NeedTool(t, "etcd", "etcd-server")
	etcdctl := testutil.NeedTool(t, "etcdctl", "etcd-client")
	bin := systemctlStandIn(t)
	for _, c := range []struct {
		name  string
		waves [][]int // members (0 = pg1) let go together, wave after wave
	}{
		{name: "all three at once", waves: [][]int{{0, 1, 2}}},
		{name: "pg1, pg3, then pg2", waves: [][]int{{0}, {2}, {1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			ms := startEtcdCluster(t, etcd, etcdctl)
			ls := make([]*leaver, len(ms))
			for i, m := range ms {
				ls[i] = startLeaver(t, ms, m, etcdctl, bin, "")
			}
			for _, l := range ls {
				l.waitChecked(t)
				if !strings.Contains(l.out.String(), "leaves etcd: 2 of the 2 remaining members healthy") {
					t.Fatalf("%s: check_leave_etcd did not decide to leave:\n%s", l.m.name, l.out.String())
				}
			}
			var stayed []*leaver
			for _, wave := range c.waves {
				var wg sync.WaitGroup
				var mu sync.Mutex
				for _, i := range wave {
					wg.Add(1)
					go func(l *leaver) {
						defer wg.Done()
						stays, out, err := l.leave(t)
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err != nil:
							t.Errorf("%s: leave_etcd failed: %v\n%s", l.m.name, err, out)
						case stays:
							stayed = append(stayed, l)
							if !strings.Contains(out, l.m.name+" is now etcd's last member: it stays") {
								t.Errorf("%s stayed without saying it is the last member:\n%s", l.m.name, out)
							}
						default:
							// uninstall.sh stops etcd once the member left.
							l.m.stop()
						}
						t.Logf("%s:\n%s", l.m.name, out)
					}(ls[i])
				}
				wg.Wait()
			}
			if len(stayed) != 1 {
				t.Fatalf("%d members stayed, want exactly one", len(stayed))
			}
			if got := members(t, etcdctl, stayed[0].m); len(got) != 1 || got[0] != stayed[0].m.name {
				t.Errorf("etcd's members at the end: %v, want only %s", got, stayed[0].m.name)
			}
			t.Logf("%s: %v", c.name, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// TestLeaveEtcdRefusedWithRealEtcd: a member whose remove etcd refuses (the
// other members stopped their etcd without leaving once it had checked)
// fails saying what state it is in and what to do, and is still a member.
// Run again, it leaves with --keep-membership as it is, or, once the others
// run again, leaves etcd.
func TestLeaveEtcdRefusedWithRealEtcd(t *testing.T) {
	etcd := testutil.NeedTool(t, "etcd", "etcd-server")
	etcdctl := testutil.NeedTool(t, "etcdctl", "etcd-client")
	bin := systemctlStandIn(t)
	ms := startEtcdCluster(t, etcd, etcdctl)
	l := startLeaver(t, ms, ms[1], etcdctl, bin, "")
	l.waitChecked(t)
	ms[0].stop()
	ms[2].stop()
	_, out, err := l.leave(t)
	if err == nil {
		t.Fatalf("leave_etcd succeeded with the other members stopped:\n%s", out)
	}
	for _, want := range []string{"pg2 could not leave etcd (Error: etcdserver: unhealthy cluster)", "Patroni are stopped and disabled",
		"its etcd is not stopped", "it is still etcd's member", "Run uninstall.sh again once etcd's other members are healthy", "--keep-membership"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure does not say %q:\n%s", want, out)
		}
	}
	if got := members(t, etcdctl, ms[1]); len(got) != 3 {
		t.Errorf("etcd's members after the refused remove: %v, want all three", got)
	}
	keep := startLeaver(t, ms, ms[1], etcdctl, bin, "KEEP=1")
	keep.waitChecked(t)
	if stays, out, err := keep.leave(t); err != nil || !stays || !strings.Contains(out, "--keep-membership: pg2 stays a member of etcd") {
		t.Errorf("run again with --keep-membership: stays %v, %v:\n%s", stays, err, out)
	}
	ms[0].start(t)
	ms[2].start(t)
	waitReady(t, etcdctl, ms)
	again := startLeaver(t, ms, ms[1], etcdctl, bin, "")
	again.waitChecked(t)
	if stays, out, err := again.leave(t); err != nil || stays {
		t.Errorf("run again once the others run: stays %v, %v:\n%s", stays, err, out)
	}
	if got := members(t, etcdctl, ms[0], ms[2]); strings.Join(got, " ") != "pg1 pg3" && strings.Join(got, " ") != "pg3 pg1" {
		t.Errorf("etcd's members once pg2 left: %v, want pg1 and pg3", got)
	}
}
