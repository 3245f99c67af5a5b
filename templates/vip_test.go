package templates

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// vipSpec is the example with a vip section of the given mode, the third
// node carrying the address on another interface.
func vipSpec(t *testing.T, mode string) *cluster.Spec {
	t.Helper()
	s := strings.Replace(string(cluster.Example()), "    address: 192.168.0.83\n", "    address: 192.168.0.83\n    vip_interface: ens224\n", 1)
	s += "vip:\n  address: 192.168.0.80\n  mode: " + mode + "\n"
	return loadSpec(t, "vip.yaml", []byte(s))
}

func vipSecrets(t *testing.T) *secrets.Secrets {
	sec := testSecrets(t)
	sec.VRRPPassword = "Vr9pSecretAbcdefghjkmnpqrstuvwxy"
	return sec
}

func withKeepalived(c rpm.Components, version string) rpm.Components {
	c.Keepalived = &rpm.KeepalivedComponent{Version: version, Bin: "/usr/sbin/keepalived"}
	return c
}

func renderVIP(t *testing.T, mode string, comp rpm.Components) []payload.Node {
	t.Helper()
	nodes, err := RenderAll(vipSpec(t, mode), comp, vipSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

func file(t *testing.T, n payload.Node, path string) payload.File {
	t.Helper()
	f, ok := n.Lookup(path)
	if !ok {
		t.Fatalf("%s has no %s", n.Name, path)
	}
	return f
}

// keepalived 2.2 (Debian's) accepts every node's keepalived.conf in both
// modes, and refuses one with a line broken: the check can fail.
func TestKeepalivedConfigTest(t *testing.T) {
	keepalived := testutil.NeedTool(t, "keepalived", "keepalived")
	dir := t.TempDir()
	hostIface := ""
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 && i.Flags&net.FlagBroadcast != 0 {
			hostIface = i.Name
			break
		}
	}
	if hostIface == "" {
		t.Fatal("this host has no broadcast interface for keepalived --config-test to accept")
	}
	test := func(name string, conf []byte) ([]byte, error) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		return exec.Command(keepalived, "--config-test", "-f", path).CombinedOutput()
	}
	for _, mode := range []string{cluster.VIPModeHAProxy, cluster.VIPModeLeader} {
		for _, n := range renderVIP(t, mode, withKeepalived(el9Components, "2.2.8")) {
			conf := file(t, n, layout.KeepalivedConfig).Content
			// The check script at a root-owned path of the test.
			check := filepath.Join(dir, mode+"-"+n.Name+"-check")
			if err := os.WriteFile(check, file(t, n, layout.VIPCheck).Content, 0o755); err != nil {
				t.Fatal(err)
			}
			conf = bytes.ReplaceAll(conf, []byte(layout.VIPCheck), []byte(check))
			// keepalived refuses interfaces this host lacks (and loopback):
			// one of the test host's stands for eth0 and ens224.
			for _, iface := range []string{"eth0", "ens224"} {
				conf = bytes.ReplaceAll(conf, []byte(" "+iface+"\n"), []byte(" "+hostIface+"\n"))
			}
			if out, err := test(mode+"-"+n.Name+".conf", conf); err != nil {
				t.Errorf("keepalived --config-test rejects %s (%s): %v\n%s", n.Name, mode, err, out)
			}
			if n.Name == "co7-node01" && mode == cluster.VIPModeHAProxy {
				broken := bytes.Replace(conf, []byte("    virtual_ipaddress {\n"), []byte("    virtual_ipaddress {\n        not-an-address\n"), 1)
				if out, err := test("broken.conf", broken); err == nil {
					t.Errorf("keepalived --config-test accepts a bad virtual_ipaddress:\n%s", out)
				}
			}
		}
	}
}

// What keepalived.conf says, node by node: unicast to exactly the other
// members, this node's interface, the VRRP password's first 8 characters
// (the rest would be ignored), equal priorities, no nopreempt; the file is
// secret and the password redacted in it.
func TestKeepalivedConf(t *testing.T) {
	sec := vipSecrets(t)
	nodes := renderVIP(t, cluster.VIPModeHAProxy, withKeepalived(el7Components, "1.3.5"))
	peers := map[string][]string{
		"co7-node01": {"192.168.0.82", "192.168.0.83"},
		"co7-node02": {"192.168.0.81", "192.168.0.83"},
		"co7-node03": {"192.168.0.81", "192.168.0.82"},
	}
	for i, n := range nodes {
		f := file(t, n, layout.KeepalivedConfig)
		c := string(f.Content)
		if f.Mode != 0o600 || f.Owner != "root" || !f.Secret || len(f.Spans) == 0 {
			t.Errorf("%s: mode %o owner %s secret %v spans %v", n.Name, f.Mode, f.Owner, f.Secret, f.Spans)
		}
		if !strings.Contains(c, "unicast_src_ip 192.168.0.8"+string(rune('1'+i))+"\n") {
			t.Errorf("%s: wrong unicast_src_ip:\n%s", n.Name, c)
		}
		if !strings.Contains(c, "    unicast_peer {\n        "+strings.Join(peers[n.Name], "\n        ")+"\n    }") {
			t.Errorf("%s: unicast peers are not the other members:\n%s", n.Name, c)
		}
		iface := "eth0"
		if n.Name == "co7-node03" {
			iface = "ens224"
		}
		if !strings.Contains(c, "interface "+iface+"\n") || !strings.Contains(c, "192.168.0.80/24 dev "+iface+"\n") {
			t.Errorf("%s: interface is not %s:\n%s", n.Name, iface, c)
		}
		if !strings.Contains(c, "auth_pass "+sec.VRRPPassword[:8]+"\n") {
			t.Errorf("%s: auth_pass is not the password's first 8 characters", n.Name)
		}
		if strings.Contains(c, sec.VRRPPassword) {
			t.Errorf("%s: the whole password is in the file: keepalived would ignore all but 8 characters", n.Name)
		}
		for _, s := range []string{"state BACKUP\n", "priority 100\n", "weight -50\n", "script \"" + layout.VIPCheck + " peers\"\n", "        pgha_vip_check\n        pgha_vip_peers\n", "virtual_router_id " + strconv.Itoa(cluster.VirtualRouterIDFor("pgcluster")) + "\n", "enable_script_security\n"} {
			if !strings.Contains(c, s) {
				t.Errorf("%s: lacks %q", n.Name, s)
			}
		}
		if strings.Contains(c, "nopreempt") || strings.Contains(c, "state MASTER") {
			t.Errorf("%s: nopreempt or MASTER (a tracked, nopreempt instance never moves: keepalived issue 2599)", n.Name)
		}
	}
}

// HAProxy binds the VIP beside the node's own address on both client ports
// (never *: or 0.0.0.0), haproxy -c accepts it; the sysctl file allows the
// non-local bind; without a vip none of these files exists.
func TestHAProxyBindsTheVIP(t *testing.T) {
	haproxy := testutil.NeedTool(t, "haproxy", "haproxy")
	dir := t.TempDir()
	for _, n := range renderVIP(t, cluster.VIPModeHAProxy, withKeepalived(el9Components, "2.2.8")) {
		f := file(t, n, "/etc/haproxy/haproxy.cfg")
		cfg := string(f.Content)
		self := n.Name[len(n.Name)-1:]
		for _, port := range []string{"5000", "5001"} {
			if !strings.Contains(cfg, "    bind 192.168.0.8"+self+":"+port+"\n    bind 192.168.0.80:"+port+"\n") {
				t.Errorf("%s: port %s not bound to the node's address and the VIP:\n%s", n.Name, port, cfg)
			}
		}
		if strings.Contains(cfg, "bind *") || strings.Contains(cfg, "bind 0.0.0.0") || strings.Contains(cfg, "bind :") || strings.Contains(cfg, "192.168.0.80:7000") {
			t.Errorf("%s: binds all addresses or the stats port on the VIP", n.Name)
		}
		ca := file(t, n, pki.CA)
		caPath := filepath.Join(dir, n.Name+"-ca.crt")
		if err := os.WriteFile(caPath, ca.Content, 0o644); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, n.Name+".cfg")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(cfg, pki.CA, caPath)), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(haproxy, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Errorf("haproxy -c rejects %s: %v\n%s", n.Name, err, out)
		}
		if s := string(file(t, n, layout.VIPSysctl).Content); !strings.Contains(s, "\nnet.ipv4.ip_nonlocal_bind = 1\n") {
			t.Errorf("%s: sysctl file:\n%s", n.Name, s)
		}
		facts := string(file(t, n, layout.NodeFacts).Content)
		if !strings.Contains(facts, "\nvip 192.168.0.80 haproxy\n") {
			t.Errorf("%s: node.facts lacks the VIP:\n%s", n.Name, facts)
		}
		if p := string(file(t, n, "/etc/patroni/patroni.yml").Content); strings.Contains(p, "192.168.0.80") {
			t.Errorf("%s: PostgreSQL listens on the VIP in haproxy mode", n.Name)
		}
	}
	nodes, err := RenderAll(loadSpec(t, "ex.yaml", cluster.Example()), withKeepalived(el9Components, "2.2.8"), testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{layout.KeepalivedConfig, layout.VIPCheck, layout.VIPSysctl} {
		if _, ok := nodes[0].Lookup(p); ok {
			t.Errorf("%s rendered without a vip", p)
		}
	}
}

// Leader mode: PostgreSQL also listens on the VIP, and the check asks the
// local REST API's /primary over TLS.
func TestVIPLeaderMode(t *testing.T) {
	for _, n := range renderVIP(t, cluster.VIPModeLeader, withKeepalived(el9Components, "2.2.8")) {
		self := "192.168.0.8" + n.Name[len(n.Name)-1:]
		p := string(file(t, n, "/etc/patroni/patroni.yml").Content)
		if !strings.Contains(p, `  listen: "`+self+`,192.168.0.80:5432"`) {
			t.Errorf("%s: PostgreSQL does not listen on the VIP:\n%s", n.Name, p)
		}
		// A failing check must put the node in FAULT (weight 0), never
		// merely lower its priority: a replica would hold the address.
		if k := string(file(t, n, layout.KeepalivedConfig).Content); !strings.Contains(k, "    weight 0\n") || strings.Contains(k, "weight -") {
			t.Errorf("%s: leader mode must track its check with weight 0:\n%s", n.Name, k)
		}
		check := string(file(t, n, layout.VIPCheck).Content)
		if !strings.Contains(check, "'https://"+self+":8008/primary'") || !strings.Contains(check, "--cacert '"+pki.CA+"'") {
			t.Errorf("%s: check:\n%s", n.Name, check)
		}
	}
}

// Without a keepalived package or a vrrp_password, a spec with a vip does
// not render, and says what to do.
func TestVIPNeedsKeepalivedAndPassword(t *testing.T) {
	if _, err := RenderAll(vipSpec(t, "haproxy"), el9Components, vipSecrets(t)); err == nil || !strings.Contains(err.Error(), "no package installs keepalived") {
		t.Errorf("without keepalived: %v", err)
	}
	if _, err := RenderAll(vipSpec(t, "haproxy"), withKeepalived(el9Components, "2.2.8"), testSecrets(t)); err == nil || !strings.Contains(err.Error(), "vrrp_password") {
		t.Errorf("without vrrp_password: %v", err)
	}
}

// The check scripts are bash that shellcheck accepts.
func TestVIPCheckScripts(t *testing.T) {
	shellcheck := testutil.NeedTool(t, "shellcheck", "shellcheck")
	dir := t.TempDir()
	for _, mode := range []string{cluster.VIPModeHAProxy, cluster.VIPModeLeader} {
		n := renderVIP(t, mode, withKeepalived(el9Components, "2.2.8"))[0]
		path := filepath.Join(dir, mode)
		if err := os.WriteFile(path, file(t, n, layout.VIPCheck).Content, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(shellcheck, path).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s check: %v\n%s", mode, err, out)
		}
	}
}

// The haproxy-mode check, run for real against a stand-in stats page and
// PostgreSQL port: it passes only when exactly one server is UP behind the
// read-write port and this node connects to it, and fails when any of that
// breaks.
func TestVIPCheckHAProxyMode(t *testing.T) {
	testutil.NeedTool(t, "curl", "curl")
	dir := t.TempDir()
	n := renderVIP(t, cluster.VIPModeHAProxy, withKeepalived(el9Components, "2.2.8"))[0]
	script := string(file(t, n, layout.VIPCheck).Content)

	pg, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := pg.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer pg.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	var csv string
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "haproxy" || p != "statspw" || r.URL.RawQuery != "" && r.URL.Path != "/;csv" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, csv)
	}))
	defer stats.Close()
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte("listen stats\n    stats auth haproxy:statspw\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	header := "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n"
	row := func(px, sv, status string) string {
		return px + "," + sv + ",0,0,0,0,,0,0,0,,0,,0,0,0,0," + status + ",1\n"
	}
	for _, tt := range []struct {
		name   string
		csv    string
		pgPort int
		ok     bool
	}{
		{"one primary up and reachable", row("primary", "FRONTEND", "OPEN") + row("primary", "co7-node02", "UP") + row("primary", "co7-node01", "DOWN") + row("replicas", "co7-node01", "UP") + row("primary", "BACKEND", "UP"), 0, true},
		{"no primary up", row("primary", "co7-node01", "DOWN") + row("primary", "co7-node02", "DOWN") + row("replicas", "co7-node01", "UP"), 0, false},
		{"two primaries up", row("primary", "co7-node01", "UP") + row("primary", "co7-node02", "UP"), 0, false},
		{"primary up but unreachable", row("primary", "co7-node02", "UP"), closedPort, false},
		{"stats page down", "", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			csv = header + tt.csv
			port := pg.Addr().(*net.TCPAddr).Port
			if tt.pgPort != 0 {
				port = tt.pgPort
			}
			url := stats.URL + "/;csv"
			if tt.csv == "" {
				url = "http://127.0.0.1:" + strconv.Itoa(closedPort) + "/;csv"
			}
			s := strings.NewReplacer(
				"/etc/haproxy/haproxy.cfg", cfg,
				"'http://192.168.0.81:7000/;csv'", "'"+url+"'",
				"'192.168.0.81'", "'127.0.0.1'", "'192.168.0.82'", "'127.0.0.1'", "'192.168.0.83'", "'127.0.0.1'",
				`"$addr" 5432`, `"$addr" `+strconv.Itoa(port),
			).Replace(script)
			path := filepath.Join(dir, "check")
			if err := os.WriteFile(path, []byte(s), 0o755); err != nil {
				t.Fatal(err)
			}
			err := exec.Command("bash", path).Run()
			if (err == nil) != tt.ok {
				t.Errorf("check exit %v, want success %v\n%s", err, tt.ok, s)
			}
		})
	}
}

// The peers check, run for real: it passes while this node reaches at least
// one other member's etcd peer port, whichever, and fails when it reaches
// none, so that a node cut off from the others gives the address up.
func TestVIPCheckPeers(t *testing.T) {
	n := renderVIP(t, cluster.VIPModeHAProxy, withKeepalived(el9Components, "2.2.8"))[0]
	script := string(file(t, n, layout.VIPCheck).Content)
	if !strings.Contains(script, "for addr in '192.168.0.82' '192.168.0.83'; do") {
		t.Fatalf("the peers check does not try exactly the other members:\n%s", script)
	}
	// The other members become 127.0.0.2 and 127.0.0.3 on one free port.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(probe.Addr().(*net.TCPAddr).Port)
	probe.Close()
	script = strings.NewReplacer("'192.168.0.82'", "'127.0.0.2'", "'192.168.0.83'", "'127.0.0.3'",
		`"$addr" 2380`, `"$addr" `+port).Replace(script)
	path := filepath.Join(t.TempDir(), "check")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		listening []string
		ok        bool
	}{
		{"both peers", []string{"127.0.0.2", "127.0.0.3"}, true},
		{"only the second peer", []string{"127.0.0.3"}, true},
		{"only the first peer", []string{"127.0.0.2"}, true},
		{"no peer", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, addr := range tt.listening {
				l, err := net.Listen("tcp", addr+":"+port)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
			}
			err := exec.Command("bash", path, "peers").Run()
			if (err == nil) != tt.ok {
				t.Errorf("peers check exit %v, want success %v", err, tt.ok)
			}
		})
	}
}
