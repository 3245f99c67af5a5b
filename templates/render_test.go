package templates

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// el7Components is what the example EL7 package set provides.
var el7Components = rpm.Components{
	PostgreSQL: rpm.PostgreSQLComponent{Version: "15.4", Major: 15, BinDir: "/usr/pgsql-15/bin"},
	Patroni:    rpm.PatroniComponent{Version: "3.2.2", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
	Etcd:       rpm.EtcdComponent{Version: "3.3.11", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
	HAProxy:    rpm.HAProxyComponent{Version: "1.5.18", Bin: "/usr/sbin/haproxy"},
}

// el9Components is a newer set: etcd 3.5 needs no gateway flag, HAProxy 2.4
// runs in master-worker mode.
var el9Components = rpm.Components{
	PostgreSQL: rpm.PostgreSQLComponent{Version: "16.2", Major: 16, BinDir: "/opt/vmware/postgres/16/bin"},
	Patroni:    rpm.PatroniComponent{Version: "3.3.0", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
	Etcd:       rpm.EtcdComponent{Version: "3.5.12", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
	HAProxy:    rpm.HAProxyComponent{Version: "2.4.22", Bin: "/usr/sbin/haproxy"},
}

func testSecrets(t *testing.T) *secrets.Secrets {
	t.Helper()
	s, err := secrets.Load(privateSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// privateSecrets is a private copy of testdata/secrets.yaml: git keeps no
// 0600 mode, and Load rightly refuses anything looser.
func privateSecrets(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/secrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(private, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return private
}

// specSecrets are testSecrets with a certificate for every machine of
// spec that the file lacks (a backup host), issued in memory as a build
// would.
func specSecrets(t *testing.T, spec *cluster.Spec) *secrets.Secrets {
	t.Helper()
	s := testSecrets(t)
	if spec.Backup == nil || spec.Backup.Host == nil {
		return s
	}
	var members []secrets.Member
	for _, n := range append(append([]cluster.Node(nil), spec.Nodes...), spec.BackupHostNode()) {
		members = append(members, secrets.Member{Name: n.Name, FQDN: spec.FQDN(n), Address: n.Address})
	}
	ca, err := secrets.ParseCertificate(s.TLS.CACert)
	if err != nil {
		t.Fatal(err)
	}
	// The file is cluster "test"'s, whatever the spec's name.
	out, _, err := secrets.Preview(privateSecrets(t), rand.Reader, secrets.Want{Cluster: "test",
		Nodes: secrets.NodeIdentities(members, false), Now: ca.NotBefore.Add(time.Hour), Backup: spec.Backup.Encrypted()})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadSpec(t *testing.T, name string, data []byte) *cluster.Spec {
	t.Helper()
	spec, probs, err := cluster.Parse(name, data)
	if err != nil {
		t.Fatalf("spec %s: %v\n%v", name, err, probs)
	}
	return spec
}

type renderCase struct {
	name string
	spec []byte
	comp rpm.Components
}

func renderCases(t *testing.T) []renderCase {
	el9 := strings.NewReplacer("os: el7", "os: el9", "wal_keep_size: 1024MB", "wal_keep_size: 2048MB",
		`watchdog: "off"`, `watchdog: "required"`, "  # tags:\n  #   nofailover: true", "    tags:\n      nofailover: true").
		Replace(string(cluster.Example()))
	backup, err := cluster.ExampleFor(cluster.ExampleOptions{OS: "el9", Nodes: 3, Sync: true, Backup: true})
	if err != nil {
		t.Fatal(err)
	}
	// The test secrets' certificates name the el7 example's nodes.
	backup = []byte(strings.ReplaceAll(string(backup), "el9-node", "co7-node"))
	withBackup := el9Components
	withBackup.PgBackRest = &rpm.PgBackRestComponent{Version: "2.54.1", Bin: "/usr/bin/pgbackrest"}
	// Both repositories: the mounted one and a backup host's over TLS.
	host := []byte(strings.Replace(string(backup), "backup:\n  repo:\n    path: /var/lib/pgbackrest\n",
		"backup:\n  repo:\n    path: /var/lib/pgbackrest\n  host:\n    name: co7-backup\n    address: 192.168.0.90\n    path: /srv/pgbackrest\n", 1))
	if bytes.Equal(host, backup) {
		t.Fatal("the backup example has no backup.repo.path to add a host beside")
	}
	return []renderCase{
		{"example-el7", cluster.Example(), el7Components},
		{"example-el9", []byte(el9), el9Components},
		{"backup-el9", backup, withBackup},
		{"backuphost-el9", host, withBackup},
		// A clone of another cluster, to a restore point of a given backup
		// set: the first node restores it, the others wait.
		{"clone-el9", []byte(string(backup) + "bootstrap:\n  from_backup:\n    stanza: prod\n    repo:\n      path: /mnt/prod-backups\n" +
			"    target:\n      name: before-migration-42\n    set: 20261204-010000F\n"), withBackup},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, c := range renderCases(t) {
		t.Run(c.name, func(t *testing.T) {
			spec := loadSpec(t, c.name+".yaml", c.spec)
			nodes, err := RenderAll(spec, c.comp, specSecrets(t, spec))
			if err != nil {
				t.Fatal(err)
			}
			if err := CrossCheck(nodes); err != nil {
				t.Fatalf("cross-check of a correct render failed: %v", err)
			}
			for _, n := range nodes {
				for _, f := range n.Files {
					if path.Dir(f.Path) == path.Dir(pki.CA) {
						continue // copied from the secrets, checked by CrossCheck
					}
					golden := filepath.Join("testdata", "golden", c.name, n.Name, filepath.FromSlash(f.Path))
					testutil.Golden(t, golden, f.Content)
				}
			}
		})
	}
}

func TestRenderedYAMLParsesAndDCSMatches(t *testing.T) {
	for _, c := range renderCases(t) {
		spec := loadSpec(t, c.name+".yaml", c.spec)
		nodes, err := RenderAll(spec, c.comp, specSecrets(t, spec))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			docs := map[string]map[string]interface{}{}
			for _, f := range n.Files {
				if !strings.HasSuffix(f.Path, ".yml") {
					continue
				}
				var m map[string]interface{}
				if err := yaml.Unmarshal(f.Content, &m); err != nil {
					t.Fatalf("%s %s: not YAML: %v", n.Name, f.Path, err)
				}
				docs[f.Path] = m
			}
			pat, member := docs["/etc/patroni/patroni.yml"]
			if !member {
				continue // the backup host
			}
			boot, ok := pat["bootstrap"].(map[string]interface{})
			if !ok {
				// A member of a cluster bootstrapped from another
				// cluster's backups that is not the first never
				// initialises it: no bootstrap section.
				if spec.BootstrapNode() != "" && n.Name != spec.BootstrapNode() {
					continue
				}
				t.Fatalf("%s: patroni.yml has no bootstrap section", n.Name)
			}
			dcs := boot["dcs"]
			if diff := cmp.Diff(docs["/etc/patroni/dcs.yml"], dcs); diff != "" {
				t.Errorf("%s: dcs.yml differs from patroni.yml bootstrap.dcs:\n%s", n.Name, diff)
			}
			params := dcs.(map[string]interface{})["postgresql"].(map[string]interface{})["parameters"].(map[string]interface{})
			// YAML 1.1 readers must see strings, never booleans.
			if params["hot_standby"] != "on" || (params["archive_mode"] != nil && params["archive_mode"] != "on") {
				t.Errorf("%s: on/off parameters not kept as strings: %#v %#v", n.Name, params["hot_standby"], params["archive_mode"])
			}
		}
	}
}

func TestVersionDependentSettings(t *testing.T) {
	spec := loadSpec(t, "ex.yaml", cluster.Example())
	cases := []struct {
		name     string
		mutate   func(*rpm.Components)
		file     string
		want     []string
		dontWant []string
	}{
		{"etcd 3.3 needs the gateway", func(c *rpm.Components) { c.Etcd.Version = "3.3.11" },
			"/etc/etcd/etcd.conf.yml", []string{"enable-grpc-gateway: true"}, nil},
		{"etcd 3.4 needs the gateway", func(c *rpm.Components) { c.Etcd.Version = "3.4.23" },
			"/etc/etcd/etcd.conf.yml", []string{"enable-grpc-gateway: true"}, nil},
		{"etcd 3.5 does not", func(c *rpm.Components) { c.Etcd.Version = "3.5.0" },
			"/etc/etcd/etcd.conf.yml", nil, []string{"enable-grpc-gateway"}},
		{"unknown etcd gets it", func(c *rpm.Components) { c.Etcd.Version = "" },
			"/etc/etcd/etcd.conf.yml", []string{"enable-grpc-gateway: true"}, nil},
		{"haproxy 1.5 runs under the wrapper", func(c *rpm.Components) { c.HAProxy.Version = "1.5.18" },
			"/etc/systemd/system/haproxy.service", []string{"ExecStart=/usr/sbin/haproxy-systemd-wrapper -f /etc/haproxy/haproxy.cfg"}, []string{"-Ws"}},
		{"haproxy 2.6 master-worker", func(c *rpm.Components) { c.HAProxy.Version = "2.6.12" },
			"/etc/systemd/system/haproxy.service", []string{"Type=notify", "ExecStart=/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg"}, []string{"wrapper"}},
		{"pg 12 keeps scram", func(c *rpm.Components) { c.PostgreSQL.Major = 12 },
			"/etc/patroni/dcs.yml", []string{`password_encryption: "scram-sha-256"`}, nil},
		{"the spec's wal_keep_size replaces the default", func(c *rpm.Components) { c.PostgreSQL.Major = 12 },
			"/etc/patroni/dcs.yml", []string{`wal_keep_size: "1024MB"`}, []string{"wal_keep_segments"}},
		{"pg 9.6 uses md5 and no rewind user", func(c *rpm.Components) { c.PostgreSQL.Major = 9 },
			"/etc/patroni/patroni.yml", []string{"replicator   192.168.0.81/32      md5"}, []string{"rewind_user"}},
		{"bin_dir from the packages", func(c *rpm.Components) { c.PostgreSQL.BinDir = "/opt/vmware/postgres/15/bin" },
			"/etc/patroni/patroni.yml", []string{`bin_dir: "/opt/vmware/postgres/15/bin"`}, nil},
		{"preinstalled haproxy on el7 is 1.5", func(c *rpm.Components) { c.HAProxy.Version = ""; c.HAProxy.Package = "" },
			"/etc/systemd/system/haproxy.service", []string{"haproxy-systemd-wrapper", "SuccessExitStatus=143"}, []string{"-Ws"}},
		{"etcd never killed while waiting for quorum", func(c *rpm.Components) {},
			"/etc/systemd/system/etcd.service", []string{"Type=notify", "TimeoutStartSec=0"}, []string{"ETCD_UNSUPPORTED_ARCH"}},
		{"patroni path in the unit", func(c *rpm.Components) { c.Patroni.Bin = "/opt/patroni/bin/patroni" },
			"/etc/systemd/system/patroni.service", []string{"ExecStart=/opt/patroni/bin/patroni /etc/patroni/patroni.yml", "Restart=on-failure"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			comp := el7Components
			c.mutate(&comp)
			n, err := Render(spec, "co7-node02", comp, testSecrets(t))
			if err != nil {
				t.Fatal(err)
			}
			f, ok := n.Lookup(c.file)
			if !ok {
				t.Fatalf("%s not rendered", c.file)
			}
			for _, w := range c.want {
				if !bytes.Contains(f.Content, []byte(w)) {
					t.Errorf("%s lacks %q:\n%s", c.file, w, f.Content)
				}
			}
			for _, w := range c.dontWant {
				if bytes.Contains(f.Content, []byte(w)) {
					t.Errorf("%s has %q:\n%s", c.file, w, f.Content)
				}
			}
		})
	}
}

// TestGenerationChangesNoNodeFile: the generation only makes cloud-init run
// the first boot again; the node's files stay the same, so install.sh of the
// rebuilt bundle has nothing to change.
func TestGenerationChangesNoNodeFile(t *testing.T) {
	example := string(cluster.Example())
	bumped := strings.Replace(example, "generation: 1", "generation: 7", 1)
	if bumped == example {
		t.Fatal("test setup: the example has no generation line")
	}
	a, err := RenderAll(loadSpec(t, "a.yaml", []byte(example)), el7Components, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := RenderAll(loadSpec(t, "b.yaml", []byte(bumped)), el7Components, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("a generation bump changed the node payloads:\n%s", diff)
	}
}

func TestDefaultWalKeepByMajor(t *testing.T) {
	example := string(cluster.Example())
	noKeep := strings.Replace(example, "    wal_keep_size: 1024MB\n", "", 1)
	if noKeep == example {
		t.Fatal("test setup: the example has no wal_keep_size line")
	}
	spec := loadSpec(t, "nokeep.yaml", []byte(noKeep))
	for major, want := range map[int]string{12: "wal_keep_segments: 8", 13: `wal_keep_size: "128MB"`, 16: `wal_keep_size: "128MB"`} {
		comp := el7Components
		comp.PostgreSQL.Major = major
		n, err := Render(spec, "co7-node01", comp, testSecrets(t))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := n.Lookup("/etc/patroni/dcs.yml")
		if !bytes.Contains(f.Content, []byte(want)) || bytes.Count(f.Content, []byte("wal_keep_")) != 1 {
			t.Errorf("PostgreSQL %d: want exactly %q:\n%s", major, want, f.Content)
		}
	}
}

// TestPostgreSQLTLSUnlessTheSpecSetsIt: PostgreSQL serves TLS with the node's
// certificate; a spec that sets ssl parameters itself keeps them alone.
func TestPostgreSQLTLSUnlessTheSpecSetsIt(t *testing.T) {
	example := string(cluster.Example())
	own := strings.Replace(example, "  parameters:\n", "  parameters:\n    ssl_cert_file: /etc/pki/tls/certs/db.crt\n", 1)
	if own == example {
		t.Fatal("test setup: the example has no postgresql.parameters")
	}
	for name, c := range map[string]struct {
		spec string
		want bool
	}{"default": {example, true}, "spec sets ssl_cert_file": {own, false}} {
		n, err := Render(loadSpec(t, name+".yaml", []byte(c.spec)), "co7-node01", el7Components, testSecrets(t))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := n.Lookup(patroniPath)
		var pat struct {
			PostgreSQL struct {
				Parameters map[string]string `yaml:"parameters"`
			} `yaml:"postgresql"`
		}
		if err := yaml.Unmarshal(f.Content, &pat); err != nil {
			t.Fatal(err)
		}
		p := pat.PostgreSQL.Parameters
		got := p["ssl"] == "on" && p["ssl_cert_file"] == pki.Cert && p["ssl_key_file"] == pki.PatroniKey
		if got != c.want || (!c.want && len(p) != 0) {
			t.Errorf("%s: local parameters %v, want the node's TLS %v", name, p, c.want)
		}
	}
}

// TestSwitchoverFlagByPatroniVersion: upgrade.sh names the leader with the
// option the packaged patronictl has.
func TestSwitchoverFlagByPatroniVersion(t *testing.T) {
	spec := loadSpec(t, "ex.yaml", cluster.Example())
	for version, want := range map[string]string{"2.1.7": "--master", "3.0.2": "--leader", "": "--leader"} {
		comp := el7Components
		comp.Patroni.Version = version
		n, err := Render(spec, "co7-node01", comp, testSecrets(t))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := n.Lookup(layout.NodeFacts)
		if line := "\npatronictl_leader_flag " + want + "\n"; !bytes.Contains(f.Content, []byte(line)) {
			t.Errorf("Patroni %q: node.facts lacks %q", version, line)
		}
	}
}

func TestEtcdOnArm64(t *testing.T) {
	spec := loadSpec(t, "arm.yaml", []byte(strings.Replace(string(cluster.Example()), "arch: x86_64", "arch: aarch64", 1)))
	for _, c := range []struct {
		version string
		want    bool
	}{{"3.3.11", true}, {"3.4.23", true}, {"3.5.9", false}} {
		comp := el7Components
		comp.Etcd.Version = c.version
		n, err := Render(spec, "co7-node01", comp, testSecrets(t))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := n.Lookup("/etc/systemd/system/etcd.service")
		if got := bytes.Contains(f.Content, []byte("Environment=ETCD_UNSUPPORTED_ARCH=arm64")); got != c.want {
			t.Errorf("etcd %s on aarch64: ETCD_UNSUPPORTED_ARCH set %v, want %v", c.version, got, c.want)
		}
	}
}

func TestModesAndOwners(t *testing.T) {
	spec := loadSpec(t, "ex.yaml", cluster.Example())
	n, err := Render(spec, "co7-node01", el7Components, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	sec := testSecrets(t)
	for _, f := range n.Files {
		holds := false
		for _, v := range sec.Values() {
			holds = holds || bytes.Contains(f.Content, []byte(v))
		}
		if holds && (!f.Secret || f.Mode&0o007 != 0) {
			t.Errorf("%s holds a secret but is marked secret=%v mode %04o", f.Path, f.Secret, f.Mode)
		}
		if bytes.Contains(f.Content, []byte(sec.TLS.CAKey)) {
			t.Errorf("%s holds the CA's key, which never leaves the secrets file", f.Path)
		}
	}
	p, _ := n.Lookup("/etc/patroni/patroni.yml")
	if p.Mode != 0o600 || p.Owner != "postgres" {
		t.Errorf("patroni.yml %04o %s, want 0600 postgres", p.Mode, p.Owner)
	}
}

func TestCrossCheckNamesBothFiles(t *testing.T) {
	spec := loadSpec(t, "ex.yaml", cluster.Example())
	cases := []struct {
		name, node, file, old, new string
		want                       []string
	}{
		{"peer url", "co7-node03", "/etc/etcd/etcd.conf.yml", `initial-advertise-peer-urls: "https://192.168.0.83:2380"`, `initial-advertise-peer-urls: "https://192.168.0.83:2381"`,
			[]string{"nodes/co7-node01/etc/etcd/etcd.conf.yml: initial-cluster has co7-node03=", "nodes/co7-node03/etc/etcd/etcd.conf.yml advertises peer URL"}},
		{"etcd3 host", "co7-node02", "/etc/patroni/patroni.yml", `- "192.168.0.83:2379"`, `- "192.168.0.84:2379"`,
			[]string{"nodes/co7-node02/etc/patroni/patroni.yml: etcd3 hosts", "/etc/etcd/etcd.conf.yml"}},
		{"check port", "co7-node01", "/etc/haproxy/haproxy.cfg", "check port 8008 check-ssl verify required ca-file /etc/pgha-bundle/pki/ca.crt verifyhost co7-node03\n\nlisten replicas", "check port 8009 check-ssl verify required ca-file /etc/pgha-bundle/pki/ca.crt verifyhost co7-node03\n\nlisten replicas",
			[]string{"nodes/co7-node01/etc/haproxy/haproxy.cfg: server co7-node03 checks port 8009", "nodes/co7-node03/etc/patroni/patroni.yml has the REST API on"}},
		{"server not a member", "co7-node01", "/etc/haproxy/haproxy.cfg", "server co7-node02", "server co7-node09",
			[]string{"nodes/co7-node01/etc/haproxy/haproxy.cfg: server co7-node09 in listen primary is not a Patroni member"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nodes, err := RenderAll(spec, el7Components, testSecrets(t))
			if err != nil {
				t.Fatal(err)
			}
			tampered := false
			for i := range nodes {
				if nodes[i].Name != c.node {
					continue
				}
				for j := range nodes[i].Files {
					f := &nodes[i].Files[j]
					if f.Path == c.file && bytes.Contains(f.Content, []byte(c.old)) {
						f.Content = bytes.Replace(f.Content, []byte(c.old), []byte(c.new), 1)
						tampered = true
					}
				}
			}
			if !tampered {
				t.Fatalf("test setup: %q not found in %s of %s", c.old, c.file, c.node)
			}
			err = CrossCheck(nodes)
			if err == nil {
				t.Fatal("cross-check passed a mismatched render")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestCrossCheckTLS: every way the TLS wiring of a node can break is caught,
// naming the file.
func TestCrossCheckTLS(t *testing.T) {
	spec := loadSpec(t, "ex.yaml", cluster.Example())
	edit := func(old, new string) func(f *payload.File) {
		return func(f *payload.File) { f.Content = bytes.Replace(f.Content, []byte(old), []byte(new), 1) }
	}
	cases := []struct {
		name, file string
		mutate     func(f *payload.File)
		want       string
	}{
		{"another node's certificate", pki.Cert, nil, "nodes/co7-node01/etc/pgha-bundle/pki/node.crt does not name 192.168.0.81, the node's etcd client URL"},
		{"key readable by others", pki.EtcdKey, func(f *payload.File) { f.Mode = 0o644 },
			"etc/etcd/etcd.conf.yml: client-transport-security.key-file names /etc/pgha-bundle/pki/etcd.key, which is 0644 etcd"},
		{"key of the wrong daemon", pki.PatroniKey, func(f *payload.File) { f.Owner = "etcd" },
			"etc/patroni/patroni.yml: etcd3.key names /etc/pgha-bundle/pki/patroni.key, which is 0600 etcd"},
		{"no client certificate auth", etcdPath, edit("peer-transport-security:\n  cert-file: \"/etc/pgha-bundle/pki/node.crt\"\n  key-file: \"/etc/pgha-bundle/pki/etcd.key\"\n  trusted-ca-file: \"/etc/pgha-bundle/pki/ca.crt\"\n  client-cert-auth: true", "peer-transport-security:\n  cert-file: \"/etc/pgha-bundle/pki/node.crt\"\n  key-file: \"/etc/pgha-bundle/pki/etcd.key\"\n  trusted-ca-file: \"/etc/pgha-bundle/pki/ca.crt\"\n  client-cert-auth: false"),
			"client-cert-auth must be true on both transports"},
		{"check without TLS", haproxyPath, edit(" check-ssl verify required", ""), "server co7-node01 in listen primary must check with check-ssl and verify required"},
		{"check accepts any member", haproxyPath, edit(" verifyhost co7-node02", ""), "server co7-node02 in listen primary must check with verifyhost co7-node02"},
		{"missing CA file", patroniPath, edit(`cafile: "/etc/pgha-bundle/pki/ca.crt"`, `cafile: "/etc/pgha-bundle/pki/other.crt"`),
			"restapi.cafile names /etc/pgha-bundle/pki/other.crt, which the payload does not hold"},
		{"plain etcd3", patroniPath, edit("protocol: https", "protocol: http"), `etcd3.protocol "http" must be https`},
		{"PostgreSQL reads etcd's key", patroniPath, edit(`ssl_key_file: "/etc/pgha-bundle/pki/patroni.key"`, `ssl_key_file: "/etc/pgha-bundle/pki/etcd.key"`),
			"postgresql.parameters.ssl_key_file names /etc/pgha-bundle/pki/etcd.key, which is 0600 etcd"},
		{"foreign CA", pki.CA, nil, "is not signed by the CA in nodes/co7-node01/etc/pgha-bundle/pki/ca.crt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nodes, err := RenderAll(spec, el7Components, testSecrets(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := CrossCheck(nodes); err != nil {
				t.Fatalf("untampered render fails: %v", err)
			}
			other, _ := nodes[1].Lookup(c.file)
			// CA and certificate cases swap in the file of another node or another CA.
			mutate := c.mutate
			if mutate == nil && c.file == pki.Cert {
				mutate = func(f *payload.File) { f.Content = other.Content }
			}
			if mutate == nil && c.file == pki.CA {
				ca := foreignCA(t)
				for i := range nodes { // every node trusts the foreign CA: only the signature is wrong
					for j := range nodes[i].Files {
						if nodes[i].Files[j].Path == pki.CA {
							nodes[i].Files[j].Content = ca
						}
					}
				}
				mutate = func(*payload.File) {}
			}
			found := false
			for j := range nodes[0].Files {
				if nodes[0].Files[j].Path == c.file {
					mutate(&nodes[0].Files[j])
					found = true
				}
			}
			if !found {
				t.Fatalf("test setup: no %s", c.file)
			}
			err = CrossCheck(nodes)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error lacks %q:\n%v", c.want, err)
			}
		})
	}
}

// foreignCA is a CA certificate the cluster never issued anything with.
func foreignCA(t *testing.T) []byte {
	t.Helper()
	s := &secrets.Secrets{}
	if _, err := s.EnsureTLS(rand.Reader, time.Now(), "foreign", nil); err != nil {
		t.Fatal(err)
	}
	return []byte(s.TLS.CACert)
}

// TestHAProxyAcceptsConfig runs Debian's haproxy -c on every rendered config.
// haproxy loads the CA file while checking: the node's ca.crt is written
// beside the config and the path points there.
func TestHAProxyAcceptsConfig(t *testing.T) {
	haproxy := testutil.NeedTool(t, "haproxy", "haproxy")
	dir := t.TempDir()
	for _, c := range renderCases(t) {
		spec := loadSpec(t, c.name+".yaml", c.spec)
		nodes, err := RenderAll(spec, c.comp, specSecrets(t, spec))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			f, member := n.Lookup("/etc/haproxy/haproxy.cfg")
			if !member {
				continue // the backup host
			}
			ca, ok := n.Lookup(pki.CA)
			if !ok || !bytes.Contains(f.Content, []byte("ca-file "+pki.CA)) {
				t.Fatalf("%s of %s: no CA file, or haproxy.cfg does not use it", n.Name, c.name)
			}
			caPath := filepath.Join(dir, c.name+"-"+n.Name+"-ca.crt")
			if err := os.WriteFile(caPath, ca.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := bytes.ReplaceAll(f.Content, []byte(pki.CA), []byte(caPath))
			path := filepath.Join(dir, c.name+"-"+n.Name+".cfg")
			if err := os.WriteFile(path, cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(haproxy, "-c", "-f", path).CombinedOutput()
			if err != nil {
				t.Errorf("haproxy -c rejects %s of %s: %v\n%s", n.Name, c.name, err, out)
			}
		}
	}
}

var _ = payload.Node{}
