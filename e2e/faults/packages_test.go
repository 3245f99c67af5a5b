//go:build e2e

package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// The lifecycle's packages (make e2e-lifecycle): RPMs whose files are the
// files Debian installed for each component in the harness's tree, so that
// install.sh's and upgrade.sh's real package step (the tree's rpm) puts
// working daemons in place. Fixture RPMs with stub files would replace the
// daemons with stubs.
//
// What a Debian tree makes different from an EL host, on purpose and
// nowhere else:
//   - The RPMs declare no requirements on what dpkg installed (glibc,
//     python3, OpenSSL, /bin/sh): the tree's rpm database knows nothing of
//     dpkg's packages, so rpm would refuse them; no --nodeps is needed.
//   - Debian's rpm keeps its database in ~/.rpmdb (/root/.rpmdb for root),
//     not /var/lib/rpm, and prints "RPM should not be used directly ...
//     use Alien instead!" on every install, then installs.
//   - Each package carries the files of the component's commands only (the
//     paths pgha-bundle build identifies the component by), not the whole
//     Debian package: libraries, pg_basebackup or psql stay dpkg's alone.
//   - The newer build's packages have the same upstream versions and bytes
//     (this machine has no other build of Debian's daemons), a newer
//     release, and Patroni's script one comment line longer, so that its
//     new bytes show on the node.
//   - uninstall.sh's rpm -e deletes the packages' files, which on this tree
//     are also dpkg's: the node is left without those commands, as an EL
//     host would be, and nothing in the test runs them afterwards.

// Releases of the first and the newer build's packages.
const (
	releaseA = "1.el9"
	releaseB = "2.el9"
)

// debianRPM is one package: its name, the Debian package its version is
// taken from, its architecture and the tree's files it carries.
type debianRPM struct {
	name, deb, arch string
	files           []string
}

var debianRPMList = []debianRPM{
	{"postgresql15-server", "postgresql-15", "x86_64", []string{
		"/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/15/bin/pg_ctl",
		"/usr/lib/postgresql/15/bin/initdb", "/usr/lib/postgresql/15/bin/pg_controldata",
	}},
	{"patroni", "patroni", "noarch", []string{"/usr/bin/patroni", "/usr/bin/patronictl"}},
	{"etcd", "etcd-server", "x86_64", []string{"/usr/bin/etcd", "/usr/bin/etcdctl"}},
	{"haproxy", "haproxy", "x86_64", []string{"/usr/sbin/haproxy"}},
}

// debianRPMNames are the packages' names, in debianRPMList's order.
func debianRPMNames() []string {
	var names []string
	for _, p := range debianRPMList {
		names = append(names, p.name)
	}
	return names
}

// patroniNote is the line the newer release adds to Patroni's script,
// after its #! line.
const patroniNote = "# pgha-bundle e2e: release " + releaseB + " of the harness's patroni RPM (Debian's script otherwise)\n"

// upstreamVersion is the upstream part of a Debian version: no epoch, no
// Debian revision, no +b/+deb suffix ("3.4.23-4+b5" -> "3.4.23").
func upstreamVersion(v string) string {
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexAny(v, "+~"); i >= 0 {
		v = v[:i]
	}
	return v
}

// debianTreePackages returns the packages of release rel from the tree at
// root: each file read from the tree, versions from its dpkg database.
// Release releaseB adds patroniNote to Patroni's script.
func debianTreePackages(ctx context.Context, root, rel string) ([]fixture.Package, error) {
	var pkgs []fixture.Package
	for _, d := range debianRPMList {
		v, err := run(ctx, "chroot", root, "dpkg-query", "-W", "-f", "${Version}", d.deb)
		if err != nil {
			return nil, err
		}
		p := fixture.Package{Name: d.name, Version: upstreamVersion(strings.TrimSpace(string(v))), Release: rel, Arch: d.arch}
		for _, f := range d.files {
			src := filepath.Join(root, f)
			fi, err := os.Lstat(src)
			if err != nil {
				return nil, err
			}
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("%s in the tree is not a regular file", f)
			}
			file := fixture.File{Path: f, Mode: fi.Mode().Perm(), Source: src}
			if rel == releaseB && f == "/usr/bin/patroni" {
				b, err := os.ReadFile(src)
				if err != nil {
					return nil, err
				}
				first, rest, _ := strings.Cut(string(b), "\n")
				file.Source, file.Body = "", []byte(first+"\n"+patroniNote+rest)
			}
			p.Files = append(p.Files, file)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// writeDebianRPMs writes the packages of release rel, signed with the
// harness's key, into the build directory's rpms-<rel>, and returns it.
func (h *harness) writeDebianRPMs(rel string) (string, error) {
	dir := filepath.Join(h.work, "build", "rpms-"+rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	pkgs, err := debianTreePackages(h.ctx, h.base, rel)
	if err != nil {
		return "", err
	}
	if _, err := fixture.WriteSet(dir, append(pkgs, extraPackages...), h.key); err != nil {
		return "", err
	}
	return dir, nil
}

// rpmVersions is `rpm -q` of the packages on the node: name -> version-
// release, "not installed" for a package rpm does not know.
func (n *node) rpmVersions(ctx context.Context) (map[string]string, error) {
	out, _ := n.exec(ctx, append([]string{"rpm", "-q", "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"}, debianRPMNames()...)...)
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2:
			got[f[0]] = f[1]
		case len(f) == 5 && strings.HasSuffix(line, " is not installed"):
			got[f[1]] = "not installed"
		}
	}
	for _, name := range debianRPMNames() {
		if got[name] == "" {
			return nil, fmt.Errorf("%s: rpm -q %s: %s", n.name, name, out)
		}
	}
	return got, nil
}

// versionsString prints rpm -q's answers sorted by name.
func versionsString(v map[string]string) string {
	var parts []string
	for k, x := range v {
		parts = append(parts, k+" "+x)
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// wantRelease checks that every package is installed at release rel.
func (n *node) wantRelease(ctx context.Context, rel string) (string, error) {
	v, err := n.rpmVersions(ctx)
	if err != nil {
		return "", err
	}
	var errs []error
	for name, vr := range v {
		if !strings.HasSuffix(vr, "-"+rel) {
			errs = append(errs, fmt.Errorf("%s: rpm -q %s: %s, want release %s", n.name, name, vr, rel))
		}
	}
	return versionsString(v), errors.Join(errs...)
}

// daemon is one running daemon of a node: its unit's main process (for
// PostgreSQL the postmaster) and the file it executes.
type daemon struct {
	pid int
	exe string // /proc/PID/exe; " (deleted)" when the file was replaced since
}

// daemons reads the main processes of etcd, Patroni, HAProxy (the
// master) and PostgreSQL's postmaster on the node.
func (n *node) daemons(ctx context.Context) (map[string]daemon, error) {
	facts, err := readFacts(n.root)
	if err != nil {
		return nil, err
	}
	script := `for u in etcd patroni haproxy; do
	pid=$(systemctl show -p MainPID --value "$u.service")
	printf '%s %s %s\n' "$u" "$pid" "$(readlink "/proc/$pid/exe")"
done
pid=$(head -n 1 "$1/postmaster.pid")
printf 'postgres %s %s\n' "$pid" "$(readlink "/proc/$pid/exe")"`
	out, err := n.exec(ctx, "bash", "-c", script, "daemons", facts["pgdata"])
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", n.name, err, out)
	}
	ds := map[string]daemon{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, " ", 3)
		var d daemon
		if len(f) == 3 {
			_, _ = fmt.Sscan(f[1], &d.pid)
			d.exe = f[2]
		}
		if d.pid == 0 || d.exe == "" {
			return nil, fmt.Errorf("%s: no running %s: %q", n.name, f[0], line)
		}
		ds[f[0]] = d
	}
	return ds, nil
}

// checkNewFiles compares a node's daemons after its package upgrade with
// those before: etcd, Patroni and the postmaster are new processes, the
// HAProxy master re-executed itself on its reload, and none runs a file
// the upgrade replaced; Patroni's script on disk is the newer release's.
func (n *node) checkNewFiles(ctx context.Context, before map[string]daemon) error {
	after, err := n.daemons(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range []string{"etcd", "patroni", "haproxy", "postgres"} {
		a := after[name]
		if strings.HasSuffix(a.exe, " (deleted)") {
			errs = append(errs, fmt.Errorf("%s: %s (pid %d) still runs the replaced %s", n.name, name, a.pid, a.exe))
		}
		if name != "haproxy" && a.pid == before[name].pid {
			errs = append(errs, fmt.Errorf("%s: %s was not restarted (pid %d before and after)", n.name, name, a.pid))
		}
	}
	b, err := os.ReadFile(filepath.Join(n.root, "usr/bin/patroni"))
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), patroniNote) {
		errs = append(errs, fmt.Errorf("%s: /usr/bin/patroni is not release %s's", n.name, releaseB))
	}
	return errors.Join(errs...)
}

// packageUpgrade applies the newer build (tag), whose packages are a new
// release, with each node's own upgrade.sh and its real package step,
// under the harness's load: the asynchronous replica (whose first run
// fails in rpm's transaction and is re-run, failedPackageStep), the
// synchronous standby, then the leader, whose upgrade.sh switches over to
// the synchronous standby itself. After each node: rpm -q reports the new
// release, the daemons run the new files, the cluster is healthy with
// the node streaming. The checker must find no acknowledged row lost
// and no two writable primaries at once.
func (h *harness) packageUpgrade(ctx context.Context, tag string) ([]string, error) {
	topo, err := h.waitHealthy(ctx, 150*time.Second, true)
	if err != nil {
		return nil, err
	}
	var figs []string
	for _, n := range h.nodes {
		v, err := n.wantRelease(ctx, releaseA)
		if err != nil {
			return figs, err
		}
		figs = append(figs, fmt.Sprintf("rpm -q on %s before the package upgrade: %s", n.name, v))
	}
	var async *node
	for _, n := range topo.others {
		if n != topo.sync {
			async = n
		}
	}
	order := []struct {
		role string
		n    *node
	}{{"replica", async}, {"sync standby", topo.sync}, {"leader", topo.leader}}
	h.runs++
	var targets []string
	for _, n := range h.nodes {
		targets = append(targets, rwAddr(n))
	}
	l, err := h.startLoadAcked(ctx, targets, "the package upgrade")
	if err != nil {
		return figs, err
	}
	defer l.stop()
	t0 := time.Now()
	for i, o := range order {
		n := o.n
		before, err := n.daemons(ctx)
		if err != nil {
			return figs, err
		}
		s := time.Now()
		want := fmt.Sprintf("installed %d package(s) with rpm", len(debianRPMList))
		extra := ""
		if i == 0 {
			// The first node's first run fails in its package step, as
			// a refused transaction would: its re-run must resume.
			var fig string
			if fig, err = h.failedPackageStep(ctx, n, tag); err != nil {
				return figs, err
			}
			figs = append(figs, fig)
			want, extra = "package(s) with rpm", ", resumed by a re-run"
		}
		out, err := n.script(ctx, tag, "upgrade.sh", "upgrade-packages", "--skip-os-check")
		if err != nil {
			return figs, fmt.Errorf("%v\n%s", err, out)
		}
		if !strings.Contains(out, want) {
			return figs, fmt.Errorf("%s: upgrade.sh did not say %q:\n%s", n.name, want, out)
		}
		if i == 0 && !strings.Contains(out, "resuming the upgrade of "+n.name) {
			return figs, fmt.Errorf("%s: the re-run of upgrade.sh did not resume:\n%s", n.name, out)
		}
		after, err := h.waitHealthy(ctx, 150*time.Second, true)
		if err != nil {
			return figs, err
		}
		e := time.Now()
		if o.role == "leader" {
			if !strings.Contains(out, "switching the leadership from "+n.name) || after.leader == n {
				return figs, fmt.Errorf("upgrade.sh on the leader %s did not switch over (leader now %s):\n%s", n.name, after.leader.name, out)
			}
		}
		v, err := n.wantRelease(ctx, releaseB)
		if err != nil {
			return figs, err
		}
		if err := n.checkNewFiles(ctx, before); err != nil {
			return figs, err
		}
		if o.role == "leader" {
			extra = ", switched over to " + after.leader.name + " by upgrade.sh"
		}
		figs = append(figs, fmt.Sprintf("package upgrade.sh on the %s %s: %.1fs%s, longest write pause %.1fs; rpm -q after: %s; etcd, Patroni, PostgreSQL restarted and HAProxy re-executed on the new files, streaming again",
			o.role, n.name, e.Sub(s).Seconds(), extra, l.longestGap(s, e).Seconds(), v))
	}
	if err := l.untilAcked(ctx, "the cluster on the new packages"); err != nil {
		return figs, err
	}
	end := time.Now()
	leader, err := h.leaderNow(ctx)
	if err != nil {
		return figs, err
	}
	present, err := h.present(ctx, pgAddr(leader), h.runs)
	if err != nil {
		return figs, fmt.Errorf("read back: %w", err)
	}
	v := Check(l.ledger.Outcomes(), present)
	ov := LongestOverlap(l.probes())
	figs = append(figs, fmt.Sprintf("rolling package upgrade (rpm -U of %d packages, release %s -> %s, on each node by its upgrade.sh): %.1fs, %s, longest write pause %.1fs, writable primaries overlapping %d times",
		len(debianRPMList), releaseA, releaseB, end.Sub(t0).Seconds(), v, l.longestGap(t0, end).Seconds(), ov.Count))
	if err := v.Err(); err != nil {
		return figs, err
	}
	if ov.Count > 0 {
		return figs, fmt.Errorf("two nodes acknowledged writes at once: %s for %v", ov.Nodes, ov.Duration())
	}
	return figs, nil
}

// failedPackageStep runs upgrade.sh on n with a directory in the way of
// /usr/bin/patroni (Patroni, already running, does not read it again):
// rpm's transaction fails on that package, upgrade.sh stops saying
// Patroni is stopped and to re-run it. The cause is then removed (Patroni's
// script goes with it: the re-run's package step puts it back).
func (h *harness) failedPackageStep(ctx context.Context, n *node, tag string) (string, error) {
	if out, err := n.exec(ctx, "bash", "-c", "rm -f /usr/bin/patroni && mkdir /usr/bin/patroni && touch /usr/bin/patroni/in-the-way"); err != nil {
		return "", fmt.Errorf("%s: %v: %s", n.name, err, out)
	}
	s := time.Now()
	out, err := n.script(ctx, tag, "upgrade.sh", "upgrade-packages-failed", "--skip-os-check")
	d := time.Since(s)
	if err == nil {
		return "", fmt.Errorf("%s: upgrade.sh succeeded with a directory at /usr/bin/patroni:\n%s", n.name, out)
	}
	if want := "is in this state: Patroni stopped on " + n.name + ", packages being upgraded (recover: re-run upgrade.sh)"; !strings.Contains(out, want) {
		return "", fmt.Errorf("%s: upgrade.sh failed without saying %q: %v\n%s", n.name, want, err, out)
	}
	v, err := n.rpmVersions(ctx)
	if err != nil {
		return "", err
	}
	if out, err := n.exec(ctx, "rm", "-r", "/usr/bin/patroni"); err != nil {
		return "", fmt.Errorf("%s: %v: %s", n.name, err, out)
	}
	return fmt.Sprintf("package upgrade.sh on %s with a directory in the way of /usr/bin/patroni: failed after %.1fs in rpm's transaction, Patroni left stopped; rpm -q then: %s",
		n.name, d.Seconds(), versionsString(v)), nil
}

// packagesRemoved checks, after uninstall.sh, that rpm no longer knows the
// packages and that their files are gone with them (on this tree, dpkg's
// files at those paths: see the top of this file).
func (n *node) packagesRemoved(ctx context.Context) error {
	v, err := n.rpmVersions(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for name, vr := range v {
		if vr != "not installed" {
			errs = append(errs, fmt.Errorf("%s: %s %s still installed after uninstall.sh", n.name, name, vr))
		}
	}
	for _, d := range debianRPMList {
		for _, f := range d.files {
			if _, err := os.Lstat(filepath.Join(n.root, f)); err == nil {
				errs = append(errs, fmt.Errorf("%s: %s (package %s) left after uninstall.sh's rpm -e", n.name, f, d.name))
			}
		}
	}
	return errors.Join(errs...)
}
