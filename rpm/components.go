package rpm

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	rpmutils "github.com/sassoftware/go-rpmutils"
)

// Components are the paths and versions of what the cluster runs, taken from
// the verified packages' file lists (or named as preinstalled in the spec).
type Components struct {
	PostgreSQL PostgreSQLComponent `json:"postgresql"`
	Patroni    PatroniComponent    `json:"patroni"`
	Etcd       EtcdComponent       `json:"etcd"`
	HAProxy    HAProxyComponent    `json:"haproxy"`
	// Keepalived is nil when no package installs it (keepalived.go).
	Keepalived *KeepalivedComponent `json:"keepalived,omitempty"`
	// PgBackRest is nil when no package installs it (pgbackrest.go).
	PgBackRest *PgBackRestComponent `json:"pgbackrest,omitempty"`
}

// PostgreSQLComponent is the server: the directory holding postgres, pg_ctl,
// initdb and pg_controldata.
type PostgreSQLComponent struct {
	Package string `json:"package,omitempty"` // NEVRA of the providing package, empty when preinstalled
	Version string `json:"version,omitempty"` // upstream version, e.g. "15.4"
	Major   int    `json:"major"`
	BinDir  string `json:"bin_dir"`
}

// PatroniComponent is Patroni's two commands.
type PatroniComponent struct {
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Bin     string `json:"bin"` // patroni
	Ctl     string `json:"ctl"` // patronictl
}

// EtcdComponent is etcd's server and client.
type EtcdComponent struct {
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Bin     string `json:"bin"` // etcd
	Ctl     string `json:"ctl"` // etcdctl
}

// HAProxyComponent is the haproxy binary.
type HAProxyComponent struct {
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Bin     string `json:"bin"`
}

// VersionBefore reports whether version sorts before than in rpm's order
// (rpmvercmp: the order rpm and yum upgrade by). It is the one comparator of
// every version gate; an empty (unknown) version is before nothing, so each
// gate decides for itself what an unknown version means.
func VersionBefore(version, than string) bool {
	return version != "" && rpmutils.Vercmp(version, than) < 0
}

// NeedsGRPCGateway reports whether etcd must be told enable-grpc-gateway:
// true for Patroni's etcd3 client: etcd before 3.5 started with a config
// file does not serve /v3 otherwise. An unknown version (preinstalled) says
// yes: the setting is valid, and already the default, on 3.5 and later.
func (e EtcdComponent) NeedsGRPCGateway() bool {
	return e.Version == "" || VersionBefore(e.Version, "3.5")
}

// LeaderFlag is patronictl's option that names the current leader in a
// switchover: --master before Patroni 3.0, --leader from 3.0 (4.0 dropped
// --master). An unknown version (preinstalled) gets --leader.
func (p PatroniComponent) LeaderFlag() string {
	if VersionBefore(p.Version, "3.0") {
		return "--master"
	}
	return "--leader"
}

// HasFailoverPriority reports whether Patroni honours the failover_priority
// tag (3.2); older ones ignore it. An unknown version says yes.
func (p PatroniComponent) HasFailoverPriority() bool {
	return !VersionBefore(p.Version, "3.2")
}

// RewritesLeaderKey reports whether Patroni may write its name back into
// the etcd3 leader key after its lease expired, over the key another member
// took meanwhile (patroni/patroni#2689, fixed in 3.0.3): a leader cut off
// from etcd then comes back as a second primary. An unknown version
// (preinstalled) says no: the build cannot tell.
func (p PatroniComponent) RewritesLeaderKey() bool { return VersionBefore(p.Version, "3.0.3") }

// NeedsSystemdWrapper reports whether haproxy runs under its
// haproxy-systemd-wrapper: before 1.8 it has no master-worker mode for
// systemd (EL7's 1.5). An unknown version (preinstalled) says no here; the
// renderer decides it from the OS.
func (h HAProxyComponent) NeedsSystemdWrapper() bool { return VersionBefore(h.Version, "1.8") }

// candidate is one place a component could come from.
type candidate struct {
	dir string
	pkg *Package
}

func (c candidate) String() string { return c.dir + " (" + c.pkg.Filename + ")" }

// standardBinDirs are preferred when one package installs a command twice
// (e.g. a virtualenv under /opt plus links in /usr/bin).
var standardBinDirs = map[string]bool{"/usr/bin": true, "/usr/sbin": true, "/bin": true, "/sbin": true, "/usr/local/bin": true}

// pick reduces candidates to exactly one, or explains why it cannot.
func pick(what string, cands []candidate, preinstalled string) (candidate, bool, error) {
	// Two packages installing the same command at the same path: whichever
	// rpm installs last wins on the node, so neither can be trusted to be
	// the one the build describes.
	byDir := map[string][]string{}
	for _, c := range cands {
		byDir[c.dir] = append(byDir[c.dir], c.pkg.Filename)
	}
	var clashes []string
	for _, c := range cands {
		if fs := byDir[c.dir]; len(fs) > 1 && (preinstalled == "" || c.dir == preinstalled) {
			clashes = append(clashes, c.dir+" ("+strings.Join(fs, ", ")+")")
			delete(byDir, c.dir)
		}
	}
	if len(clashes) > 0 {
		return candidate{}, false, fmt.Errorf("%s: installed at the same path by several packages, keep one: %s", what, strings.Join(clashes, "; "))
	}
	if preinstalled != "" {
		for _, c := range cands {
			if c.dir == preinstalled {
				return c, true, nil
			}
		}
		return candidate{}, false, nil
	}
	if len(cands) > 1 {
		var std []candidate
		same := true
		for _, c := range cands {
			same = same && c.pkg == cands[0].pkg
			if standardBinDirs[c.dir] {
				std = append(std, c)
			}
		}
		if same && len(std) == 1 {
			return std[0], true, nil
		}
		list := make([]string, len(cands))
		for i, c := range cands {
			list[i] = c.String()
		}
		return candidate{}, false, fmt.Errorf("%s: found in several places, keep one: %s", what, strings.Join(list, ", "))
	}
	if len(cands) == 0 {
		return candidate{}, false, fmt.Errorf("%s: no package installs it: add its package, or name its path in the spec as preinstalled", what)
	}
	return cands[0], true, nil
}

// dirsWith returns, sorted, every directory holding all the named commands
// (regular files or symlinks) in the packages' union of files, once for each
// package that owns the first command there.
func dirsWith(owner map[string][]*Package, names ...string) []candidate {
	var out []candidate
	for p, pkgs := range owner {
		dir, base := path.Split(p)
		if base != names[0] {
			continue
		}
		dir = strings.TrimSuffix(dir, "/")
		all := true
		for _, n := range names[1:] {
			if len(owner[dir+"/"+n]) == 0 {
				all = false
				break
			}
		}
		if all {
			for _, pkg := range pkgs {
				out = append(out, candidate{dir: dir, pkg: pkg})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].dir != out[j].dir {
			return out[i].dir < out[j].dir
		}
		return out[i].pkg.Filename < out[j].pkg.Filename
	})
	return out
}

var pgMajorInPath = regexp.MustCompile(`/(?:pgsql-|postgresql/|postgres/|postgresql-?)(\d+)(?:/|$)`)

// FindComponents derives the cluster's components from the packages' file
// lists: exactly one provider each, or the preinstalled path from the spec.
// Every problem is reported at once.
func FindComponents(pkgs []Package, pre Preinstalled) (Components, error) {
	owner := map[string][]*Package{}
	for i := range pkgs {
		for _, f := range pkgs[i].Info.Files {
			if o := owner[f.Path]; !f.IsDir() && (len(o) == 0 || o[len(o)-1] != &pkgs[i]) {
				owner[f.Path] = append(o, &pkgs[i])
			}
		}
	}
	var c Components
	var errs []error

	if cand, ok, err := pick("PostgreSQL server (postgres, pg_ctl, initdb, pg_controldata)",
		dirsWith(owner, "postgres", "pg_ctl", "initdb", "pg_controldata"), pre.PostgreSQLBinDir); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.PostgreSQL = PostgreSQLComponent{Package: cand.pkg.NEVRA, Version: cand.pkg.Version, BinDir: cand.dir}
		c.PostgreSQL.Major = majorFromPath(cand.dir)
		if c.PostgreSQL.Major == 0 {
			c.PostgreSQL.Major = leadingInt(cand.pkg.Version)
		}
	} else {
		c.PostgreSQL = PostgreSQLComponent{BinDir: pre.PostgreSQLBinDir, Major: pre.PostgreSQLMajor}
		if c.PostgreSQL.Major == 0 {
			c.PostgreSQL.Major = majorFromPath(pre.PostgreSQLBinDir)
		}
	}

	two := []struct {
		what, a, b         string
		preA, preB         string
		pkg, ver, bin, ctl *string
	}{
		{"Patroni (patroni, patronictl)", "patroni", "patronictl", pre.PatroniBin, pre.PatroniCtl,
			&c.Patroni.Package, &c.Patroni.Version, &c.Patroni.Bin, &c.Patroni.Ctl},
		{"etcd (etcd, etcdctl)", "etcd", "etcdctl", pre.EtcdBin, pre.EtcdCtl,
			&c.Etcd.Package, &c.Etcd.Version, &c.Etcd.Bin, &c.Etcd.Ctl},
	}
	for _, t := range two {
		if (t.preA == "") != (t.preB == "") {
			errs = append(errs, fmt.Errorf("%s: name both commands as preinstalled, or neither", t.what))
			continue
		}
		cands := binDirsOnly(dirsWith(owner, t.a, t.b))
		cand, ok, err := pick(t.what, cands, dirOf(t.preA))
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok && (t.preA == "" || cand.dir+"/"+t.b == t.preB):
			*t.pkg, *t.ver, *t.bin, *t.ctl = cand.pkg.NEVRA, cand.pkg.Version, cand.dir+"/"+t.a, cand.dir+"/"+t.b
		default:
			*t.bin, *t.ctl = t.preA, t.preB
		}
	}

	cands := binDirsOnly(dirsWith(owner, "haproxy"))
	if cand, ok, err := pick("HAProxy (haproxy)", cands, dirOf(pre.HAProxyBin)); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.HAProxy = HAProxyComponent{Package: cand.pkg.NEVRA, Version: cand.pkg.Version, Bin: cand.dir + "/haproxy"}
	} else {
		c.HAProxy = HAProxyComponent{Bin: pre.HAProxyBin}
	}
	if k, err := findKeepalived(owner); err != nil {
		errs = append(errs, err)
	} else {
		c.Keepalived = k
	}
	if b, err := findPgBackRest(owner); err != nil {
		errs = append(errs, err)
	} else {
		c.PgBackRest = b
	}
	return c, errors.Join(errs...)
}

// dirOf is the directory of a preinstalled command, "" when none is named.
func dirOf(p string) string {
	if p == "" {
		return ""
	}
	return path.Dir(p)
}

// binDirsOnly keeps candidates in a bin or sbin directory.
func binDirsOnly(cands []candidate) []candidate {
	var out []candidate
	for _, c := range cands {
		if b := path.Base(c.dir); b == "bin" || b == "sbin" {
			out = append(out, c)
		}
	}
	return out
}

func majorFromPath(dir string) int {
	m := pgMajorInPath.FindStringSubmatch(dir)
	if m == nil {
		return 0
	}
	return leadingInt(m[1])
}

// leadingInt is the integer at the start of s ("15" for "15.4"), 0 if none.
func leadingInt(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}
