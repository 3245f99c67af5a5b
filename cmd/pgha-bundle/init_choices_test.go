package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// Every choice init offers writes a spec that loads and validates without a
// problem, and is the cluster asked for.
func TestInitEveryChoice(t *testing.T) {
	dir := t.TempDir()
	for _, osName := range []string{"el7", "el8", "el9"} {
		for _, nodes := range []int{3, 5, 7} {
			for _, network := range []string{"static", "dhcp"} {
				for _, sync := range []string{"--sync", "--no-sync", ""} {
					name := fmt.Sprintf("%s-%d-%s%s", osName, nodes, network, sync)
					t.Run(name, func(t *testing.T) {
						path := filepath.Join(dir, name+".yaml")
						args := []string{"init", "--os", osName, "--nodes", strconv.Itoa(nodes), "--network", network, "-o", path}
						if sync != "" {
							args = append(args, sync)
						}
						if code, _, errOut := runCLI(t, args...); code != 0 || errOut != "" {
							t.Fatalf("exit %d, stderr %q", code, errOut)
						}
						s, ps, err := cluster.Load(path)
						if err != nil || len(ps) != 0 {
							t.Fatalf("the written spec has problems (%v):\n%s", err, ps)
						}
						if s.Cluster.OS != osName || len(s.Nodes) != nodes || s.Network.Mode != network ||
							s.Patroni.SynchronousMode != (sync != "--no-sync") {
							t.Errorf("got os %s, %d nodes, network %s, sync %v", s.Cluster.OS, len(s.Nodes), s.Network.Mode, s.Patroni.SynchronousMode)
						}
						if code, _, errOut := runCLI(t, "validate", "--strict", "-f", path); code != 0 {
							t.Errorf("validate --strict: exit %d: %s", code, errOut)
						}
					})
				}
			}
		}
	}
}

// A few representative choices, as written; -update rewrites them.
func TestInitChoicesGolden(t *testing.T) {
	for _, args := range [][]string{
		{"--os", "el8", "--nodes", "5"},
		{"--os", "el9", "--network", "dhcp"},
		{"--os", "el7", "--nodes", "7", "--no-sync"},
		{"--os", "el9", "--nodes", "5", "--network", "dhcp", "--no-sync"},
	} {
		name := strings.ReplaceAll(strings.TrimPrefix(strings.Join(args, "_"), "--"), "_--", "_")
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"init", "-o", "-"}, args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			testutil.Golden(t, filepath.Join("testdata", "init", name+".yaml"), []byte(out))
		})
	}
}

func TestInitChoiceErrors(t *testing.T) {
	inv := filepath.Join("..", "..", "cluster", "testdata", "ansible", "playbook.ini")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--os", "el6"}, `pgha-bundle: --os "el6": use el7, el8 or el9` + "\n"},
		{[]string{"--nodes", "4"}, "pgha-bundle: --nodes 4: use 3, 5 or 7 (an odd number keeps an etcd majority through a failure; etcd supports at most 7)\n"},
		{[]string{"--nodes", "9"}, "pgha-bundle: --nodes 9: use 3, 5 or 7"},
		{[]string{"--nodes", "1"}, "pgha-bundle: --nodes 1: use 3, 5 or 7"},
		{[]string{"--network", "bootp"}, `pgha-bundle: --network "bootp": use static or dhcp` + "\n"},
		{[]string{"--sync", "--no-sync"}, "pgha-bundle: --sync and --no-sync contradict each other: give one\n"},
		{[]string{"--from-ansible", inv, "--os", "el9"}, "pgha-bundle: --os does not apply with --from-ansible: the inventory decides the cluster\n"},
		{[]string{"--from-ansible", inv, "--no-sync"}, "pgha-bundle: --no-sync does not apply with --from-ansible"},
	} {
		path := filepath.Join(t.TempDir(), "c.yaml")
		code, out, errOut := runCLI(t, append([]string{"init", "-o", path}, tc.args...)...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", tc.args, code, out, errOut, tc.want)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("%v: a spec was written: %v", tc.args, err)
		}
	}
}

func TestInitHelpSnapshot(t *testing.T) {
	code, out, _ := runCLI(t, "init", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	testutil.Golden(t, "testdata/help/init.txt", []byte(out))
}

// validate prints the DHCP reservation note with its position, without
// counting it as a warning (--strict still passes).
func TestValidateDHCPNote(t *testing.T) {
	path := filepath.Join("testdata", "init", "os_el9_network_dhcp.yaml")
	code, out, errOut := runCLI(t, "validate", "--strict", "-f", path)
	want := "note: " + path + ":35:9: network.mode dhcp: every nodes[].address must be a DHCP reservation"
	if code != 0 || out != path+": valid: 3 nodes, 0 warnings\n" || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want a note starting %q", code, out, errOut, want)
	}
}
