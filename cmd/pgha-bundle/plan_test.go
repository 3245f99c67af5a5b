package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/plan"
)

// planFixture builds the example cluster with the fixture packages.
func planFixture(t *testing.T) (dir, spec, pkgs, key, build string) {
	t.Helper()
	pkgs, key = packagesAndKey(t)
	dir = t.TempDir()
	spec = filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "build", "-q", "-f", spec, "--packages", pkgs, "--key", key, "--out", out); code != 0 {
		t.Fatalf("build: %s", errOut)
	}
	return dir, spec, pkgs, key, filepath.Join(out, "pgcluster")
}

// dryRun runs a node's install.sh --dry-run from its bundle on a fresh
// fake root, with the bundle tests' stand-ins for the host's commands,
// and returns what it printed.
func dryRun(t *testing.T, build, node, address string) string {
	t.Helper()
	testutil.NeedTool(t, "sha256sum", "coreutils")
	dir := t.TempDir()
	root, state, bin, x := filepath.Join(dir, "root"), filepath.Join(dir, "state"), filepath.Join(dir, "bin"), filepath.Join(dir, "x")
	for _, d := range []string{root + "/etc", root + "/run/systemd/system", root + "/usr/pgsql-15/bin", state, bin, x} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, root+"/etc/passwd", "root:x:0:0::/root:/bin/bash\n")
	writeFile(t, root+"/etc/group", "root:x:0:\n")
	writeFile(t, root+"/etc/hosts", "127.0.0.1 localhost\n")
	writeFile(t, root+"/etc/os-release", "ID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n")
	for _, b := range []string{"postgres", "pg_ctl", "initdb", "pg_controldata"} {
		writeFile(t, root+"/usr/pgsql-15/bin/"+b, "#!/bin/sh\n")
		os.Chmod(root+"/usr/pgsql-15/bin/"+b, 0o755)
	}
	stub, err := filepath.Abs("../../bundle/testdata/stubs/stub")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"id", "ip", "ss", "rpm", "yum", "dnf", "systemctl", "firewall-cmd", "getenforce", "getsebool",
		"setsebool", "semanage", "etcdctl", "curl", "patronictl", "useradd", "modprobe", "haproxy", "chown", "etcd", "patroni"} {
		if err := os.Symlink(stub, filepath.Join(bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := exec.Command("tar", "-xzf", filepath.Join(build, "bundles", node+".tar.gz"), "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, b)
	}
	cmd := exec.Command("bash", filepath.Join(x, "pgcluster-"+node, "install.sh"), "--dry-run")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "STUB_LOG="+filepath.Join(dir, "calls.log"), "STUB_STATE="+state,
		"STUB_ADDR="+address, "PGHA_ROOT="+root, "PGHA_POLL_INTERVAL=0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	// Everything before the daemons start must have run: the comparison
	// below is about those steps.
	if !strings.Contains(string(out), "==> start etcd") {
		t.Fatalf("install.sh --dry-run stopped before starting the daemons:\n%s", out)
	}
	return string(out)
}

func matches(re, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(s, -1) {
		out = append(out, strings.Join(m[1:], " "))
	}
	sort.Strings(out)
	return out
}

// TestPlanAgreesWithDryRun: the files (with modes and owners), directories,
// accounts and masked units of the plan are exactly those install.sh
// --dry-run reports on a fresh host.
func TestPlanAgreesWithDryRun(t *testing.T) {
	root := loadSchema(t)
	_, _, _, _, build := planFixture(t)
	code, stdout, errOut := runCLI(t, "plan", "--format", "json", build)
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, errOut)
	}
	if err := checkJSON(root, "plan_install", []byte(stdout)); err != nil {
		t.Fatalf("plan --format json does not fit the schema: %v\n%s", err, stdout)
	}
	var p plan.Install
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 3 {
		t.Fatalf("plan has %d nodes", len(p.Nodes))
	}
	for _, n := range []plan.NodeInstall{p.Nodes[0], p.Nodes[2]} {
		out := dryRun(t, build, n.Node, n.Address)
		var files, dirs []string
		for _, f := range n.Files {
			files = append(files, f.Path+" "+f.Mode+" "+f.Owner+":"+f.Group)
		}
		for _, d := range n.Directories {
			dirs = append(dirs, d.Path)
		}
		masks := append([]string{}, n.MaskUnits...)
		sort.Strings(files)
		sort.Strings(dirs)
		sort.Strings(masks)
		for _, c := range []struct {
			what      string
			plan, run []string
		}{
			{"files", files, matches(`would install (\S+) \((\d{4}) (\S+)\)`, out)},
			{"directories", dirs, matches(`would change: created directory (\S+)`, out)},
			{"accounts", n.Accounts, matches(`would change: created account (\S+)`, out)},
			{"masked units", masks, matches(`would change: masked (\S+)`, out)},
		} {
			if strings.Join(c.plan, "\n") != strings.Join(c.run, "\n") || len(c.plan) == 0 {
				t.Errorf("node %s: the plan's %s differ from install.sh --dry-run's:\nplan:\n%s\ndry run:\n%s", n.Node, c.what, strings.Join(c.plan, "\n"), strings.Join(c.run, "\n"))
			}
		}
		if !strings.Contains(out, "would change: receipt ") || !strings.Contains(out, n.Receipt+"\n") {
			t.Errorf("node %s: the dry run writes no receipt at %s", n.Node, n.Receipt)
		}
	}
}

// TestPlanCommand: a spec never built is planned without creating its
// secrets file; a spec, its build and its bundle give the same plan; two
// builds give an upgrade plan that fits the schema.
func TestPlanCommand(t *testing.T) {
	root := loadSchema(t)
	dir, spec, pkgs, key, build := planFixture(t)
	fresh := filepath.Join(dir, "fresh", "cluster.yaml")
	if err := os.MkdirAll(filepath.Dir(fresh), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fresh, string(cluster.Example()))
	code, text, errOut := runCLI(t, "plan", "-f", fresh, "--packages", pkgs, "--key", key)
	if code != 0 {
		t.Fatalf("plan -f: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"node co7-node02 (192.168.0.82, el7)",
		"0600 postgres:postgres  /etc/patroni/patroni.yml  (secret)",
		"0700 postgres:postgres  /var/lib/pgsql/15/data  (PGDATA)",
		"open 2380/tcp to 192.168.0.83 only (rich rule)",
		"masked units: postgresql.service postgresql-15.service",
		"patroni: Patroni healthy (GET /health 200)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan -f lacks %q:\n%s", want, text)
		}
	}
	withStdin(t, string(cluster.Example()), func() {
		code, fromStdin, errOut := runCLI(t, "plan", "-f", "-", "--packages", pkgs, "--key", key)
		if code != 0 || !strings.HasPrefix(fromStdin, "install plan of <stdin> (cluster pgcluster)") || !strings.Contains(fromStdin, "/etc/patroni/patroni.yml") {
			t.Errorf("plan -f -: exit %d, %s\n%.300s", code, errOut, fromStdin)
		}
	})
	if left, _ := os.ReadDir(filepath.Dir(fresh)); len(left) != 1 {
		t.Errorf("plan of a spec never built wrote %v", left)
	}
	strip := func(s string) string { // the source line names the input
		_, rest, _ := strings.Cut(s, "\n")
		return rest
	}
	_, fromSpec, _ := runCLI(t, "plan", "-f", spec, "--packages", pkgs, "--key", key)
	_, fromBuild, _ := runCLI(t, "plan", build)
	_, fromBundle, _ := runCLI(t, "plan", filepath.Join(build, "bundles", "co7-node01.tar.gz"))
	if strip(fromSpec) != strip(fromBuild) || len(fromBuild) < 2000 {
		t.Errorf("the spec's plan differs from its build's:\n%s\n---\n%s", fromSpec, fromBuild)
	}
	if !strings.Contains(strip(fromBuild), strip(fromBundle)) {
		t.Errorf("the bundle's plan is not its node's part of the build's:\n%s", fromBundle)
	}

	// A second build with another max_connections: dcs.yml changes.
	spec2 := filepath.Join(dir, "cluster2.yaml")
	writeFile(t, spec2, strings.Replace(string(cluster.Example()), "max_connections: 200", "max_connections: 300", 1))
	out2 := filepath.Join(dir, "out2")
	os.Mkdir(out2, 0o755)
	if code, _, errOut := runCLI(t, "build", "-q", "-f", spec2, "--secrets", filepath.Join(dir, "cluster.secrets.yaml"), "--packages", pkgs, "--key", key, "--out", out2); code != 0 {
		t.Fatalf("second build: %s", errOut)
	}
	code, js, errOut := runCLI(t, "plan", "--format", "json", build, filepath.Join(out2, "pgcluster"))
	if code != 0 {
		t.Fatalf("plan OLD NEW: exit %d: %s", code, errOut)
	}
	if err := checkJSON(root, "plan_upgrade", []byte(js)); err != nil {
		t.Fatalf("upgrade plan does not fit the schema: %v\n%s", err, js)
	}
	var u plan.Upgrade
	json.Unmarshal([]byte(js), &u)
	if len(u.Nodes) != 3 || u.Nodes[0].Mode != "configs" || !strings.Contains(js, `"path": "/etc/patroni/dcs.yml"`) || !strings.Contains(js, "patronictl edit-config") {
		t.Errorf("upgrade plan:\n%s", js)
	}
	_, text, _ = runCLI(t, "plan", build, filepath.Join(out2, "pgcluster"))
	if !strings.Contains(text, "order (the live leader decides the order") || !strings.Contains(text, "on the leader last") {
		t.Errorf("upgrade plan text:\n%s", text)
	}
	if code, _, errOut := runCLI(t, "plan", "a", "b", "c"); code != 2 || !strings.Contains(errOut, "at most two builds") {
		t.Errorf("plan a b c: exit %d %s", code, errOut)
	}
}
