package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// dirDigest hashes every path, mode and content under dir.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v\n", p, fi.Mode())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestValidateRules runs `pgha-bundle validate` on the example spec with one
// rule broken at a time: exit 2, the problem at FILE:LINE:COL, nothing
// written. (cluster's TestBadSpecs has the exact text of every rule.)
func TestValidateRules(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"system directory", "  data_dir: /var/lib/etcd", "  data_dir: /etc", ":91:13: etcd.data_dir /etc is a system directory"},
		{"archive inside PGDATA", "# backup:\n#   repo: {path: /var/lib/pgbackrest}", "archive:\n  directory: /var/lib/pgsql/15/data/wal", ""},
		{"check interval 0", "  check_interval: 3s", "  check_interval: 0", ":88:19: haproxy.check_interval 0 is out of HAProxy's range"},
		{"privileged port", "  postgresql: 5432", "  postgresql: 543", ":40:15: ports.postgresql 543 is below 1024"},
		{"broadcast address", "    address: 192.168.0.83", "    address: 192.168.0.255", ":23:14: address 192.168.0.255 is the broadcast address of 192.168.0.0/24"},
		{"gateway of another family", "  gateway: 192.168.0.1", "  gateway: fd00::1", ":33:12: network.gateway fd00::1 is IPv6, but the nodes' addresses are IPv4"},
		{"replication loop", "    address: 192.168.0.83", "    address: 192.168.0.83\n    tags: {replicatefrom: co7-node02}\n  - name: co7-node04\n    address: 192.168.0.84\n    tags: {replicatefrom: co7-node05}\n  - name: co7-node05\n    address: 192.168.0.85\n    tags: {replicatefrom: co7-node04}",
			":27:27: replicatefrom forms a loop: co7-node04 -> co7-node05 -> co7-node04"},
		{"unknown time zone", "  gateway: 192.168.0.1", "  gateway: 192.168.0.1\n  timezone: Mars/Olympus_Mons", ":34:13: network.timezone \"Mars/Olympus_Mons\" is not in the time zone database"},
		{"SSH key", "apiVersion: pgha-bundle/v1", "apiVersion: pgha-bundle/v1\nusers:\n  - name: dba\n    ssh_authorized_keys: [\"ssh-ed25519 AAAAnot-a-key dba\"]", ":8:27: users[0].ssh_authorized_keys[0] is not a usable OpenSSH public key line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ex := string(cluster.Example())
			if !strings.Contains(ex, tc.from+"\n") {
				t.Fatalf("test setup: the example lacks %q", tc.from)
			}
			path := filepath.Join(dir, "c.yaml")
			writeFile(t, path, strings.Replace(ex, tc.from+"\n", tc.to+"\n", 1))
			before := dirDigest(t, dir)
			args := []string{"validate", "-f", path}
			if tc.want == "" { // a default PGDATA: checked once the major is known
				args = append(args, "--major", "15")
				tc.want = ":81:14: archive.directory /var/lib/pgsql/15/data/wal is inside PGDATA /var/lib/pgsql/15/data"
			}
			code, out, errOut := runCLI(t, args...)
			if code != 2 || !strings.Contains(errOut, path+tc.want) || !strings.Contains(out, "invalid") {
				t.Errorf("exit %d, want 2 and %q\nstdout: %s\nstderr:\n%s", code, path+tc.want, out, errOut)
			}
			if after := dirDigest(t, dir); after != before {
				t.Error("validate changed the directory")
			}
		})
	}
}

// TestInitFromAnsibleBinary: a binary file given as the inventory is refused
// with its name, and nothing is written.
func TestInitFromAnsibleBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hosts")
	if err := os.WriteFile(bin, []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00[master]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirDigest(t, dir)
	code, out, errOut := runCLI(t, "init", "--from-ansible", bin, "-o", filepath.Join(dir, "c.yaml"))
	want := regexp.QuoteMeta(bin+" is not a text file (a NUL byte at byte 7): give the old playbook's Ansible INI inventory") +
		".*\n" + regexp.QuoteMeta("pgha-bundle: "+bin+" not converted; nothing written")
	if code != 2 || out != "" || !regexp.MustCompile(want).MatchString(errOut) || strings.Contains(errOut, "note:") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	if after := dirDigest(t, dir); after != before {
		t.Error("init changed the directory")
	}
}
