package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Secret values of the test payload: they must never show up in a log.
const (
	testSuperuserPassword = "s3cret-superuser-pw"
	testStatsPassword     = "s3cret-stats-pw"
)

var testEpoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// nodeEnv renders node.env for the test member; binaries are bare names so
// the recorded stand-ins on PATH answer.
func nodeEnv(node, address, watchdog string) string {
	return fmt.Sprintf(`PGHA_CLUSTER='demo'
PGHA_NODE='%s'
PGHA_ADDRESS='%s'
PGHA_OS='el9'
PGHA_GENERATION='1'
PGHA_PGDATA='/var/lib/pgsql/16/data'
PGHA_PG_BIN_DIR='/usr/pgsql-16/bin'
PGHA_PG_MAJOR='16'
PGHA_PATRONI_BIN='patroni'
PGHA_PATRONICTL_BIN='patronictl'
PGHA_PATRONICTL_LEADER_FLAG='--master'
PGHA_ETCD_BIN='etcd'
PGHA_ETCDCTL_BIN='etcdctl'
PGHA_HAPROXY_BIN='haproxy'
PGHA_ETCD_DATA_DIR='/var/lib/etcd/demo'
PGHA_ETCD_ENDPOINTS='https://10.0.0.1:2379,https://%s:2379'
PGHA_PATRONI_SCHEME='https'
PGHA_PATRONI_CACERT='/etc/pgha-bundle/pki/ca.crt'
PGHA_ETCD_CACERT='/etc/pgha-bundle/pki/ca.crt'
PGHA_ETCD_CERT='/etc/pgha-bundle/pki/node.crt'
PGHA_ETCD_KEY='/etc/pgha-bundle/pki/etcd.key'
PGHA_PORT_POSTGRESQL='5432'
PGHA_PORT_PATRONI_API='8008'
PGHA_PORT_ETCD_CLIENT='2379'
PGHA_PORT_ETCD_PEER='2380'
PGHA_PORT_HAPROXY_RW='5000'
PGHA_PORT_HAPROXY_RO='5001'
PGHA_PORT_HAPROXY_STATS='7000'
PGHA_WATCHDOG='%s'
PGHA_MEMBERS='pg1=10.0.0.1 %s=%s'
PGHA_ARCHIVE_DIR=''
`, node, address, address, watchdog, node, address)
}

// testPayload is a small node payload shaped like the real one (docs/layout.md).
func testPayload(node, address, generation string) payload.Node {
	n := payload.Node{Name: node}
	add := func(p string, mode uint32, owner, group string, secret bool, content string) {
		n.Add(payload.File{Path: p, Mode: os.FileMode(mode), Owner: owner, Group: group, Secret: secret, Content: []byte(content)})
	}
	add("/etc/patroni/patroni.yml", 0o600, "postgres", "postgres", true,
		"scope: demo\nname: "+node+"\n# generation "+generation+"\npostgresql:\n  authentication:\n    superuser:\n      password: '"+testSuperuserPassword+"'\n")
	add("/etc/patroni/dcs.yml", 0o600, "postgres", "postgres", false, "ttl: 30\nloop_wait: 10\n")
	add("/etc/etcd/etcd.conf.yml", 0o640, "root", "etcd", false, "name: "+node+"\ndata-dir: /var/lib/etcd/demo\n")
	add("/etc/haproxy/haproxy.cfg", 0o640, "root", "haproxy", true,
		"listen stats\n    bind *:7000\n    stats enable\n    stats uri /\n    stats auth admin:"+testStatsPassword+"\n")
	add("/etc/systemd/system/etcd.service", 0o644, "root", "root", false, "[Service]\nType=notify\n")
	add("/etc/systemd/system/patroni.service", 0o644, "root", "root", false, "[Service]\nRestart=on-failure\n")
	add("/etc/systemd/system/haproxy.service", 0o644, "root", "root", false, "[Service]\n")
	add("/etc/pgha-bundle/hosts", 0o644, "root", "root", false, "10.0.0.1 pg1\n"+address+" "+node+"\n")
	add("/etc/pgha-bundle/node.env", 0o644, "root", "root", false, nodeEnv(node, address, "off"))
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
func fakePackage(t testing.TB, dir, name, nvra string, size int) Package {
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
	nevra := nvra
	if name == "patroni" {
		// An epoch, as some vendor packages carry: the scripts must drop it to query rpm.
		nevra = strings.Replace(nvra, "patroni-", "patroni-1:", 1)
	}
	return Package{Path: p, Filename: nvra + ".rpm", Name: name, NEVRA: nevra, SHA256: hex.EncodeToString(s[:]), Size: int64(len(data))}
}

// testInput is a complete input for member pg2 with three stand-in packages.
func testInput(t testing.TB, dir string) Input {
	t.Helper()
	return Input{
		Cluster: "demo", Node: "pg2", BuildID: "20240501T120000Z-abc123", Epoch: testEpoch,
		Payload: testPayload("pg2", "10.0.0.2", "1"),
		Packages: []Package{
			fakePackage(t, dir, "postgresql16-server", "postgresql16-server-16.2-1PGDG.rhel9.x86_64", 3000),
			fakePackage(t, dir, "etcd", "etcd-3.5.12-1.el9.x86_64", 2000),
			fakePackage(t, dir, "patroni", "patroni-3.2.2-1.el9.noarch", 1000),
		},
		Keys: []Key{{Name: "RPM-GPG-KEY-test", Data: []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nstand-in\n-----END PGP PUBLIC KEY BLOCK-----\n")}},
		Components: rpm.Components{
			PostgreSQL: rpm.PostgreSQLComponent{Package: "postgresql16-server-16.2-1PGDG.rhel9.x86_64", Version: "16.2", Major: 16, BinDir: "/usr/pgsql-16/bin"},
			Patroni:    rpm.PatroniComponent{Package: "patroni-1:3.2.2-1.el9.noarch", Version: "3.2.2", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
			Etcd:       rpm.EtcdComponent{Package: "etcd-3.5.12-1.el9.x86_64", Version: "3.5.12", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
			HAProxy:    rpm.HAProxyComponent{Version: "2.4.22", Bin: "/usr/sbin/haproxy"},
		},
	}
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
