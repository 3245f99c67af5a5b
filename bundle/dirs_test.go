package bundle

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// TestInstallRefusesSystemDirs runs install.sh with bundles whose node.env
// hands a system directory, or another component's, to a service account:
// it must refuse before changing anything (no mutating command, the whole
// root tree byte for byte as before).
func TestInstallRefusesSystemDirs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, from, to, want string
	}{
		{"etcd data in /etc", "PGHA_ETCD_DATA_DIR='/var/lib/etcd/demo'", "PGHA_ETCD_DATA_DIR='/etc'",
			"the etcd data directory /etc is a system directory"},
		{"etcd data below /etc", "PGHA_ETCD_DATA_DIR='/var/lib/etcd/demo'", "PGHA_ETCD_DATA_DIR='/etc/etcd'",
			"the etcd data directory /etc/etcd is inside /etc"},
		{"PGDATA is /var/lib", "PGHA_PGDATA='/var/lib/pgsql/16/data'", "PGHA_PGDATA='/var/lib'",
			"PGDATA /var/lib is a system directory"},
		{"PGDATA's parent is /srv", "PGHA_PGDATA='/var/lib/pgsql/16/data'", "PGHA_PGDATA='/srv/pgdata'",
			"the parent of PGDATA /srv is a system directory"},
		{"PGDATA not clean", "PGHA_PGDATA='/var/lib/pgsql/16/data'", "PGHA_PGDATA='/var/lib/pgsql/../../etc/x'",
			"is not a clean path"},
		{"archive is /", "PGHA_ARCHIVE_DIR=''", "PGHA_ARCHIVE_DIR='/'",
			"the WAL archive / is a system directory"},
		{"archive in PGDATA", "PGHA_ARCHIVE_DIR=''", "PGHA_ARCHIVE_DIR='/var/lib/pgsql/16/data/archive'",
			"the WAL archive /var/lib/pgsql/16/data/archive overlaps PGDATA"},
		{"etcd data in PGDATA's parent", "PGHA_ETCD_DATA_DIR='/var/lib/etcd/demo'", "PGHA_ETCD_DATA_DIR='/var/lib/pgsql/16/etcd'",
			"overlap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			in := testInput(t, h.dir)
			env := nodeEnv("pg2", "10.0.0.2", "off")
			if !strings.Contains(env, tc.from+"\n") {
				t.Fatalf("test setup: node.env lacks %s", tc.from)
			}
			setContent(&in, "/etc/pgha-bundle/node.env", strings.Replace(env, tc.from+"\n", tc.to+"\n", 1))
			must(t, in.Payload.Sort())
			h.extract(in)
			before := treeDigest(t, h.root)
			for _, args := range [][]string{nil, {"--dry-run"}} {
				out, code := h.run("install.sh", args...)
				if code == 0 || !strings.Contains(out, tc.want) {
					t.Fatalf("install.sh %v: exit %d, want a refusal saying %q:\n%s", args, code, tc.want, out)
				}
				if m := mutating(h.calls()); len(m) > 0 {
					t.Errorf("install.sh %v changed the host before refusing: %v", args, m)
				}
				if after := treeDigest(t, h.root); after != before {
					t.Errorf("install.sh %v changed the root tree:\nbefore %s\nafter  %s", args, before, after)
				}
			}
		})
	}
}

// treeDigest hashes every path, type, mode, owner and content under root.
func treeDigest(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		fmt.Fprintf(h, "%s %v %d %d\n", strings.TrimPrefix(p, root), fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintln(h, l)
		}
		return nil
	})
	must(t, err)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestSystemDirListsAgree: lib.sh's lists are the spec's (cluster.SystemDirs,
// cluster.SystemTrees), so install.sh refuses exactly what validate refuses.
func TestSystemDirListsAgree(t *testing.T) {
	lib, err := os.ReadFile("scripts/lib.sh")
	must(t, err)
	for _, c := range []struct {
		name string
		want []string
	}{{"SYSTEM_DIRS", cluster.SystemDirs}, {"SYSTEM_TREES", cluster.SystemTrees}} {
		m := regexp.MustCompile(`(?m)^` + c.name + `=\(([^)]*)\)`).FindSubmatch(lib)
		if m == nil {
			t.Fatalf("lib.sh has no %s=(...)", c.name)
		}
		got := strings.Fields(string(m[1]))
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("lib.sh %s:\n%v\ncluster:\n%v", c.name, got, c.want)
		}
	}
}
