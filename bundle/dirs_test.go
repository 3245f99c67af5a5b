package bundle

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
)

// TestInstallRefusesSystemDirs runs install.sh with bundles whose facts
// hands a system directory, or another component's, to a service account:
// it must refuse before changing anything (no mutating command, the whole
// root tree byte for byte as before).
func TestInstallRefusesSystemDirs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(*cluster.Spec)
		want string
	}{
		{"etcd data in /etc", func(s *cluster.Spec) { s.Etcd.DataDir = "/etc" },
			"the etcd data directory /etc is a system directory"},
		{"etcd data below /etc", func(s *cluster.Spec) { s.Etcd.DataDir = "/etc/etcd" },
			"the etcd data directory /etc/etcd is inside /etc"},
		{"PGDATA is /var/lib", func(s *cluster.Spec) { s.PostgreSQL.DataDir = "/var/lib" },
			"PGDATA /var/lib is a system directory"},
		{"PGDATA's parent is /srv", func(s *cluster.Spec) { s.PostgreSQL.DataDir = "/srv/pgdata" },
			"the parent of PGDATA /srv is a system directory"},
		{"PGDATA not clean", func(s *cluster.Spec) { s.PostgreSQL.DataDir = "/var/lib/pgsql/../../etc/x" },
			"is not a clean path"},
		{"archive is /", func(s *cluster.Spec) { s.Archive.Enabled, s.Archive.Directory = true, "/" },
			"the WAL archive / is a system directory"},
		{"archive in PGDATA", func(s *cluster.Spec) { s.Archive.Enabled, s.Archive.Directory = true, "/var/lib/pgsql/16/data/archive" },
			"the WAL archive /var/lib/pgsql/16/data/archive overlaps PGDATA"},
		{"etcd data in PGDATA's parent", func(s *cluster.Spec) { s.Etcd.DataDir = "/var/lib/pgsql/16/etcd" },
			"overlap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t)
			in := testInput(t, h.dir)
			setFacts(t, &in, h.dir, tc.edit)
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

// TestSystemDirListsAgree: the facts give lib.sh the spec's lists
// (cluster.SystemDirs, cluster.SystemTrees), so install.sh refuses exactly
// what validate refuses.
func TestSystemDirListsAgree(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	nf, _ := in.Payload.Lookup(layout.NodeFacts)
	lines, err := layout.ParseFacts(nf.Content)
	must(t, err)
	got := map[string][]string{}
	for _, l := range lines {
		if l[0] == "system_dir" || l[0] == "system_tree" {
			got[l[0]] = append(got[l[0]], l[1])
		}
	}
	for key, want := range map[string][]string{"system_dir": cluster.SystemDirs, "system_tree": cluster.SystemTrees} {
		if strings.Join(got[key], " ") != strings.Join(want, " ") {
			t.Errorf("facts %s:\n%v\ncluster:\n%v", key, got[key], want)
		}
	}
}
