//go:build e2e

package e2ecluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

const (
	clusterName = "e2e"
	// overall bounds the whole scenario; every wait below is a poll with its
	// own, shorter deadline, so a hang fails with a message, cleanup included.
	overall = 9 * time.Minute
	// writeInterval paces the load client (at most 200 rows/s).
	writeInterval = 5 * time.Millisecond
	loadTable     = "e2e_load"
)

var members = []struct{ name, addr string }{
	{"pg1", "127.0.0.11"}, {"pg2", "127.0.0.12"}, {"pg3", "127.0.0.13"},
}

const specTemplate = `apiVersion: pgha-bundle/v1
cluster:
  name: %s
  os: el9
  arch: x86_64
  generation: 1
  allow_loopback: true
nodes:
  - name: pg1
    address: 127.0.0.11
  - name: pg2
    address: 127.0.0.12
  - name: pg3
    address: 127.0.0.13
network:
  mode: dhcp
  clients: [127.0.0.0/8]
postgresql:
  parameters:
    max_connections: 50
    shared_buffers: 32MB
patroni:
  ttl: 20
  loop_wait: 5
  retry_timeout: 5
  synchronous_mode: true
  watchdog: "off"
packages:
  dir: %s
  keys: [%s]
`

// scenario is the state shared by the steps of TestCluster.
type scenario struct {
	t         *testing.T
	ctx       context.Context
	root      *nsRoot
	nodes     []*node
	p         ports
	pg        pgConn
	endpoints []string
	statsUser string
	sec       *secrets.Secrets
	figures   []string
}

func (s *scenario) figure(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.figures = append(s.figures, line)
	s.t.Log("figure: " + line)
}

func (s *scenario) step(title string, f func() error) {
	s.t.Helper()
	s.t.Logf("==> %s", title)
	start := time.Now()
	if err := f(); err != nil {
		s.t.Fatalf("%s: %v", title, err)
	}
	s.t.Logf("    %s: ok in %v", title, time.Since(start).Round(time.Millisecond))
}

func (s *scenario) node(name string) *node {
	for _, n := range s.nodes {
		if n.name == name {
			return n
		}
	}
	s.t.Fatalf("no node %q", name)
	return nil
}

// TestCluster runs the configs a build emits, unchanged, on Debian's etcd,
// Patroni, PostgreSQL 15 and HAProxy, and proves the cluster forms, routes,
// fails over without losing an acknowledged row, and shrugs off the faults
// that must not hurt.
func TestCluster(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the cluster test needs root (namespaces, mounts) and CI runs as root")
		}
		t.Skip("the cluster test needs root: run it as root")
	}
	for _, tool := range [][2]string{
		{"etcd", "etcd-server"}, {"etcdctl", "etcd-client"}, {"patroni", "patroni"}, {"haproxy", "haproxy"},
		{"/usr/lib/postgresql/15/bin/postgres", "postgresql-15"}, {"psql", "postgresql-client-15"},
		{"unshare", "util-linux"}, {"nsenter", "util-linux"}, {"setpriv", "util-linux"},
		{"curl", "curl"}, {"ip", "iproute2"}, {"ss", "iproute2"}, {"rpm", "rpm"}, {"tar", "tar"}, {"sha256sum", "coreutils"},
	} {
		testutil.NeedTool(t, tool[0], tool[1])
	}
	// Stop well before go test's own -timeout, which would exit without
	// running the cleanups (daemons, mounts).
	deadline := time.Now().Add(overall)
	if d, ok := t.Deadline(); ok && d.Add(-30*time.Second).Before(deadline) {
		deadline = d.Add(-30 * time.Second)
	}
	// SIGINT/SIGTERM end the scenario through its context, so the cleanups
	// still run (a test binary killed outright would leave daemons behind).
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithDeadline(sigCtx, deadline)
	defer cancel()

	tmp, err := os.MkdirTemp("", "pgha-e2e-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range privatePaths {
		if tmp == p || strings.HasPrefix(tmp, p+"/") {
			os.Remove(tmp)
			t.Fatalf("the work directory %s lies under %s, which every node overlays: set TMPDIR elsewhere (e.g. /tmp)", tmp, p)
		}
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(tmp); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	reapCtx, stopReaper := context.WithCancel(context.Background())
	t.Cleanup(stopReaper)

	s := &scenario{t: t, ctx: ctx}
	var bundles map[string]string
	s.step("build the cluster with pgha-bundle", func() error {
		var err error
		bundles, err = s.build(filepath.Join(tmp, "build"))
		return err
	})
	if err := startReaper(reapCtx); err != nil {
		t.Fatal(err)
	}
	s.step("namespaces: one network for the cluster, one mount namespace per node", func() error {
		return s.setupNamespaces(filepath.Join(tmp, "nodes"))
	})
	s.step("install each node with its bundle's install.sh", func() error { return s.install(bundles) })

	var healthy time.Duration
	var topo topology
	s.step("start etcd, Patroni and HAProxy from their units; wait for a healthy cluster", func() error {
		start := time.Now()
		if err := s.startAll("etcd"); err != nil {
			return err
		}
		if _, err := poll(ctx, 60*time.Second, "etcd healthy", func(ctx context.Context) error {
			return etcdMembers(ctx, s.root, s.endpoints, 3)
		}); err != nil {
			return err
		}
		if err := s.startAll("patroni"); err != nil {
			return err
		}
		if err := s.startAll("haproxy"); err != nil {
			return err
		}
		var err error
		topo, err = s.waitHealthy(ctx, 120*time.Second, s.nodes, "")
		healthy = time.Since(start)
		return err
	})
	s.figure("time to a healthy cluster: %v", healthy.Round(100*time.Millisecond))
	t.Logf("leader %s, synchronous standby %s", topo.leader.Name, topo.sync.Name)

	leader := s.node(topo.leader.Name)
	// The load goes through the synchronous standby's HAProxy: that node
	// survives the leader's crash. The third node is the one whose HAProxy
	// is killed.
	via := s.node(topo.sync.Name)
	var third *node
	for _, n := range s.nodes {
		if n != leader && n != via {
			third = n
		}
	}

	s.step("create the load table", func() error {
		_, err := s.pg.query(ctx, leader.addr, s.p.rw, "CREATE TABLE "+loadTable+" (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
		return err
	})
	s.step("a client through HAProxy gets TLS from PostgreSQL (libpq's sslmode=prefer)", func() error {
		got, err := s.pg.query(ctx, via.addr, s.p.rw, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
		if err != nil {
			return err
		}
		if !strings.HasPrefix(got, "t|TLS") {
			return fmt.Errorf("pg_stat_ssl of the session says %q, want TLS", got)
		}
		return nil
	})
	w := &loadWriter{conn: s.pg, host: via.addr, port: s.p.rw, table: loadTable}
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() { w.run(loadCtx, writeInterval); close(loadDone) }()
	stopWriter := func() {
		stopLoad()
		<-loadDone
	}
	defer stopWriter()
	s.step("load: rows acknowledged through HAProxy on "+via.name, func() error {
		_, err := poll(ctx, 30*time.Second, "100 acknowledged rows", func(context.Context) error {
			if n := len(w.snapshot()); n < 100 {
				return fmt.Errorf("%d rows acknowledged (last error: %s)", n, w.lastErr)
			}
			return nil
		})
		return err
	})

	s.step("fault: one etcd member killed (on the leader's node): quorum holds, no failover", func() error {
		return s.etcdFault(leader, topo, w)
	})
	s.step("fault: HAProxy on "+third.name+" killed: the other nodes still route", func() error {
		return s.haproxyFault(third, topo, w)
	})

	var newLeader string
	s.step("failover: SIGKILL every process of the leader node "+leader.name+" under load", func() error {
		var err error
		newLeader, err = s.failover(leader, w)
		return err
	})
	stopWriter()
	s.step("zero loss: every acknowledged row is on the new leader", func() error {
		return s.checkNoLoss(s.node(newLeader), w)
	})
	s.step("the old leader "+leader.name+", restarted, rejoins as a replica", func() error {
		return s.rejoin(leader, newLeader)
	})
	s.step("the scripts' readers of Patroni's state (patronictl list -f tsv, REST status codes) agree with /cluster", func() error {
		return s.scriptsState()
	})
	s.step("switchover with the node's patronictl: etcd over TLS with its certificate, the REST API over HTTPS", func() error {
		return s.switchover()
	})
	s.step("whole cluster stopped and started: same data, no re-bootstrap", func() error {
		return s.restartAll()
	})

	t.Logf("figures:\n  %s", strings.Join(s.figures, "\n  "))
}

// build writes the fixture packages and the spec, runs `pgha-bundle build`
// and extracts every node's bundle. It returns node name → bundle directory.
func (s *scenario) build(dir string) (map[string]string, error) {
	ctx := s.ctx
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	keyPath, err := writeDebianLayoutRPMs(ctx, filepath.Join(dir, "packages"))
	if err != nil {
		return nil, err
	}
	spec := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(specTemplate, clusterName, filepath.Join(dir, "packages"), keyPath)), 0o644); err != nil {
		return nil, err
	}
	// PGHA_E2E_BIN names an already built pgha-bundle (CI builds it once);
	// otherwise the test builds the command from this tree.
	bin := os.Getenv("PGHA_E2E_BIN")
	if bin == "" {
		bin = filepath.Join(dir, "pgha-bundle")
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if _, err := runCmd(ctx, append(os.Environ(), "CGO_ENABLED=0"), goTool, "build", "-o", bin, "github.com/pgha-bundle/pgha-bundle/cmd/pgha-bundle"); err != nil {
			return nil, err
		}
	}
	out := filepath.Join(dir, "out")
	secretsPath := filepath.Join(dir, "secrets.yaml")
	if _, err := runCmd(ctx, nil, bin, "build", "-f", spec, "--out", out, "--secrets", secretsPath); err != nil {
		return nil, err
	}
	if s.sec, err = secrets.Load(secretsPath); err != nil {
		return nil, err
	}
	bundles := map[string]string{}
	for _, m := range members {
		tgz := filepath.Join(out, clusterName, "bundles", m.name+".tar.gz")
		dst := filepath.Join(dir, "bundles", m.name)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nil, err
		}
		if _, err := runCmd(ctx, nil, "tar", "-xzf", tgz, "-C", dst); err != nil {
			return nil, err
		}
		bundles[m.name] = filepath.Join(dst, clusterName+"-"+m.name)
	}
	return bundles, nil
}

func (s *scenario) setupNamespaces(dir string) error {
	root, err := newNSRoot(s.ctx, filepath.Join(dir, "ns"))
	if err != nil {
		return err
	}
	s.root = root
	s.t.Cleanup(func() {
		if err := root.close(); err != nil {
			s.t.Errorf("cleanup: %v", err)
		}
	})
	var addrs []string
	for _, m := range members {
		addrs = append(addrs, m.addr)
	}
	if err := root.newNet(s.ctx, addrs); err != nil {
		return err
	}
	for _, m := range members {
		n, err := newNode(s.ctx, root, dir, m.name, m.addr)
		if err != nil {
			return err
		}
		s.nodes = append(s.nodes, n)
		s.t.Cleanup(func() {
			if err := n.destroy(); err != nil {
				s.t.Errorf("cleanup: %v", err)
			}
		})
	}
	// Registered last, so it runs first: the daemons' logs while they are
	// still there to explain a failure.
	s.t.Cleanup(func() {
		if s.t.Failed() {
			s.dumpLogs()
		}
		if dir := os.Getenv("PGHA_E2E_LOGS"); dir != "" {
			if err := s.saveLogs(dir); err != nil {
				s.t.Errorf("PGHA_E2E_LOGS: %v", err)
			}
		}
	})
	return nil
}

// redactor replaces every secret value.
func (s *scenario) redactor() *strings.Replacer {
	redact := []string{}
	if s.sec != nil {
		for _, v := range s.sec.Values() {
			redact = append(redact, v, "<redacted>")
		}
	}
	return strings.NewReplacer(redact...)
}

// saveLogs copies every node's logs (secrets redacted) to dir/<node>/, for
// CI artefacts (PGHA_E2E_LOGS=dir).
func (s *scenario) saveLogs(dir string) error {
	r := s.redactor()
	for _, n := range s.nodes {
		logs, _ := filepath.Glob(filepath.Join(n.dir, "log", "*.log"))
		if err := os.MkdirAll(filepath.Join(dir, n.name), 0o755); err != nil {
			return err
		}
		for _, l := range logs {
			b, err := os.ReadFile(l)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, n.name, filepath.Base(l)), []byte(r.Replace(string(b))), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// dumpLogs prints the tail of every daemon log, secrets redacted.
func (s *scenario) dumpLogs() {
	r := s.redactor()
	for _, n := range s.nodes {
		logs, _ := filepath.Glob(filepath.Join(n.dir, "log", "*.log"))
		sort.Strings(logs)
		for _, l := range logs {
			b, err := os.ReadFile(l)
			if err != nil {
				continue
			}
			s.t.Logf("--- %s %s (tail)\n%s", n.name, filepath.Base(l), r.Replace(string(tail(b, 6000))))
		}
	}
}

// packageDirs are what the EL server package creates and install.sh
// --no-packages relies on: PGDG's postgresql15-server owns /var/lib/pgsql
// (the postgres account's home) and /var/lib/pgsql/15 as postgres, mode 0700.
// Debian's packages put nothing there, so each node gets them as an EL image
// with the packages preinstalled would have them. (Patroni writes its pgpass
// beside PGDATA, in /var/lib/pgsql/15.)
const packageDirs = "install -d -m 0700 -o postgres -g postgres /var/lib/pgsql /var/lib/pgsql/15"

// installNode runs the bundle's install.sh in the node's namespace and reads
// back the facts it installed.
func (s *scenario) installNode(n *node, bundle string) error {
	if _, err := n.sh(s.ctx, packageDirs); err != nil {
		return err
	}
	out, err := runCmd(s.ctx, nil, "nsenter", "--net="+n.netFile, "--mount="+n.nsFile, "--",
		"bash", filepath.Join(bundle, "install.sh"), "--no-packages", "--no-start", "--skip-os-check")
	_ = os.WriteFile(filepath.Join(n.dir, "log", "install.log"), out, 0o600)
	if err != nil {
		return fmt.Errorf("node %s: install.sh: %w", n.name, err)
	}
	n.bundle = bundle
	b, err := n.readFile(s.ctx, layout.NodeFacts)
	if err != nil {
		return err
	}
	if n.env, err = factsEnv(b); err != nil {
		return fmt.Errorf("node %s: %s: %w", n.name, layout.NodeFacts, err)
	}
	if n.env["PGHA_NODE"] != n.name || n.env["PGHA_ADDRESS"] != n.addr {
		return fmt.Errorf("node %s: its facts say %s at %s", n.name, n.env["PGHA_NODE"], n.env["PGHA_ADDRESS"])
	}
	return nil
}

// install runs each bundle's own install.sh inside the node's namespace,
// without packages (Debian's are on the host) and without systemd.
func (s *scenario) install(bundles map[string]string) error {
	// Nodes install in parallel, as real ones would.
	errs := make([]error, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.installNode(n, bundles[n.name])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	first := s.nodes[0]
	var err error
	if s.p, err = portsFromEnv(first.env); err != nil {
		return err
	}
	if err := s.root.takeClientTLS(s.ctx, first); err != nil {
		return err
	}
	s.endpoints = strings.Split(first.env["PGHA_ETCD_ENDPOINTS"], ",")
	if len(s.endpoints) != len(members) {
		return fmt.Errorf("PGHA_ETCD_ENDPOINTS=%q: want %d endpoints", first.env["PGHA_ETCD_ENDPOINTS"], len(members))
	}
	b, err := first.readFile(s.ctx, "/etc/patroni/patroni.yml")
	if err != nil {
		return err
	}
	var pcfg struct {
		PostgreSQL struct {
			Authentication struct {
				Superuser struct {
					Username string `yaml:"username"`
				} `yaml:"superuser"`
			} `yaml:"authentication"`
		} `yaml:"postgresql"`
	}
	if err := yaml.Unmarshal(b, &pcfg); err != nil {
		return fmt.Errorf("patroni.yml: %w", err)
	}
	s.pg = pgConn{ns: s.root, user: pcfg.PostgreSQL.Authentication.Superuser.Username, password: s.sec.SuperuserPassword, db: "postgres"}
	if s.pg.user == "" {
		return fmt.Errorf("patroni.yml: no postgresql.authentication.superuser.username")
	}
	b, err = first.readFile(s.ctx, "/etc/haproxy/haproxy.cfg")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "stats" && f[1] == "auth" {
			s.statsUser, _, _ = strings.Cut(f[2], ":")
		}
	}
	if s.statsUser == "" {
		return fmt.Errorf("haproxy.cfg: no stats auth line")
	}
	return nil
}

func (s *scenario) startAll(unit string) error {
	for _, n := range s.nodes {
		if _, err := n.start(s.ctx, unit); err != nil {
			return err
		}
	}
	return nil
}

// waitHealthy polls until the cluster on the live nodes is healthy: etcd
// answers on their endpoints with all members listed, Patroni reports one
// leader and the rest replicas with one synchronous standby, the leader
// streams to every replica, and HAProxy on every live node has checked its
// servers and routes read-write to the leader, read-only to a replica.
// notLeader, when set, must not be the leader.
func (s *scenario) waitHealthy(ctx context.Context, timeout time.Duration, live []*node, notLeader string) (topology, error) {
	var topo topology
	_, err := poll(ctx, timeout, "healthy cluster", func(ctx context.Context) error {
		if err := exited(live); err != nil {
			return err
		}
		var eps []string
		for _, n := range live {
			eps = append(eps, s.endpointOf(n))
		}
		if err := etcdMembers(ctx, s.root, eps, len(members)); err != nil {
			return err
		}
		ms, err := patroniMembers(ctx, s.root, live[0].addr, s.p.api)
		if err != nil {
			return err
		}
		if topo, err = healthyTopology(ms, len(live)); err != nil {
			return err
		}
		if topo.leader.Name == notLeader {
			return fmt.Errorf("%s is still the leader", notLeader)
		}
		leader := s.node(topo.leader.Name)
		if _, err := replication(ctx, s.pg, leader.addr, s.p.pg, len(live)-1); err != nil {
			return err
		}
		var replicas []string
		for _, r := range topo.replicas {
			replicas = append(replicas, r.Name)
		}
		for _, n := range live {
			if err := s.checkRouting(ctx, n, leader, replicas); err != nil {
				return err
			}
		}
		return nil
	})
	return topo, err
}

func (s *scenario) checkRouting(ctx context.Context, n, leader *node, replicas []string) error {
	st, err := haproxyStats(ctx, s.root, n.addr, s.p.stats, s.statsUser, s.sec.HAProxyStatsPassword)
	if err != nil {
		return err
	}
	if err := checkedRouting(st, "primary", "replicas", leader.name, replicas); err != nil {
		return fmt.Errorf("node %s: %w", n.name, err)
	}
	return routes(ctx, s.pg, n.addr, s.p, leader.addr)
}

func (s *scenario) endpointOf(n *node) string {
	for _, e := range s.endpoints {
		if strings.Contains(e, "//"+n.addr+":") {
			return e
		}
	}
	return "https://" + n.addr + ":" + strconv.Itoa(s.p.etcdClient)
}

// etcdFault kills the etcd member on the leader's node and proves that the
// remaining two keep quorum and that Patroni's leader keeps its lock: the
// leader key is refreshed twice through the other members while the leader
// and its timeline stay, and writes go on.
func (s *scenario) etcdFault(leader *node, topo topology, w *loadWriter) error {
	ctx := s.ctx
	var others []string
	for _, n := range s.nodes {
		if n != leader {
			others = append(others, s.endpointOf(n))
		}
	}
	leaderKey := "/service/" + clusterName + "/leader"
	lease, ttl, err := etcdLeaseTTL(ctx, s.root, others, leaderKey)
	if err != nil {
		return fmt.Errorf("leader lock before the fault: %w", err)
	}
	if err := leader.signal("etcd", syscall.SIGKILL); err != nil {
		return err
	}
	killed := time.Now()
	if _, err := poll(ctx, 10*time.Second, "etcd "+leader.name+" gone", func(context.Context) error {
		if !leader.daemon("etcd").exited() {
			return fmt.Errorf("still running")
		}
		return nil
	}); err != nil {
		return err
	}
	// The two members left elect a raft leader (when the killed one led)
	// and accept writes: quorum holds.
	if _, err := poll(ctx, 30*time.Second, "etcd write without "+leader.name, func(ctx context.Context) error {
		_, err := s.root.etcdctl(ctx, others,
			"--command-timeout=5s", "put", "/pgha-e2e/quorum-probe", strconv.FormatInt(killed.Unix(), 10))
		return err
	}); err != nil {
		return err
	}
	refreshes := 0
	if _, err := poll(ctx, 80*time.Second, "leader lock refreshed twice through the other etcd members", func(ctx context.Context) error {
		ms, err := patroniMembers(ctx, s.root, s.otherThan(leader).addr, s.p.api)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Role == "leader" && (m.Name != topo.leader.Name || m.Timeline != topo.leader.Timeline) {
				return permanent{fmt.Errorf("failover happened: leader now %s on timeline %d", m.Name, m.Timeline)}
			}
		}
		l, t, err := etcdLeaseTTL(ctx, s.root, others, leaderKey)
		if err != nil {
			return err
		}
		if l != lease || t > ttl {
			refreshes++
		}
		lease, ttl = l, t
		if refreshes < 2 {
			return fmt.Errorf("leader lock refreshed %d times since the kill (lease %x, %ds left)", refreshes, lease, ttl)
		}
		return nil
	}); err != nil {
		return err
	}
	if n := w.acksSince(killed); n == 0 {
		return fmt.Errorf("no write acknowledged since etcd on %s was killed", leader.name)
	}
	ms, err := patroniMembers(ctx, s.root, leader.addr, s.p.api)
	if err != nil {
		return err
	}
	if _, err := healthyTopology(ms, len(members)); err != nil {
		return fmt.Errorf("without one etcd member: %w", err)
	}
	s.figure("one etcd member down: leader %s renewed its lock twice through the other members in %v, no failover, %d rows written meanwhile",
		topo.leader.Name, time.Since(killed).Round(100*time.Millisecond), w.acksSince(killed))
	if _, err := leader.start(ctx, "etcd"); err != nil {
		return err
	}
	_, err = s.waitHealthy(ctx, 60*time.Second, s.nodes, "")
	return err
}

func (s *scenario) otherThan(n *node) *node {
	for _, o := range s.nodes {
		if o != n {
			return o
		}
	}
	return nil
}

// haproxyFault kills one node's HAProxy: the other two nodes still route
// correctly and the writes (through another node) go on.
func (s *scenario) haproxyFault(victim *node, topo topology, w *loadWriter) error {
	ctx := s.ctx
	if err := victim.signal("haproxy", syscall.SIGKILL); err != nil {
		return err
	}
	killed := time.Now()
	if _, err := poll(ctx, 10*time.Second, "haproxy "+victim.name+" gone", func(context.Context) error {
		if !victim.daemon("haproxy").exited() {
			return fmt.Errorf("still running")
		}
		return nil
	}); err != nil {
		return err
	}
	leader := s.node(topo.leader.Name)
	var replicas []string
	for _, r := range topo.replicas {
		replicas = append(replicas, r.Name)
	}
	for _, n := range s.nodes {
		if n == victim {
			if _, err := s.pg.query(ctx, n.addr, s.p.rw, "SELECT 1"); err == nil {
				return fmt.Errorf("node %s: the read-write port still answers with HAProxy killed", n.name)
			}
			continue
		}
		if err := s.checkRouting(ctx, n, leader, replicas); err != nil {
			return err
		}
	}
	if _, err := poll(ctx, 10*time.Second, "writes go on", func(context.Context) error {
		if w.acksSince(killed) == 0 {
			return fmt.Errorf("no write acknowledged since HAProxy on %s was killed", victim.name)
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := victim.start(ctx, "haproxy"); err != nil {
		return err
	}
	_, err := s.waitHealthy(ctx, 60*time.Second, s.nodes, "")
	return err
}

// failover kills every process of the leader's node (etcd, Patroni,
// PostgreSQL, HAProxy) while the load runs, and waits for a new leader and
// for writes to be acknowledged again through HAProxy. It returns the new
// leader's name.
func (s *scenario) failover(leader *node, w *loadWriter) (string, error) {
	ctx := s.ctx
	before := len(w.snapshot())
	if err := leader.killAll(ctx); err != nil {
		return "", err
	}
	killed := time.Now()
	var live []*node
	for _, n := range s.nodes {
		if n != leader {
			live = append(live, n)
		}
	}
	var newLeader string
	if _, err := poll(ctx, 90*time.Second, "a new leader", func(ctx context.Context) error {
		ms, err := patroniMembers(ctx, s.root, live[0].addr, s.p.api)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Role == "leader" && m.State == "running" && m.Name != leader.name {
				newLeader = m.Name
				return nil
			}
		}
		return fmt.Errorf("no new leader yet: [%s]", describe(ms))
	}); err != nil {
		return "", err
	}
	elected := time.Since(killed)
	var resumed time.Time
	if _, err := poll(ctx, 90*time.Second, "writes acknowledged again", func(context.Context) error {
		at, ok := w.firstAckAfter(killed)
		if !ok {
			return fmt.Errorf("no write acknowledged since the kill (last error: %s)", w.lastErr)
		}
		resumed = at
		return nil
	}); err != nil {
		return "", err
	}
	s.figure("failover: new leader %s elected %v after the kill; writes accepted again after %v",
		newLeader, elected.Round(100*time.Millisecond), resumed.Sub(killed).Round(100*time.Millisecond))
	// Through HAProxy on every surviving node, the read-write port reaches the
	// new leader and accepts a write.
	nl := s.node(newLeader)
	for _, n := range live {
		if _, err := poll(ctx, 60*time.Second, "haproxy on "+n.name+" routes writes to "+newLeader, func(ctx context.Context) error {
			out, err := s.pg.query(ctx, n.addr, s.p.rw, "SELECT pg_is_in_recovery(), host(inet_server_addr())")
			if err != nil {
				return err
			}
			if out != "f|"+nl.addr {
				return fmt.Errorf("read-write port reached %q", out)
			}
			_, err = s.pg.query(ctx, n.addr, s.p.rw, "CREATE TABLE IF NOT EXISTS e2e_probe (node text); INSERT INTO e2e_probe VALUES ('"+n.name+"')")
			return err
		}); err != nil {
			return "", err
		}
	}
	if _, err := poll(ctx, 30*time.Second, "100 more rows after the failover", func(context.Context) error {
		if n := w.acksSince(resumed); n < 100 {
			return fmt.Errorf("%d rows since writes resumed", n)
		}
		return nil
	}); err != nil {
		return "", err
	}
	s.t.Logf("rows acknowledged before the kill: %d, after: %d", before, len(w.snapshot())-before)
	return newLeader, nil
}

// checkNoLoss reads every row from the new leader and compares with the
// acknowledged ones.
func (s *scenario) checkNoLoss(leader *node, w *loadWriter) error {
	out, err := s.pg.query(s.ctx, leader.addr, s.p.pg, "SELECT id FROM "+loadTable+" ORDER BY id")
	if err != nil {
		return err
	}
	present := map[int64]bool{}
	for _, l := range strings.Fields(out) {
		id, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return fmt.Errorf("row id %q: %w", l, err)
		}
		present[id] = true
	}
	acked := w.snapshot()
	var lost []int64
	for _, id := range acked {
		if !present[id] {
			lost = append(lost, id)
		}
	}
	sent := w.sent()
	s.figure("rows: %d sent, %d acknowledged, %d present, %d lost, %d in doubt (sent, not acknowledged), %d reconnections",
		sent, len(acked), len(present), len(lost), sent-int64(len(acked)), w.reconnects)
	if len(lost) > 0 {
		if len(lost) > 20 {
			lost = lost[:20]
		}
		return fmt.Errorf("acknowledged rows lost in synchronous mode: %v…", lost)
	}
	if len(acked) == 0 {
		return fmt.Errorf("no row was acknowledged")
	}
	return nil
}

// rejoin restarts the killed node's daemons and waits until it is a
// streaming replica again with every row.
func (s *scenario) rejoin(old *node, newLeader string) error {
	ctx := s.ctx
	start := time.Now()
	for _, unit := range []string{"etcd", "patroni", "haproxy"} {
		if _, err := old.start(ctx, unit); err != nil {
			return err
		}
	}
	topo, err := s.waitHealthy(ctx, 120*time.Second, s.nodes, old.name)
	if err != nil {
		return err
	}
	if topo.leader.Name != newLeader {
		return fmt.Errorf("leader changed again: %s, want %s", topo.leader.Name, newLeader)
	}
	want, err := s.pg.query(ctx, s.node(newLeader).addr, s.p.pg, "SELECT count(*) FROM "+loadTable)
	if err != nil {
		return err
	}
	if _, err := poll(ctx, 60*time.Second, old.name+" has every row", func(ctx context.Context) error {
		got, err := s.pg.query(ctx, old.addr, s.p.pg, "SELECT pg_is_in_recovery(), count(*) FROM "+loadTable)
		if err != nil {
			return err
		}
		if got != "t|"+want {
			return fmt.Errorf("%s: in recovery|rows = %s, want t|%s", old.name, got, want)
		}
		return nil
	}); err != nil {
		return err
	}
	s.figure("old leader %s back as a replica in %v", old.name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// switchover runs patronictl on the leader's node, as upgrade.sh does (the
// node's patroni.yml, the facts' leader option), to the synchronous standby,
// and waits for the cluster to be healthy under the new leader. patronictl
// reads the cluster from etcd with the node's client certificate and asks
// the leader's REST API over HTTPS, verified against the cluster's CA.
func (s *scenario) switchover() error {
	ctx := s.ctx
	topo, err := s.waitHealthy(ctx, 60*time.Second, s.nodes, "")
	if err != nil {
		return err
	}
	leader, cand := s.node(topo.leader.Name), topo.sync.Name
	start := time.Now()
	script := fmt.Sprintf("%s -c /etc/patroni/patroni.yml switchover %s %s --candidate %s --force %s",
		leader.env["PGHA_PATRONICTL_BIN"], leader.env["PGHA_PATRONICTL_LEADER_FLAG"], leader.name, cand, clusterName)
	if out, err := leader.sh(ctx, script); err != nil {
		return fmt.Errorf("%s: %w\n%s", script, err, out)
	}
	after, err := s.waitHealthy(ctx, 90*time.Second, s.nodes, leader.name)
	if err != nil {
		return err
	}
	if after.leader.Name != cand {
		return fmt.Errorf("leader after the switchover is %s, want %s", after.leader.Name, cand)
	}
	s.figure("switchover %s → %s with patronictl: healthy after %v", leader.name, cand, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// scriptsState runs, on every node, the functions of the bundle's lib.sh
// that read Patroni's state (the gates of upgrade.sh, backup.sh and
// restore.sh) and holds them to the cluster as GET /cluster shows it: every
// node lists each member once with one leader, the cluster is healthy, the
// leader alone is primary, every other member streams and does not lead.
func (s *scenario) scriptsState() error {
	topo, err := s.waitHealthy(s.ctx, 60*time.Second, s.nodes, "")
	if err != nil {
		return err
	}
	for _, n := range s.nodes {
		script := fmt.Sprintf(`. %s/lib.sh && load_facts %s && patroni_members &&
for f in cluster_healthy is_primary not_leader replica_streaming; do if $f; then echo "$f yes"; else echo "$f no"; fi; done`,
			n.bundle, layout.NodeFacts)
		out, err := runCmd(s.ctx, nil, "nsenter", "--net="+n.netFile, "--mount="+n.nsFile, "--", "bash", "-c", script)
		if err != nil {
			return fmt.Errorf("node %s: %w\n%s", n.name, err, out)
		}
		leads := n.name == topo.leader.Name
		yes := map[bool]string{true: "yes", false: "no"}
		want := map[string]string{"cluster_healthy": "yes", "is_primary": yes[leads], "not_leader": yes[!leads], "replica_streaming": yes[!leads]}
		members, leaders := map[string]bool{}, []string{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && want[f[0]] != "":
				if f[1] != want[f[0]] {
					return fmt.Errorf("node %s (leader %s): %s says %s, want %s\n%s", n.name, topo.leader.Name, f[0], f[1], want[f[0]], out)
				}
				delete(want, f[0])
			case len(f) == 4:
				members[f[0]] = true
				if f[1] == "leader" {
					leaders = append(leaders, f[0])
				}
			default:
				return fmt.Errorf("node %s: unexpected line %q\n%s", n.name, l, out)
			}
		}
		if len(want) > 0 || len(members) != len(s.nodes) || len(leaders) != 1 || leaders[0] != topo.leader.Name {
			return fmt.Errorf("node %s: want %d members, leader %s, and every check answered (%v missing)\n%s", n.name, len(s.nodes), topo.leader.Name, want, out)
		}
		s.t.Logf("%s: lib.sh reads\n%s", n.name, out)
	}
	return nil
}

// restartAll stops the whole cluster the way an operator would (HAProxy,
// then Patroni replicas before the leader, then etcd followers before the
// raft leader), checks nothing is left running, starts it again and proves
// the data is the same cluster: same system identifier, same rows, and
// Patroni's initialize key unchanged.
func (s *scenario) restartAll() error {
	ctx := s.ctx
	ms, err := patroniMembers(ctx, s.root, s.nodes[0].addr, s.p.api)
	if err != nil {
		return err
	}
	topo, err := healthyTopology(ms, len(members))
	if err != nil {
		return err
	}
	leader := s.node(topo.leader.Name)
	sysid, err := s.pg.query(ctx, leader.addr, s.p.pg, "SELECT system_identifier FROM pg_control_system()")
	if err != nil {
		return err
	}
	rows, err := s.pg.query(ctx, leader.addr, s.p.pg, "SELECT count(*) FROM "+loadTable)
	if err != nil {
		return err
	}
	initKey := "/service/" + clusterName + "/initialize"
	initBefore, err := s.root.etcdctl(ctx, s.endpoints, "get", initKey, "--print-value-only")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(initBefore)) != sysid {
		return fmt.Errorf("etcd %s = %q, PostgreSQL system identifier %s", initKey, strings.TrimSpace(string(initBefore)), sysid)
	}
	etcdOrder, err := s.etcdStopOrder(ctx)
	if err != nil {
		return err
	}
	patroniOrder := []*node{}
	for _, n := range s.nodes {
		if n != leader {
			patroniOrder = append(patroniOrder, n)
		}
	}
	patroniOrder = append(patroniOrder, leader)
	stopStart := time.Now()
	for _, step := range []struct {
		unit  string
		order []*node
	}{{"haproxy", s.nodes}, {"patroni", patroniOrder}, {"etcd", etcdOrder}} {
		for _, n := range step.order {
			sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			err := n.stop(sctx, step.unit)
			cancel()
			if err != nil {
				return err
			}
		}
	}
	for _, n := range s.nodes {
		if pids := n.pids(); len(pids) > 0 {
			return fmt.Errorf("node %s: processes %v still run after every unit stopped (PostgreSQL not stopped by Patroni?)", n.name, pids)
		}
	}
	stopped := time.Since(stopStart)
	start := time.Now()
	for _, unit := range []string{"etcd", "patroni", "haproxy"} {
		if unit == "patroni" {
			if _, err := poll(ctx, 60*time.Second, "etcd healthy after restart", func(ctx context.Context) error {
				return etcdMembers(ctx, s.root, s.endpoints, 3)
			}); err != nil {
				return err
			}
		}
		if err := s.startAll(unit); err != nil {
			return err
		}
	}
	topo, err = s.waitHealthy(ctx, 120*time.Second, s.nodes, "")
	if err != nil {
		return err
	}
	leader = s.node(topo.leader.Name)
	sysidAfter, err := s.pg.query(ctx, leader.addr, s.p.pg, "SELECT system_identifier FROM pg_control_system()")
	if err != nil {
		return err
	}
	rowsAfter, err := s.pg.query(ctx, leader.addr, s.p.pg, "SELECT count(*) FROM "+loadTable)
	if err != nil {
		return err
	}
	initAfter, err := s.root.etcdctl(ctx, s.endpoints, "get", initKey, "--print-value-only")
	if err != nil {
		return err
	}
	if sysidAfter != sysid || strings.TrimSpace(string(initAfter)) != sysid {
		return fmt.Errorf("re-bootstrapped: system identifier %s before, %s after (etcd initialize %q)", sysid, sysidAfter, strings.TrimSpace(string(initAfter)))
	}
	if rowsAfter != rows {
		return fmt.Errorf("rows before the stop %s, after the start %s", rows, rowsAfter)
	}
	for _, n := range s.nodes {
		if _, err := poll(ctx, 60*time.Second, "every member on the same system identifier", func(ctx context.Context) error {
			got, err := s.pg.query(ctx, n.addr, s.p.pg, "SELECT system_identifier FROM pg_control_system()")
			if err != nil {
				return err
			}
			if got != sysid {
				return fmt.Errorf("node %s: system identifier %s, want %s", n.name, got, sysid)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	s.figure("whole cluster: stopped in %v, healthy again %v after the start, leader %s, %s rows, system identifier unchanged",
		stopped.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond), topo.leader.Name, rows)
	return nil
}

// etcdStopOrder returns the nodes with etcd's raft leader last (stopping it
// first costs a leadership transfer).
func (s *scenario) etcdStopOrder(ctx context.Context) ([]*node, error) {
	out, err := s.root.etcdctl(ctx, s.endpoints, "endpoint", "status", "-w", "json")
	if err != nil {
		return nil, err
	}
	var st []struct {
		Endpoint string `json:"Endpoint"`
		Status   struct {
			Header struct {
				MemberID uint64 `json:"member_id"`
			} `json:"header"`
			Leader uint64 `json:"leader"`
		} `json:"Status"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("etcdctl endpoint status: %w", err)
	}
	var order []*node
	var last *node
	for _, n := range s.nodes {
		isLeader := false
		for _, e := range st {
			if e.Endpoint == s.endpointOf(n) && e.Status.Header.MemberID == e.Status.Leader {
				isLeader = true
			}
		}
		if isLeader {
			last = n
		} else {
			order = append(order, n)
		}
	}
	if last == nil {
		return nil, fmt.Errorf("etcd has no leader among %s", out)
	}
	return append(order, last), nil
}
