package cluster

import (
	"path"
	"regexp"
	"strings"
)

// install.sh creates the data, WAL-archive and PGDATA-parent directories and
// hands each to its service account (chown, chmod 0700). A directory given to
// an account must therefore be that account's own: never a directory of the
// operating system, never one another component uses. docs/spec.md lists
// these rules; bundle/scripts/lib.sh (check_own_dir) keeps the same lists
// as a last line of defence on the node, and a test checks they agree.

// SystemDirs are the directories of the operating system (EL7/8/9 and the
// common FHS ones) that must never be a service's data, archive or log
// directory, nor PGDATA's parent: taking one over as 0700 postgres or etcd
// breaks the host. Directories below them (/var/lib/etcd, /srv/pgsql) are
// fine unless a tree of SystemTrees holds them.
var SystemDirs = []string{
	"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32",
	"/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp",
	"/usr", "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec",
	"/usr/local", "/usr/local/bin", "/usr/local/etc", "/usr/local/lib", "/usr/local/lib64",
	"/usr/local/sbin", "/usr/local/share", "/usr/sbin", "/usr/share", "/usr/src",
	"/var", "/var/adm", "/var/cache", "/var/db", "/var/empty", "/var/lib", "/var/local",
	"/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp",
	"/var/yp",
}

// SystemTrees are trees that hold no data directory at all, at any depth:
// configuration (/etc), the boot loader's files (/boot), kernel and device
// file systems (/proc, /sys, /dev) and what is emptied at boot (/run, /tmp,
// /var/run, /var/lock, /var/tmp): data there is lost or breaks the host.
var SystemTrees = []string{"/boot", "/dev", "/etc", "/proc", "/run", "/sys", "/tmp", "/var/lock", "/var/run", "/var/tmp"}

// layoutDirs are the directories other owners use on every node: this
// tool's receipt and logs (root only) and HAProxy's socket directory. A data
// directory may be neither one of them nor inside one.
var layoutDirs = []string{"/var/lib/haproxy", "/var/lib/pgha-bundle", "/var/log/pgha-bundle"}

// nodePathRe is what a path on the node may hold: it is written unquoted
// into shell commands (archive_command) and systemd units, so no white space,
// quote, '%' or shell character.
var nodePathRe = regexp.MustCompile(`^/[A-Za-z0-9._+@/-]*$`)

// isSystemDir reports whether d is one of SystemDirs.
func isSystemDir(d string) bool {
	for _, s := range SystemDirs {
		if d == s {
			return true
		}
	}
	return false
}

// systemTree returns the tree of SystemTrees that holds d, or "".
func systemTree(d string) string {
	for _, t := range SystemTrees {
		if within(d, t) {
			return t
		}
	}
	return ""
}

// within reports whether d is dir or below it; both are clean and absolute.
func within(d, dir string) bool {
	return d == dir || dir == "/" || strings.HasPrefix(d, dir+"/")
}

// checkPath reports a node path that is not absolute, not clean or holds a
// character the node's configs cannot carry. It returns whether the path is
// usable for the directory checks.
func (c *checker) checkPath(p, value string) bool {
	switch {
	case value == "":
		return false
	case !strings.HasPrefix(value, "/"):
		c.errorf(p, msgAbsPath, p, value)
	case path.Clean(value) != value:
		c.errorf(p, msgPathNotClean, p, value, path.Clean(value))
	case !nodePathRe.MatchString(value):
		c.errorf(p, msgPathChars, p, value)
	default:
		return true
	}
	return false
}

// ownedDir is a directory install.sh hands to a service account.
type ownedDir struct {
	path  string // spec path reporting it
	what  string // how messages name it
	dir   string
	owner string // the account it is given to
	set   bool   // written in the spec (not a default)
}

// written reports whether a spec path was written in the spec.
func (s *Spec) written(p string) bool {
	_, ok := s.pos[p]
	return ok
}

// dirChecks checks the directories handed to service accounts: each not a
// system directory and not inside a system tree, and no two of different
// components the same or one inside the other; the WAL archive never inside
// PGDATA. pgdata is "" when unknown (the default needs the server major);
// pgdataOnly keeps only the problems involving PGDATA, for CheckForMajor.
func (s *Spec) dirChecks(pgdata string, pgdataOnly bool) Problems {
	c := &checker{s: s}
	set := s.written
	withPGDATA, others := pgdata != "", !pgdataOnly
	var dirs []ownedDir
	if pgdata != "" {
		dirs = append(dirs, ownedDir{"postgresql.data_dir", "PGDATA", pgdata, "postgres", s.PostgreSQL.DataDir != ""})
	}
	if s.Etcd.DataDir != "" && nodePathRe.MatchString(s.Etcd.DataDir) && path.Clean(s.Etcd.DataDir) == s.Etcd.DataDir {
		dirs = append(dirs, ownedDir{"etcd.data_dir", "the etcd data directory", s.Etcd.DataDir, "etcd", set("etcd.data_dir")})
	}
	if a := s.Archive; a.Directory != "" && a.Command == "" && (a.Enabled || set("archive.directory")) &&
		nodePathRe.MatchString(a.Directory) && path.Clean(a.Directory) == a.Directory {
		dirs = append(dirs, ownedDir{"archive.directory", "the WAL archive", a.Directory, "postgres", set("archive.directory")})
	}
	if v, ok := s.PostgreSQL.Parameters["log_directory"].(string); ok && strings.HasPrefix(v, "/") &&
		path.Clean(v) == v && nodePathRe.MatchString(v) {
		dirs = append(dirs, ownedDir{"postgresql.parameters.log_directory", "the PostgreSQL log directory", v, "postgres", true})
	}
	involvesPG := func(ds ...ownedDir) bool {
		for _, d := range ds {
			if d.path == "postgresql.data_dir" {
				return true
			}
		}
		return false
	}
	for _, d := range dirs {
		if !involvesPG(d) && !others {
			continue
		}
		switch {
		case isSystemDir(d.dir):
			how := "install.sh would give it to the " + d.owner + " account (chown, mode 0700)"
			if d.path == "postgresql.parameters.log_directory" {
				how = "PostgreSQL would write its logs there as postgres"
			}
			c.errorf(d.path, msgDirSystem, d.path, d.dir, how)
		case systemTree(d.dir) != "":
			c.errorf(d.path, msgDirSystemTree, d.path, d.dir, systemTree(d.dir))
		default:
			for _, l := range layoutDirs {
				if within(d.dir, l) || within(l, d.dir) {
					c.errorf(d.path, msgDirLayout, d.path, d.dir, l)
					break
				}
			}
		}
		if d.path == "postgresql.data_dir" {
			parent := path.Dir(d.dir)
			if isSystemDir(parent) && systemTree(d.dir) == "" && !isSystemDir(d.dir) {
				c.errorf(d.path, msgPGDATAParent, d.dir, parent, path.Join(parent, "pgsql", "data"))
			}
		}
	}
	for i, a := range dirs {
		for _, b := range dirs[i+1:] {
			if !involvesPG(a, b) && !others {
				continue
			}
			// Report at the one written in the spec (the later one when both
			// are), so the position points at what to change.
			at, other := b, a
			if !b.set && a.set {
				at, other = a, b
			}
			switch {
			case a.dir == b.dir:
				c.errorf(at.path, msgDirSame, at.path, at.dir, other.what)
			case a.path == "postgresql.data_dir" && b.path == "postgresql.parameters.log_directory" && within(b.dir, a.dir):
				// PostgreSQL's own logs may live in PGDATA (its default).
			case a.path == "postgresql.data_dir" && b.path == "archive.directory" && within(b.dir, a.dir):
				c.errorf(at.path, msgArchiveInPGDATA, b.dir, a.dir)
			case within(b.dir, a.dir):
				c.errorf(at.path, msgDirInside, b.path, b.dir, a.what, a.dir)
			case within(a.dir, b.dir):
				c.errorf(at.path, msgDirInside, a.path, a.dir, b.what, b.dir)
			}
		}
	}
	// Patroni writes its password file beside PGDATA, and install.sh makes a
	// missing parent postgres's with mode 0700: etcd's data cannot live below it.
	if withPGDATA && pgdata != "" && !isSystemDir(path.Dir(pgdata)) {
		parent := path.Dir(pgdata)
		for _, d := range dirs {
			if d.owner != "postgres" && within(d.dir, parent) && !within(d.dir, pgdata) && !within(pgdata, d.dir) {
				c.errorf(d.path, msgDirInPGParent, d.path, d.dir, parent, pgdata)
			}
		}
	}
	return c.ps
}
