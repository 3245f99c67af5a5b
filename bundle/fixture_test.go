package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// Secret values of the test payload: they must never show up in a log.
const (
	testSuperuserPassword = "s3cret-superuser-pw"
	testStatsPassword     = "s3cret-stats-pw"
)

var testEpoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fixtureSpec is the test cluster: members pg1 (10.0.0.1) and pg2
// (10.0.0.2), PostgreSQL 16, watchdog off, no archive. edit changes it
// before rendering, unvalidated: a test may hand the scripts what validate
// would refuse, to show the scripts refuse it too.
func fixtureSpec(t testing.TB, edit func(*cluster.Spec)) *cluster.Spec {
	t.Helper()
	spec, probs, err := cluster.Parse("fixture.yaml", []byte(`apiVersion: pgha-bundle/v1
cluster: {name: demo, os: el9, arch: x86_64, generation: 1}
nodes:
  - {name: pg1, address: 10.0.0.1}
  - {name: pg2, address: 10.0.0.2}
network: {mode: static, interface: eth0, prefix: 24, gateway: 10.0.0.254}
postgresql: {major: 16, data_dir: /var/lib/pgsql/16/data}
patroni: {watchdog: "off"}
etcd: {data_dir: /var/lib/etcd/demo}
`))
	if err != nil {
		t.Fatalf("fixture spec: %v\n%v", err, probs)
	}
	if edit != nil {
		edit(spec)
	}
	return spec
}

// binDir is where the fixture's binaries are: the host's stand-ins when dir
// is a test host's (newHost makes dir/bin), else a path that exists nowhere.
func binDir(dir string) string {
	if fi, err := os.Stat(filepath.Join(dir, "bin")); err == nil && fi.IsDir() {
		return filepath.Join(dir, "bin")
	}
	return "/opt/pgha-test/bin"
}

// fixtureComponents are what the packages of testInput provide; the
// binaries are absolute paths in bin.
func fixtureComponents(bin string) rpm.Components {
	return rpm.Components{
		PostgreSQL: rpm.PostgreSQLComponent{Package: "postgresql16-server-16.2-1PGDG.rhel9.x86_64", Version: "16.2", Major: 16, BinDir: "/usr/pgsql-16/bin"},
		Patroni:    rpm.PatroniComponent{Package: "patroni-1:3.2.2-1.el9.noarch", Version: "3.2.2", Bin: bin + "/patroni", Ctl: bin + "/patronictl"},
		Etcd:       rpm.EtcdComponent{Package: "etcd-3.5.12-1.el9.x86_64", Version: "3.5.12", Bin: bin + "/etcd", Ctl: bin + "/etcdctl"},
		HAProxy:    rpm.HAProxyComponent{Version: "2.4.22", Bin: bin + "/haproxy"},
	}
}

// setFacts renders the node's facts and hosts block with the real renderer
// (templates.NodeFacts, templates.HostsBlock) into in's payload.
func setFacts(t testing.TB, in *Input, dir string, edit func(*cluster.Spec)) {
	t.Helper()
	setFactsFrom(t, in, fixtureSpec(t, edit), fixtureComponents(binDir(dir)), &secrets.Secrets{HAProxyStatsPassword: testStatsPassword})
}

// setFactsFrom is setFacts for a spec, components and secrets of the
// caller's.
func setFactsFrom(t testing.TB, in *Input, spec *cluster.Spec, comp rpm.Components, sec *secrets.Secrets) {
	t.Helper()
	facts, err := templates.NodeFacts(spec, in.Node, comp, sec)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []payload.File{
		{Path: layout.NodeFacts, Mode: 0o600, Owner: "root", Group: "root", Secret: true, Content: facts},
		{Path: layout.HostsBlock, Mode: 0o644, Owner: "root", Group: "root", Content: templates.HostsBlock(spec)},
	} {
		f.Spans = payload.FindSecrets(f.Content, []string{testStatsPassword})
		replaced := false
		for i := range in.Payload.Files {
			if in.Payload.Files[i].Path == f.Path {
				in.Payload.Files[i], replaced = f, true
			}
		}
		if !replaced {
			in.Payload.Add(f)
		}
	}
	if err := in.Payload.Sort(); err != nil {
		t.Fatal(err)
	}
}

// testPayload is a small node payload shaped like the real one
// (docs/layout.md); setFacts adds the facts and the hosts block.
func testPayload(node, generation string) payload.Node {
	n := payload.Node{Name: node}
	add := func(p string, mode uint32, owner, group string, secret bool, content string) {
		n.Add(payload.File{Path: p, Mode: os.FileMode(mode), Owner: owner, Group: group, Secret: secret, Content: []byte(content)})
	}
	add("/etc/patroni/patroni.yml", 0o600, "postgres", "postgres", true,
		"scope: demo\nname: "+node+"\n# generation "+generation+"\npostgresql:\n  authentication:\n    superuser:\n      password: '"+testSuperuserPassword+"'\n")
	add("/etc/patroni/dcs.yml", 0o600, "postgres", "postgres", false, "ttl: 30\nloop_wait: 10\n")
	add("/etc/etcd/etcd.conf.yml", 0o640, "root", "etcd", false, "name: "+node+"\ndata-dir: /var/lib/etcd/demo\n")
	add("/etc/haproxy/haproxy.cfg", 0o640, "root", "haproxy", true,
		"listen stats\n    bind *:7000\n    stats enable\n    stats uri /\n    stats auth haproxy:"+testStatsPassword+"\n")
	add("/etc/systemd/system/etcd.service", 0o644, "root", "root", false, "[Service]\nType=notify\n")
	add("/etc/systemd/system/patroni.service", 0o644, "root", "root", false, "[Service]\nRestart=on-failure\n")
	add("/etc/systemd/system/haproxy.service", 0o644, "root", "root", false, "[Service]\n")
	add("/etc/pgha-bundle/pki/ca.crt", 0o644, "root", "root", false, "CA of demo\n")
	add("/etc/pgha-bundle/pki/node.crt", 0o644, "root", "root", false, "certificate of "+node+"\n")
	add("/etc/pgha-bundle/pki/etcd.key", 0o600, "etcd", "etcd", true, "key of "+node+"\n")
	add("/etc/pgha-bundle/pki/patroni.key", 0o600, "postgres", "postgres", true, "key of "+node+"\n")
	if err := n.Sort(); err != nil {
		panic(err)
	}
	return n
}

// fakePackage writes a stand-in RPM whose first line the recorded `rpm`
// stand-in reads as "name nvra", padded to size bytes.
func fakePackage(t testing.TB, dir, name, nvra string, size int) rpm.Package {
	t.Helper()
	data := []byte(name + " " + nvra + "\n")
	if pad := size - len(data); pad > 0 {
		data = append(data, bytes.Repeat([]byte{0xA5}, pad)...)
	}
	p := filepath.Join(dir, nvra+".rpm")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	pkg := rpm.Package{Path: p, Filename: nvra + ".rpm", Name: name, NEVRA: nvra, SHA256: hex.EncodeToString(s[:]), Size: int64(len(data)),
		Signature: rpm.SigNotChecked}
	// name-version-release.arch, as the verified headers give them.
	vra := strings.TrimPrefix(nvra, name+"-")
	pkg.Version, vra, _ = strings.Cut(vra, "-")
	pkg.Release, pkg.Arch = vra[:strings.LastIndex(vra, ".")], vra[strings.LastIndex(vra, ".")+1:]
	if name == "patroni" {
		// An epoch, as some vendor packages carry: the scripts must drop it to query rpm.
		pkg.Epoch, pkg.NEVRA = 1, strings.Replace(nvra, "patroni-", "patroni-1:", 1)
	}
	return pkg
}

// testInput is a complete input for member pg2 with three stand-in packages.
func testInput(t testing.TB, dir string) Input {
	t.Helper()
	in := Input{
		Cluster: "demo", Node: "pg2", BuildID: "20240501T120000Z-abc123", Epoch: testEpoch,
		Payload: testPayload("pg2", "1"),
		Packages: []rpm.Package{
			fakePackage(t, dir, "postgresql16-server", "postgresql16-server-16.2-1PGDG.rhel9.x86_64", 3000),
			fakePackage(t, dir, "etcd", "etcd-3.5.12-1.el9.x86_64", 2000),
			fakePackage(t, dir, "patroni", "patroni-3.2.2-1.el9.noarch", 1000),
		},
		Keys:       []rpm.KeyFile{{Name: "RPM-GPG-KEY-test", Data: []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nstand-in\n-----END PGP PUBLIC KEY BLOCK-----\n")}},
		Components: fixtureComponents(binDir(dir)),
	}
	setFacts(t, &in, dir, nil)
	return in
}

// writeBundle writes in to dir/<node>.tar.gz and returns its path.
func writeBundle(t testing.TB, dir string, in Input) string {
	t.Helper()
	p := filepath.Join(dir, in.Node+".tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, in); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
