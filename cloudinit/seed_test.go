package cloudinit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// testBundleSum stands in for the sha256 of a bundle archive.
const testBundleSum = "7d3e1b1b1c6b3e4e5e2bd3a06a1bc2a8f0b18c5f8b58a0e5bfd3b8d1b4a2b6c9"

// loadSpec decodes a test spec strictly (unknown keys are errors).
func loadSpec(t testing.TB, name string) *cluster.Spec {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var s cluster.Spec
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &s
}

func mustRender(t testing.TB, in Input) Seed {
	t.Helper()
	s, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGolden pins the seed files of every node of a 3-node el7 cluster and
// an el9 one; review the golden diff after go test -update.
func TestGolden(t *testing.T) {
	cases := []struct {
		spec string
		args []string
	}{
		{"el7-static", nil},
		{"el9-static", []string{"--skip-os-check"}},
	}
	for _, c := range cases {
		spec := loadSpec(t, c.spec)
		for _, n := range spec.Nodes {
			t.Run(c.spec+"/"+n.Name, func(t *testing.T) {
				s := mustRender(t, Input{Spec: spec, Node: n.Name, BundleSHA256: testBundleSum, InstallArgs: c.args})
				dir := filepath.Join("testdata", c.spec, n.Name)
				testutil.Golden(t, filepath.Join(dir, NameUserData), s.UserData)
				testutil.Golden(t, filepath.Join(dir, NameMetaData), s.MetaData)
				testutil.Golden(t, filepath.Join(dir, NameNetworkConfig), s.NetworkConfig)
			})
		}
	}
}

// variants are every combination of target, addressing and users the schema
// test feeds to Debian's cloud-init.
func variants(t testing.TB) map[string]Input {
	out := map[string]Input{}
	for _, os := range []string{"el7", "el8", "el9"} {
		for _, mode := range []string{"static", "dhcp"} {
			for _, users := range []bool{true, false} {
				s := loadSpec(t, "el7-static")
				s.Cluster.OS = os
				s.Network.Mode = mode
				if !users {
					s.Users = nil
				}
				name := os + "-" + mode
				if users {
					name += "-users"
				}
				out[name] = Input{Spec: s, Node: "pg2", BundleSHA256: testBundleSum, InstallArgs: []string{"--skip-os-check", "--it's quoted"}}
			}
		}
	}
	s := loadSpec(t, "el9-static")
	out["el9-nobundle"] = Input{Spec: s, Node: "db-a"}
	out["el9-media"] = Input{Spec: s, Node: "db-a", BundleSHA256: testBundleSum, PackagesMedia: testMedia}
	for _, n := range exampleSpec(t).Nodes {
		out["example-"+n.Name] = Input{Spec: exampleSpec(t), Node: n.Name, BundleSHA256: testBundleSum}
	}
	return out
}

// testMedia is a shared packages media as a seed names it.
var testMedia = &PackagesMedia{Label: "PGPROD_PKGS_0123ABCD", SHA256: strings.Repeat("cd", 32), Tarball: "pgprod-packages.tar"}

// exampleSpec is the spec the cluster package ships as its example, loaded
// with defaults and validation.
func exampleSpec(t testing.TB) *cluster.Spec {
	t.Helper()
	s, _, err := cluster.Load(filepath.Join("..", "cluster", "example.yaml"))
	if err != nil {
		t.Fatalf("cluster example: %v", err)
	}
	return s
}

// schemaScript validates every file named on its command line with the
// schema code of cloud-init schema -c, in one Python process (the CLI takes
// seconds to start), and prints VALID or INVALID with the errors.
const schemaScript = `
import sys
from cloudinit.config.schema import validate_cloudconfig_file, get_schema, SchemaValidationError
schema = get_schema()
for p in sys.argv[1:]:
    try:
        validate_cloudconfig_file(p, schema)
        print("VALID", p)
    except SchemaValidationError as e:
        print("INVALID", p, e)
`

// cloudInitPython returns the interpreter Debian's cloud-init runs with.
func cloudInitPython(t testing.TB, ci string) string {
	t.Helper()
	b, err := os.ReadFile(ci)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	py, ok := strings.CutPrefix(first, "#!")
	if !ok {
		t.Fatalf("%s does not start with #!", ci)
	}
	return strings.Fields(py)[0]
}

// TestCloudInitSchema checks every user-data we generate with Debian's
// cloud-init schema validator: the CLI on one, its validation code on all,
// after checking both reject a broken document.
func TestCloudInitSchema(t *testing.T) {
	ci := testutil.NeedTool(t, "cloud-init", "cloud-init")
	dir := t.TempDir()
	write := func(name string, ud []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, ud, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	broken := write("broken", []byte("#cloud-config\nusers: 5\nwrite_files:\n- path: /x\n  permissions: 7\n"))
	if out, err := exec.Command(ci, "schema", "-c", broken).CombinedOutput(); err == nil {
		t.Fatalf("cloud-init schema accepted broken user-data:\n%s", out)
	}
	vs := variants(t)
	first := write("first", mustRender(t, vs["el7-static-users"]).UserData)
	if out, err := exec.Command(ci, "schema", "-c", first).CombinedOutput(); err != nil || !strings.Contains(string(out), "Valid cloud-config") {
		t.Errorf("cloud-init schema -c: %v\n%s", err, out)
	}

	args := []string{"-c", schemaScript, broken}
	uds := map[string][]byte{}
	for name, in := range vs {
		uds[name] = mustRender(t, in).UserData
		args = append(args, write(name, uds[name]))
	}
	out, err := exec.Command(cloudInitPython(t, ci), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	verdict := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "VALID" || f[0] == "INVALID") {
			verdict[filepath.Base(f[1])] = line
		}
	}
	if !strings.HasPrefix(verdict["broken"], "INVALID") {
		t.Fatalf("the validator did not reject the broken document:\n%s", out)
	}
	for name := range vs {
		if !strings.HasPrefix(verdict[name], "VALID") {
			t.Errorf("%s: %s\n%s", name, verdict[name], uds[name])
		}
	}
}

// seedScript returns the install script user-data writes, after checking the
// write_files entry and runcmd that carry and start it.
func seedScript(t testing.TB, ud []byte) string {
	t.Helper()
	var doc struct {
		WriteFiles []struct {
			Path, Owner, Permissions, Content string
		} `yaml:"write_files"`
		RunCmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(ud, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.WriteFiles) != 1 || doc.WriteFiles[0].Path != ScriptPath ||
		doc.WriteFiles[0].Owner != "root:root" || doc.WriteFiles[0].Permissions != "0700" {
		t.Fatalf("write_files: %+v", doc.WriteFiles)
	}
	if len(doc.RunCmd) != 1 || len(doc.RunCmd[0]) != 1 || doc.RunCmd[0][0] != ScriptPath {
		t.Fatalf("runcmd %q does not start %s alone", doc.RunCmd, ScriptPath)
	}
	return doc.WriteFiles[0].Content
}

// TestShellcheck checks the install script of every variant, in one run.
func TestShellcheck(t *testing.T) {
	sc := testutil.NeedTool(t, "shellcheck", "shellcheck")
	dir := t.TempDir()
	args := []string{"-s", "bash", "-S", "style"}
	for name, in := range variants(t) {
		p := filepath.Join(dir, name+".sh")
		if err := os.WriteFile(p, []byte(seedScript(t, mustRender(t, in).UserData)), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	if out, err := exec.Command(sc, args...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// TestScriptValues checks that the script carries what the node needs, with
// the install arguments passed through word for word.
func TestScriptValues(t *testing.T) {
	in := variants(t)["el7-static-users"]
	script := seedScript(t, mustRender(t, in).UserData)
	bash := testutil.NeedTool(t, "bash", "bash")
	// Evaluate the script's variable block alone and print the values bash sees.
	head := script[:strings.Index(script, "MOUNT_DIR=''")]
	out, err := exec.Command(bash, "-c", head+`printf '%s\n' "$BUNDLE_SHA256" "$BUNDLE_TOP" "$SEED_LABEL" "$BUNDLE_NAME" "${INSTALL_ARGS[@]}"`).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := strings.Join([]string{testBundleSum, "pgprod-pg2", VolumeLabel, NameBundle, "--skip-os-check", "--it's quoted"}, "\n") + "\n"
	if string(out) != want {
		t.Errorf("script values:\n%s\nwant:\n%s", out, want)
	}
	for _, line := range []string{"10.20.0.11 pg1.db.example.com pg1", "10.20.0.12 pg2.db.example.com pg2", "10.20.0.13 pg3.db.example.com pg3"} {
		if !strings.Contains(script, "'"+line+"'") {
			t.Errorf("script lacks hosts line %q", line)
		}
	}
}

func metaData(t testing.TB, s Seed) map[string]string {
	t.Helper()
	var m map[string]string
	if err := yaml.Unmarshal(s.MetaData, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInstanceID checks the instance-id is stable across rebuilds (even when
// the bundle changes) and changed by generation and by node.
func TestInstanceID(t *testing.T) {
	spec := loadSpec(t, "el7-static")
	a := metaData(t, mustRender(t, Input{Spec: spec, Node: "pg1", BundleSHA256: testBundleSum}))
	b := metaData(t, mustRender(t, Input{Spec: loadSpec(t, "el7-static"), Node: "pg1", BundleSHA256: strings.Repeat("0", 64)}))
	if a["instance-id"] == "" || a["instance-id"] != b["instance-id"] {
		t.Errorf("rebuild changed instance-id: %q -> %q", a["instance-id"], b["instance-id"])
	}
	if a["local-hostname"] != "pg1" {
		t.Errorf("local-hostname %q", a["local-hostname"])
	}
	bumped := loadSpec(t, "el7-static")
	bumped.Cluster.Generation++
	c := metaData(t, mustRender(t, Input{Spec: bumped, Node: "pg1"}))
	if c["instance-id"] == a["instance-id"] {
		t.Errorf("generation bump kept instance-id %q", c["instance-id"])
	}
	d := metaData(t, mustRender(t, Input{Spec: spec, Node: "pg2"}))
	if d["instance-id"] == a["instance-id"] {
		t.Errorf("two nodes share instance-id %q", d["instance-id"])
	}
}

// TestRenderErrors checks Render refuses inputs it cannot turn into a
// working seed.
func TestRenderErrors(t *testing.T) {
	cases := map[string]func(in *Input){
		"unknown node":     func(in *Input) { in.Node = "pg9" },
		"bad sha256":       func(in *Input) { in.BundleSHA256 = "abc" },
		"newline arg":      func(in *Input) { in.InstallArgs = []string{"--a\n--b"} },
		"unknown os":       func(in *Input) { in.Spec.Cluster.OS = "el6" },
		"bad mode":         func(in *Input) { in.Spec.Network.Mode = "bootp" },
		"no interface":     func(in *Input) { in.Spec.Network.Interface = "" },
		"bad address":      func(in *Input) { in.Spec.Nodes[1].Address = "10.20.0.300" },
		"no prefix":        func(in *Input) { in.Spec.Network.Prefix = 0 },
		"gateway v6 on v4": func(in *Input) { in.Spec.Network.Gateway = "fe80::1" },
		"bad dns":          func(in *Input) { in.Spec.Network.DNS = []string{"dns.example.com"} },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			in := Input{Spec: loadSpec(t, "el7-static"), Node: "pg2", BundleSHA256: testBundleSum}
			mod(&in)
			if _, err := Render(in); err == nil {
				t.Error("Render accepted it")
			}
		})
	}
}

// netConvertScript runs cloud-init's net-convert (the code behind
// cloud-init devel net-convert) once per argument triple INPUT OUTDIR KIND,
// in one Python process: the CLI takes seconds to start.
const netConvertScript = `
import sys
from cloudinit.cmd.devel import net_convert
parser = net_convert.get_parser()
a = sys.argv[1:]
for i in range(0, len(a), 3):
    net_convert.handle_args("net-convert", parser.parse_args(
        ["-p", a[i], "-k", "yaml", "-d", a[i+1], "-D", "rhel", "-O", a[i+2]]))
`

// TestNetworkConfig converts static network-configs with Debian's
// cloud-init to what EL images apply (ifcfg files from the sysconfig
// renderer, and NetworkManager keyfiles for version 2) and checks the
// addressing that comes out; DHCP gives no network-config.
func TestNetworkConfig(t *testing.T) {
	ci := testutil.NeedTool(t, "cloud-init", "cloud-init")
	cases := []struct {
		spec, node, os string
		version        int
		want           []string // lines of ifcfg-<interface>
		ipv6           bool     // turn the spec's addresses into IPv6 ones
		nm             []string // lines of the NetworkManager keyfile (v2 only)
	}{
		{"el7-static", "pg1", "el7", 1, []string{"DEVICE=eth0", "HWADDR=00:50:56:8a:10:11", "BOOTPROTO=none", "IPADDR=10.20.0.11", "NETMASK=255.255.255.0", "GATEWAY=10.20.0.1", "DNS1=10.20.0.2", "DNS2=10.20.0.3", `DOMAIN="db.example.com example.com"`}, false, nil},
		{"el7-static", "pg3", "el9", 2, []string{"DEVICE=eth0", "IPADDR=10.20.0.13", "NETMASK=255.255.255.0", "GATEWAY=10.20.0.1", "DEFROUTE=yes", "DNS1=10.20.0.2", "DNS2=10.20.0.3", `DOMAIN="db.example.com example.com"`}, false, []string{"address1=10.20.0.13/24", "route1=0.0.0.0/0,10.20.0.1", "dns=10.20.0.2;10.20.0.3;"}},
		{"el9-static", "db-b", "el9", 2, []string{"DEVICE=ens192", "HWADDR=52:54:00:12:34:56", "IPADDR=192.168.50.22", "NETMASK=255.255.255.192", "GATEWAY=192.168.50.1", "DEFROUTE=yes", "DNS1=192.168.50.2", "DOMAIN=orders.internal"}, false, []string{"mac-address=52:54:00:12:34:56", "address1=192.168.50.22/26", "route1=0.0.0.0/0,192.168.50.1", "dns-search=orders.internal;"}},
		{"el9-static", "db-c", "el7", 1, []string{"DEVICE=ens192", "IPADDR=192.168.50.23", "NETMASK=255.255.255.192", "GATEWAY=192.168.50.1", "DNS1=192.168.50.2", "DOMAIN=orders.internal"}, false, nil},
		{"el9-static", "db-a", "el7", 1, []string{"IPV6ADDR=fd00:50::21/64", "IPV6INIT=yes", "IPV6_DEFAULTGW=fd00:50::1", "DNS1=fd00:50::2"}, true, nil},
		{"el9-static", "db-a", "el9", 2, []string{"IPV6ADDR=fd00:50::21/64", "IPV6INIT=yes", "IPV6_DEFAULTGW=fd00:50::1", "DNS1=fd00:50::2"}, true, []string{"address1=fd00:50::21/64", "gateway=fd00:50::1"}},
	}
	dir := t.TempDir()
	var args []string
	ifaces := map[int]string{}
	for i, c := range cases {
		spec := loadSpec(t, c.spec)
		spec.Cluster.OS = c.os
		if c.ipv6 {
			for i := range spec.Nodes {
				spec.Nodes[i].Address = fmt.Sprintf("fd00:50::%d/64", 21+i)
			}
			spec.Network.Gateway, spec.Network.DNS = "fd00:50::1", []string{"fd00:50::2"}
		}
		ifaces[i] = spec.Network.Interface
		s := mustRender(t, Input{Spec: spec, Node: c.node})
		var shape map[string]any
		if err := yaml.Unmarshal(s.NetworkConfig, &shape); err != nil {
			t.Fatal(err)
		}
		if shape["version"] != c.version {
			t.Errorf("case %d: version %v, want %d", i, shape["version"], c.version)
		}
		nc := filepath.Join(dir, fmt.Sprintf("%d.yaml", i))
		if err := os.WriteFile(nc, s.NetworkConfig, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, nc, filepath.Join(dir, fmt.Sprint(i), "sysconfig"), "sysconfig")
		if c.nm != nil {
			args = append(args, nc, filepath.Join(dir, fmt.Sprint(i), "nm"), "network-manager")
		}
	}
	if out, err := exec.Command(cloudInitPython(t, ci), append([]string{"-c", netConvertScript}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("net-convert: %v\n%s", err, out)
	}
	hasLines := func(file string, want []string) {
		t.Helper()
		b, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			return
		}
		for _, w := range want {
			if !strings.Contains("\n"+string(b)+"\n", "\n"+w+"\n") {
				t.Errorf("%s lacks %q:\n%s", filepath.Base(file), w, b)
			}
		}
	}
	for i, c := range cases {
		out := filepath.Join(dir, fmt.Sprint(i))
		hasLines(filepath.Join(out, "sysconfig/etc/sysconfig/network-scripts/ifcfg-"+ifaces[i]), c.want)
		if c.nm != nil {
			hasLines(filepath.Join(out, "nm/etc/NetworkManager/system-connections/cloud-init-"+ifaces[i]+".nmconnection"), c.nm)
		}
	}
	spec := loadSpec(t, "el7-static")
	spec.Network.Mode = "dhcp"
	if s := mustRender(t, Input{Spec: spec, Node: "pg1"}); s.NetworkConfig != nil {
		t.Errorf("dhcp mode wrote network-config:\n%s", s.NetworkConfig)
	}
}

// TestScriptTakesPathsFromTheLayout: the seed script's template names no
// on-node path of its own; each comes from the layout as a template value.
func TestScriptTakesPathsFromTheLayout(t *testing.T) {
	for _, p := range testutil.ScriptPathProblems("seed-install.sh.tmpl", []byte(scriptTemplate)) {
		t.Error(p)
	}
	// The check finds a path written out in a template.
	if got := testutil.ScriptPathProblems("planted.tmpl", []byte("\tmktemp /run/pgha-x.XXXXXX\n")); len(got) != 1 {
		t.Errorf("planted path: %q", got)
	}
}
