package bundle

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Scriptlets as EL's packages carry them: PGDG's postgresqlNN-server, EL's
// etcd and haproxy create their accounts in %pre.
const (
	pgdgPre = `groupadd -g 26 -o -r postgres >/dev/null 2>&1 || :
useradd -M -g postgres -o -r -d /var/lib/pgsql -s /bin/bash -c "PostgreSQL Server" -u 26 postgres >/dev/null 2>&1 || :
`
	etcdPre = `getent group etcd >/dev/null || groupadd -r etcd
getent passwd etcd >/dev/null || useradd -r -g etcd -d /var/lib/etcd -s /sbin/nologin -c "etcd user" etcd
exit 0
`
	haproxyPre = `getent group haproxy >/dev/null || groupadd -r haproxy
getent passwd haproxy >/dev/null || useradd -r -g haproxy -d /var/lib/haproxy -s /sbin/nologin -c "haproxy" haproxy
exit 0
`
	// %post records each run with rpm's $1 (1: install, 2: upgrade).
	postLog = `echo "%s $1" >>/var/log/fixture-scriptlets.log
`
)

// elPackages is the bundle's package set for os (el8, el9) at version v
// (a suffix to every component's version), shaped like EL's: requires on
// the image's capabilities, accounts made by %pre, data directories owned
// by those accounts.
func elPackages(os, v string) []fixture.Package {
	pgRel := "1PGDG.rhel" + strings.TrimPrefix(os, "el")
	pgV := "16.2" + v
	post := func(name string) string { return fmt.Sprintf(postLog, name) }
	bin := func(p, what string) fixture.File {
		return fixture.File{Path: p, Mode: 0o755, Body: []byte("#!/bin/sh\necho " + what + "\n")}
	}
	return []fixture.Package{
		{Name: "postgresql16-libs", Version: pgV, Release: pgRel, Arch: "x86_64",
			Files:    []fixture.File{{Path: "/usr/pgsql-16/lib/libpq.so.5", Body: []byte("libpq " + pgV + "\n")}},
			Provides: []string{"libpq.so.5()(64bit)"},
			Requires: []string{"glibc >= 2.17", "openssl-libs"}},
		{Name: "postgresql16-server", Version: pgV, Release: pgRel, Arch: "x86_64",
			Files: []fixture.File{
				bin("/usr/pgsql-16/bin/postgres", "postgres "+pgV), bin("/usr/pgsql-16/bin/pg_ctl", "pg_ctl"),
				bin("/usr/pgsql-16/bin/initdb", "initdb"), bin("/usr/pgsql-16/bin/pg_controldata", "pg_controldata"),
				{Path: "/var/lib/pgsql", Dir: true, Mode: 0o700, Owner: "postgres", Group: "postgres"},
			},
			Requires:    []string{"/bin/sh", "glibc >= 2.17", "systemd", "postgresql16-libs = " + pgV + "-" + pgRel},
			PreRequires: []string{"shadow-utils"},
			Pre:         pgdgPre, Post: post("postgresql16-server")},
		{Name: "etcd", Version: "3.5.12" + v, Release: "1." + os, Arch: "x86_64",
			Files: []fixture.File{bin("/usr/bin/etcd", "etcd"), bin("/usr/bin/etcdctl", "etcdctl"),
				{Path: "/var/lib/etcd", Dir: true, Mode: 0o700, Owner: "etcd", Group: "etcd"}},
			Requires:    []string{"/bin/sh", "systemd"},
			PreRequires: []string{"shadow-utils"},
			Pre:         etcdPre, Post: post("etcd")},
		{Name: "patroni", Version: "3.2.2" + v, Release: "1." + os, Arch: "noarch",
			Files:    []fixture.File{bin("/usr/bin/patroni", "patroni"), bin("/usr/bin/patronictl", "patronictl")},
			Requires: []string{"python3", "libpq.so.5()(64bit)", "/bin/sh"}},
		{Name: "haproxy", Version: "2.4.22" + v, Release: "1." + os, Arch: "x86_64",
			Files: []fixture.File{bin("/usr/sbin/haproxy", "haproxy"),
				{Path: "/var/lib/haproxy", Dir: true, Mode: 0o755}},
			Requires:    []string{"/bin/sh", "openssl-libs", "systemd"},
			PreRequires: []string{"shadow-utils"},
			Pre:         haproxyPre, Post: post("haproxy")},
	}
}

// bundlePackages writes pkgs signed with key into dir as the bundle's packages.
func bundlePackages(t *testing.T, dir string, key *fixture.Key, pkgs []fixture.Package) []rpm.Package {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	var out []rpm.Package
	for _, p := range pkgs {
		path, err := fixture.WriteRPM(dir, p, key)
		must(t, err)
		out = append(out, bundlePackage(t, path, p))
	}
	return out
}

func bundlePackage(t *testing.T, path string, p fixture.Package) rpm.Package {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	return rpm.Package{Path: path, Filename: filepath.Base(path), Name: p.Name,
		NEVRA: strings.TrimSuffix(p.FileName(), ".rpm"), SHA256: sum(data), Size: int64(len(data))}
}

// elHost is a host whose root holds an EL image as far as the package step
// sees it: the base package installed in its rpm database, an os-release
// of os, and the real rpm and dnf on PATH (every other command a recorded
// stand-in). The bundle's packages are signed with key.
func elHost(t *testing.T, osName string, stub ...string) (*host, *fixture.Key) {
	t.Helper()
	testutil.NeedTool(t, "rpm", "rpm")
	testutil.NeedTool(t, "dnf", "dnf")
	bb := testutil.NeedTool(t, "busybox", "busybox-static")
	except := []string{"rpm", "dnf"}
	for _, s := range stub {
		if s == "dnf" {
			except = except[:1]
		}
	}
	h := newHost(t, except...)
	if len(except) == 2 {
		// dnf, recorded and run.
		writeFile(t, h.bin+"/dnf", "#!/bin/sh\nprintf 'dnf %s\\n' \"$*\" >>\"$STUB_LOG\"\nexec /usr/bin/dnf \"$@\"\n")
		must(t, os.Chmod(h.bin+"/dnf", 0o755))
	}
	busybox, err := os.ReadFile(bb)
	must(t, err)
	if f, err := elf.Open(bb); err == nil {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatalf("%s is linked dynamically: it cannot run in the install root (install busybox-static)", bb)
			}
		}
		f.Close()
	}
	if osName == "el7" {
		// EL7's yum is not packaged for Debian: its command line is run by
		// dnf, which takes yum's localinstall as an alias of install.
		must(t, os.Remove(h.bin+"/yum"))
		writeFile(t, h.bin+"/yum", "#!/bin/sh\nprintf 'yum %s\\n' \"$*\" >>\"$STUB_LOG\"\nexec /usr/bin/dnf \"$@\"\n")
		must(t, os.Chmod(h.bin+"/yum", 0o755))
	}
	provides := map[string]string{"el7": fixture.EL7BaseProvides, "el8": fixture.EL8BaseProvides, "el9": fixture.EL9BaseProvides}[osName]
	base, err := fixture.ELBase(provides, "1."+osName, busybox)
	must(t, err)
	path, err := fixture.WriteRPM(h.dir, base, nil)
	must(t, err)
	if out, err := exec.Command("rpm", "--root", h.root, "-i", path).CombinedOutput(); err != nil {
		t.Fatalf("rpm -i the base: %v\n%s", err, out)
	}
	// An image has /dev/null; scriptlets redirect to it.
	must(t, os.MkdirAll(h.root+"/dev", 0o755))
	must(t, syscall.Mknod(h.root+"/dev/null", syscall.S_IFCHR|0o666, 1<<8|3))
	writeFile(t, h.root+"/etc/os-release", fmt.Sprintf("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"%s.3\"\n", strings.TrimPrefix(osName, "el")))
	// newHost lays out PostgreSQL's binaries by hand; here the package does.
	must(t, os.RemoveAll(h.root+"/usr/pgsql-16"))
	key, err := fixture.NewKey("pgha-test")
	must(t, err)
	return h, key
}

// elInput is the test input for osName carrying pkgs and key's public key.
func elInput(t *testing.T, h *host, osName string, key *fixture.Key, pkgs []rpm.Package) Input {
	t.Helper()
	in := testInput(t, h.dir)
	in = newer(t, h, in, in.BuildID, func(n *Input) {
		setFacts(t, n, h.dir, func(s *cluster.Spec) { s.Cluster.OS = osName })
		n.Keys = []rpm.KeyFile{{Name: "RPM-GPG-KEY-pgha-test", Data: key.ArmoredPublic()}}
		n.Packages = pkgs
	})
	return in
}

// rpmQA is `rpm -qa` of the root, sorted.
func rpmQA(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("rpm", "--root", root, "-qa").CombinedOutput()
	if err != nil {
		t.Fatalf("rpm -qa: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// treeState lists every path of root with its type, mode, owner and
// content digest, except what the scripts and dnf write about a run
// whatever its outcome (skip, relative to root).
func treeState(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	state := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v %s", fi.Mode(), statOwner(fi))
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			v += " -> " + l
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + sum(b)
		}
		state[rel] = v
		return nil
	})
	must(t, err)
	return state
}

// treeDiff names the paths whose state differs between a and b.
func treeDiff(a, b map[string]string) []string {
	var out []string
	for p, v := range a {
		if b[p] != v {
			out = append(out, p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// passwdEntry is NAME's line of the root's /etc/passwd, or "".
func passwdEntry(t *testing.T, root, name string) string {
	t.Helper()
	for _, l := range strings.Split(readFile(t, root+"/etc/passwd"), "\n") {
		if strings.HasPrefix(l, name+":") {
			return l
		}
	}
	return ""
}

// TestRealDNF runs the bundle's package step with the real dnf into an
// install root, for EL8 and EL9 (and EL7's yum command line): dnf
// depsolves the bundle's RPMs against the base package standing for the
// image (its provides are the fixture's base-provides list), the packages' %pre scriptlets create the service
// accounts with the base's useradd under /bin/sh in the root, rpm gives
// their data directories to those accounts; a newer bundle upgrades every
// package (%post sees $1 = 2). For EL7 the step's yum command line
// (localinstall) is run by dnf. What it cannot show: EL's own dnf and rpm
// (this is Debian's dnf 4.14 over rpm 4.18, the versions of EL9's era, not
// EL8's rpm 4.14), EL7's yum 3.4 and rpm 4.11 at all (their depsolver,
// --installroot handling and scriptlet runner), and the real shadow-utils.
func TestRealDNF(t *testing.T) {
	t.Parallel()
	for _, osName := range []string{"el7", "el8", "el9"} {
		t.Run(osName, func(t *testing.T) {
			t.Parallel()
			h, key := elHost(t, osName)
			in := elInput(t, h, osName, key, bundlePackages(t, filepath.Join(h.dir, "v1"), key, elPackages(osName, "")))
			h.extract(in)

			out, code := h.run("install.sh", "--no-start")
			if code != 0 {
				t.Fatalf("install exit %d\n%s", code, out)
			}
			if !strings.Contains(out, "etcd-3.5.12-1."+osName+".x86_64.rpm: digests signatures OK") {
				t.Errorf("rpm -K did not check the signatures before dnf:\n%s", out)
			}
			call := "dnf -y --disablerepo=* --nogpgcheck --installroot=" + h.root + " install "
			if osName == "el7" {
				call = "yum -y --disablerepo=* --nogpgcheck --installroot=" + h.root + " localinstall "
			}
			if index(h.calls(), call+h.bd+"/packages/etcd-") < 0 {
				t.Errorf("the package step did not run %q:\n%s", call, strings.Join(h.calls(), "\n"))
			}
			want := strings.Join([]string{
				"etcd-3.5.12-1." + osName + ".x86_64",
				"haproxy-2.4.22-1." + osName + ".x86_64",
				"patroni-3.2.2-1." + osName + ".noarch",
				"pgha-fixture-el-base-1-1." + osName + ".noarch",
				"postgresql16-libs-16.2-1PGDG.rhel" + strings.TrimPrefix(osName, "el") + ".x86_64",
				"postgresql16-server-16.2-1PGDG.rhel" + strings.TrimPrefix(osName, "el") + ".x86_64",
			}, "\n")
			if got := rpmQA(t, h.root); got != want {
				t.Errorf("rpm -qa after install:\n%s\nwant\n%s", got, want)
			}
			// The accounts come from the packages' %pre, not from install.sh.
			if got := passwdEntry(t, h.root, "postgres"); got != "postgres:x:26:26:PostgreSQL Server:/var/lib/pgsql:/bin/bash" {
				t.Errorf("postgres account %q, want PGDG's %%pre's", got)
			}
			for _, u := range []string{"etcd", "haproxy"} {
				if passwdEntry(t, h.root, u) == "" {
					t.Errorf("no %s account after the package step", u)
				}
			}
			if i := index(h.calls(), "useradd"); i >= 0 {
				t.Errorf("install.sh created an account the packages had made: %s", h.calls()[i])
			}
			if r, _ := h.receipt(); len(r.Users) != 0 || len(r.Packages) != 5 {
				t.Errorf("receipt users %v (want none: the packages made them), packages %v", r.Users, r.Packages)
			}
			etcdUID := strings.Split(passwdEntry(t, h.root, "etcd"), ":")[2]
			fi, err := os.Stat(h.root + "/var/lib/etcd")
			must(t, err)
			if got := statOwner(fi); !strings.HasPrefix(got, etcdUID+":") {
				t.Errorf("/var/lib/etcd owned by %s, want the etcd account (%s) made by %%pre", got, etcdUID)
			}
			if got := readFile(t, h.root+"/var/log/fixture-scriptlets.log"); !sameLines(got, "postgresql16-server 1\netcd 1\nhaproxy 1\n") {
				t.Errorf("%%post runs: %q", got)
			}
			out, code = h.run("install.sh", "--no-start")
			if code != 0 || !strings.Contains(out, "every package is installed at the bundle's version") {
				t.Errorf("second install: exit %d\n%s", code, out)
			}

			// A newer bundle: dnf upgrades every package; %pre finds the
			// accounts, %post runs with $1 = 2.
			v2 := newer(t, h, in, "v2", func(n *Input) {
				n.Packages = bundlePackages(t, filepath.Join(h.dir, "v2"), key, elPackages(osName, ".1"))
			})
			h.extract(v2)
			if out, code := h.run("upgrade.sh", "--no-start"); code != 0 {
				t.Fatalf("upgrade exit %d\n%s", code, out)
			}
			if got := rpmQA(t, h.root); !strings.Contains(got, "etcd-3.5.12.1-1."+osName+".x86_64") ||
				!strings.Contains(got, "postgresql16-server-16.2.1-1PGDG") || strings.Contains(got, "etcd-3.5.12-") {
				t.Errorf("rpm -qa after upgrade:\n%s", got)
			}
			if got := readFile(t, h.root+"/usr/pgsql-16/bin/postgres"); !strings.Contains(got, "16.2.1") {
				t.Errorf("postgres after upgrade: %q", got)
			}
			if got := readFile(t, h.root+"/var/log/fixture-scriptlets.log"); strings.Count(got, " 2\n") != 3 {
				t.Errorf("%%post after upgrade: %q", got)
			}
			if n := strings.Count("\n"+readFile(t, h.root+"/etc/passwd"), "\netcd:"); n != 1 {
				t.Errorf("etcd appears %d times in /etc/passwd after the upgrade", n)
			}
			r, _ := h.receipt()
			for _, p := range r.Packages {
				if p.Name == "etcd" && p.NEVRA != "etcd-3.5.12.1-1."+osName+".x86_64" {
					t.Errorf("receipt etcd %s after the upgrade", p.NEVRA)
				}
			}
		})
	}
}

// TestRealDNFRefused: a transaction dnf refuses (a requirement nothing
// provides, a file another package owns) stops upgrade.sh and leaves the
// root as it was: the same rpm -qa and the same tree, but for the logs and
// receipt the scripts keep and dnf's own log, cache and history. A package
// altered after signing (its SHA256SUMS line made to match) is refused by
// rpm -K before dnf runs at all.
func TestRealDNFRefused(t *testing.T) {
	t.Parallel()
	h, key := elHost(t, "el9")
	in := elInput(t, h, "el9", key, bundlePackages(t, filepath.Join(h.dir, "v1"), key, elPackages("el9", "")))
	h.extract(in)
	if out, code := h.run("install.sh", "--no-start"); code != 0 {
		t.Fatalf("install exit %d\n%s", code, out)
	}
	skip := []string{"var/log/pgha-bundle", "var/lib/pgha-bundle", "var/log/dnf.log", "var/log/dnf.librepo.log",
		"var/log/dnf.rpm.log", "var/log/hawkey.log", "var/cache/dnf", "var/lib/dnf"}
	qa, tree := rpmQA(t, h.root), treeState(t, h.root, skip...)

	cases := []struct {
		name, want string
		edit       func(p []fixture.Package) []fixture.Package
		tamper     string // the package altered after signing
	}{
		{name: "missing dependency", want: "nothing provides libssl.so.3(OPENSSL_3.0.0)(64bit) needed by etcd-3.5.12.1-1.el9.x86_64",
			edit: func(p []fixture.Package) []fixture.Package {
				p[2].Requires = append(p[2].Requires, "libssl.so.3(OPENSSL_3.0.0)(64bit)")
				return p
			}},
		{name: "file conflict", want: "file /usr/sbin/useradd from install of haproxy-2.4.22.1-1.el9.x86_64 conflicts with file from package pgha-fixture-el-base-1-1.el9.noarch",
			edit: func(p []fixture.Package) []fixture.Package {
				p[4].Files = append(p[4].Files, fixture.File{Path: "/usr/sbin/useradd", Mode: 0o755, Body: []byte("#!/bin/sh\nexit 0\n")})
				return p
			}},
		{name: "tampered package", want: "rpm -K etcd-3.5.12.1-1.el9.x86_64.rpm", tamper: "etcd"},
	}
	for i, tc := range cases {
		id := fmt.Sprintf("v%d", i+2)
		v := newer(t, h, in, id, func(n *Input) {
			pkgs := elPackages("el9", ".1")
			if tc.edit != nil {
				pkgs = tc.edit(pkgs)
			}
			n.Packages = bundlePackages(t, filepath.Join(h.dir, id), key, pkgs)
			for j, p := range n.Packages {
				if p.Name != tc.tamper {
					continue
				}
				// One payload byte changed after signing; SHA256SUMS made to
				// match, so only the signature check can catch it.
				b, err := os.ReadFile(p.Path)
				must(t, err)
				b[len(b)-20] ^= 0xff
				must(t, os.WriteFile(p.Path, b, 0o644))
				n.Packages[j] = bundlePackage(t, p.Path, pkgs[j])
			}
		})
		h.extract(v)
		out, code := h.run("upgrade.sh", "--no-start")
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want a failure saying %q\n%s", tc.name, code, tc.want, out)
		}
		dnf := index(h.calls(), "dnf ")
		if tc.tamper != "" && dnf >= 0 {
			t.Errorf("%s: dnf ran after rpm -K refused a package: %s", tc.name, h.calls()[dnf])
		}
		if tc.tamper == "" && dnf < 0 {
			t.Errorf("%s: dnf never ran; the refusal must be dnf's\n%s", tc.name, out)
		}
		if got := rpmQA(t, h.root); got != qa {
			t.Errorf("%s: rpm -qa changed:\n%s\nwas\n%s", tc.name, got, qa)
		}
		if d := treeDiff(tree, treeState(t, h.root, skip...)); len(d) > 0 {
			t.Errorf("%s: the refused transaction changed %v", tc.name, d)
		}
		r, _ := h.receipt()
		for _, p := range r.Packages {
			if p.Name == "etcd" && p.NEVRA != "etcd-3.5.12-1.el9.x86_64" {
				t.Errorf("%s: receipt claims %s", tc.name, p.NEVRA)
			}
		}
		h.bd = filepath.Join(h.dir, "bundles", in.BuildID, "demo-pg2")
		// The next case starts from the installed bundle again.
		must(t, os.RemoveAll(h.root+"/var/lib/pgha-bundle/upgrade.state"))
	}
}

// sameLines reports whether a and b hold the same lines in any order.
func sameLines(a, b string) bool {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, " ") == strings.Join(y, " ")
}

// statOwner is "uid:gid" of fi.
func statOwner(fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}
