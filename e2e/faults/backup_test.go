//go:build e2e

package faults

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/layout"
)

// The backup scenario (make e2e-backup): the fault harness's cluster with a
// backup section, its pgBackRest repository one directory of the harness
// bound read-write at backupRepo in every node (as an NFS share would be),
// Debian's pgbackrest in the tree. install.sh creates the stanza. Under the
// load: a full backup; the writers quiesced and a named restore point T;
// more rows and a switchover with the load running; a differential and an
// incremental backup from the new leader; the archive a continuous chain
// across the timelines. Then restore.sh: refused with Patroni running on
// the other members and without its confirmation, failing on a damaged
// copy of the repository and on a missing backup set with the data in
// place untouched, then restoring to T (exactly the rows committed before
// T), the other members rejoining (rebuilt from the repository), a restore
// to the time noted at T along the first timeline (the same rows), and a
// restore to the end of the switchover's timeline (every acknowledged row).
//
// The spec also has a backup host (bkHost), a container of its own
// installed from its own seed: its repository is repo2, reached over
// pgBackRest's TLS server. It takes a full backup from the leader and an
// incremental one from the new leader after the switchover; its archive is
// a continuous chain too, and the restore to the time noted at T reads it.

const (
	backupRepo = "/var/lib/pgbackrest"
	// backupOverall bounds the scenario, bring-up included: it takes about
	// 6 minutes on an idle 2-core machine, more on a shared one.
	backupOverall = 13 * time.Minute
	restorePoint  = "e2e-before-switchover"
	// backupTag is where the bundles are unpacked on each node.
	backupTag = "restore"
)

// bkHost is the backup host: repo2, on its own disk, over pgBackRest's
// TLS server, beside the repository every member mounts (repo1).
const (
	bkHost = "pgbk"
	// bkRepo is the backup host's repository, on its own disk.
	bkRepo = "/srv/pgbackrest"
)

var backupSpec = "backup:\n  repo:\n    path: " + backupRepo + "\n  host:\n    name: " + bkHost + "\n    address: " + backupHostAddr() + "\n    path: " + bkRepo + "\n"

func TestBackup(t *testing.T) {
	ctx := testContext(t, backupOverall)
	specExtra = backupSpec
	extraPackages = []fixture.Package{fixture.PgBackRestPackage("el9", "x86_64", "")}
	sharedMount = backupRepo
	backupHostName = bkHost
	start := time.Now()
	h, topo := bringUp(t, ctx)
	t.Logf("FIGURE backup bring-up %.0fs: leader %s, sync standby %s", time.Since(start).Seconds(), topo.leader.name, topo.sync.name)

	var b *backups
	step(t, "the nodes' backup facts; every bundle unpacked; the stanza made by install.sh passes pgbackrest check on the leader", func() error {
		var err error
		if b, err = h.backupFacts(); err != nil {
			return err
		}
		if err := eachNode(h.nodes, func(n *node) error { return n.copyBundle(h.bundles[n.name], backupTag) }); err != nil {
			return err
		}
		_, err = b.pgbackrest(ctx, topo.leader, "check")
		return err
	})
	host := h.backupHost
	step(t, "the backup host "+bkHost+": installed from its own seed, its TLS server up; pgbackrest check from it reaches the leader over TLS; its server takes a member's certificate only", func() error {
		if _, err := b.pgbackrest(ctx, host, "check"); err != nil {
			return err
		}
		return b.tlsAuthChecked(ctx, topo.sync)
	})

	var targets []string
	for _, n := range h.nodes {
		targets = append(targets, rwAddr(n))
	}

	// Run 1: rows, a full backup under the load, the writers quiesced.
	h.runs++
	run1 := h.runs
	var out1 map[int64]Outcome
	var hostFull string // the backup host's full backup, in repo2 only
	step(t, "the load running, a full backup on the leader (backup.sh full) and one on the backup host", func() error {
		l, err := h.startLoadAcked(ctx, targets, "the full backup")
		if err != nil {
			return err
		}
		defer l.stop()
		fig, err := b.backup(ctx, topo.leader, "full")
		if err != nil {
			return err
		}
		t.Logf("FIGURE %s (repo1)", fig)
		// The backup host's own, from the leader through its TLS server.
		if fig, err = b.backup(ctx, host, "full"); err != nil {
			return err
		}
		info, err := b.info(ctx, host)
		if err != nil {
			return err
		}
		hostFull = info.Backup[len(info.Backup)-1].Label
		t.Logf("FIGURE %s (repo2, over TLS)", fig)
		if err := l.untilAcked(ctx, "the full backup"); err != nil {
			return err
		}
		out1 = l.ledger.Outcomes()
		return nil
	})
	var tAt string
	step(t, "the writers quiesced: restore point "+restorePoint, func() error {
		rows, err := h.sql(ctx, pgAddr(topo.leader), fmt.Sprintf("SELECT pg_create_restore_point('%s'), clock_timestamp()", restorePoint))
		if err != nil {
			return err
		}
		tAt = rows[0][1]
		v := Check(out1, nil)
		t.Logf("restore point %s at %s (LSN %s), after %d rows acknowledged (%d in doubt, %d failed)", restorePoint, tAt, rows[0][0], v.Acked, v.InDoubt, v.Failed)
		return nil
	})

	// Run 2: more rows, a switchover with the load running.
	h.runs++
	run2 := h.runs
	var out2 map[int64]Outcome
	var leader *node
	step(t, "more rows and a switchover to the sync standby with the load running", func() error {
		l, err := h.startLoadAcked(ctx, targets, "the switchover")
		if err != nil {
			return err
		}
		defer l.stop()
		s := time.Now()
		if err := h.switchover(ctx, topo.leader, topo.sync); err != nil {
			return err
		}
		if err := l.untilAcked(ctx, "the switchover"); err != nil {
			return err
		}
		out2 = l.ledger.Outcomes()
		leader = topo.sync
		t.Logf("FIGURE switchover %s -> %s under load: %.1fs, longest write pause %.1fs", topo.leader.name, leader.name, time.Since(s).Seconds(), l.longestGap(s, time.Now()).Seconds())
		return nil
	})

	var incr string
	step(t, "a differential and an incremental backup on the new leader "+leader.name, func() error {
		for _, kind := range []string{"diff", "incr"} {
			fig, err := b.backup(ctx, leader, kind)
			if err != nil {
				return err
			}
			t.Logf("FIGURE %s", fig)
		}
		info, err := b.info(ctx, leader, "--repo=1")
		if err != nil {
			return err
		}
		last := info.Backup[len(info.Backup)-1]
		if last.Type != "incr" {
			return fmt.Errorf("the last backup is %s %s, want an incr", last.Type, last.Label)
		}
		incr = last.Label
		// The backup host finds the new leader among the members.
		fig, err := b.backup(ctx, host, "incr")
		if err != nil {
			return err
		}
		t.Logf("FIGURE %s (repo2, over TLS, from the new leader)", fig)
		return nil
	})
	step(t, "the archive is one continuous chain across the switchover in both repositories (pgbackrest info, the repositories' files)", func() error {
		fig, err := b.chain(ctx, leader, h.shared, "--repo=1")
		if err != nil {
			return err
		}
		t.Logf("FIGURE repo1: %s", fig)
		if fig, err = b.chain(ctx, host, filepath.Join(host.root, bkRepo)); err != nil {
			return err
		}
		t.Logf("FIGURE repo2 (the backup host): %s", fig)
		return nil
	})

	var others []*node
	for _, n := range h.nodes {
		if n != leader {
			others = append(others, n)
		}
	}
	before, err := b.dataState(ctx, leader, run1, run2)
	if err != nil {
		t.Fatal(err)
	}
	step(t, "restore.sh refuses while Patroni runs on the other members, naming the command", func() error {
		out, err := leader.script(ctx, backupTag, "restore.sh", "restore-refused-running", "--name", restorePoint, "--yes-destroy-current-state", "--timeout-patroni", "240")
		if err == nil {
			return fmt.Errorf("restore.sh with Patroni running on %s succeeded:\n%s", joinNames(others), out)
		}
		for _, n := range others {
			if want := "Patroni runs on " + n.name; !strings.Contains(out, want) {
				return fmt.Errorf("restore.sh failed without saying %q: %v\n%s", want, err, out)
			}
		}
		if !strings.Contains(out, "systemctl stop patroni") || !strings.Contains(out, "nothing was changed") {
			return fmt.Errorf("restore.sh failed without the command to run: %v\n%s", err, out)
		}
		return b.unchanged(ctx, leader, before, run1, run2)
	})
	step(t, "Patroni stopped on "+joinNames(others), func() error {
		return eachNode(others, func(n *node) error { return n.systemctl(ctx, "stop", "patroni") })
	})
	step(t, "restore.sh refuses without --yes-destroy-current-state", func() error {
		out, err := leader.script(ctx, backupTag, "restore.sh", "restore-refused-unconfirmed", "--name", restorePoint)
		if err == nil || !strings.Contains(out, "without --yes-destroy-current-state") || !strings.Contains(out, "nothing was changed") {
			return fmt.Errorf("restore.sh without its confirmation: %v\n%s", err, out)
		}
		return b.unchanged(ctx, leader, before, run1, run2)
	})
	step(t, "restore.sh fails on a missing backup set and on a damaged copy of the repository; the data in place is untouched", func() error {
		out, err := leader.script(ctx, backupTag, "restore.sh", "restore-missing-set", "--name", restorePoint, "--set", "20991231-235959F", "--yes-destroy-current-state", "--timeout-patroni", "240")
		if err == nil || !strings.Contains(out, "backup set 20991231-235959F is not in the repository") {
			return fmt.Errorf("restore.sh --set of a missing set: %v\n%s", err, out)
		}
		if err := b.unchanged(ctx, leader, before, run1, run2); err != nil {
			return err
		}
		damaged, file, err := b.damagedCopy(ctx, leader)
		if err != nil {
			return err
		}
		s := time.Now()
		out, err = leader.script(ctx, backupTag, "restore.sh", "restore-damaged", "--time", tAt, "--repo-path", damaged, "--yes-destroy-current-state", "--timeout-patroni", "240")
		if err == nil {
			return fmt.Errorf("restore.sh from a repository with %s truncated succeeded:\n%s", file, out)
		}
		if !strings.Contains(out, "damaged or incomplete") || !strings.Contains(out, "nothing was changed") {
			return fmt.Errorf("restore.sh from a damaged repository failed without saying so: %v\n%s", err, out)
		}
		h.t.Logf("FIGURE restore.sh from a copy of the repository with %s truncated: refused in %.1fs: %s", file, time.Since(s).Seconds(), pgbackrestError(out))
		return b.unchanged(ctx, leader, before, run1, run2)
	})

	step(t, "restore.sh --name "+restorePoint+" on "+leader.name+": exactly the rows committed before it", func() error {
		s := time.Now()
		out, err := leader.script(ctx, backupTag, "restore.sh", "restore-point", "--name", restorePoint, "--yes-destroy-current-state", "--timeout-patroni", "240")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		t.Logf("FIGURE restore.sh --name %s: %.1fs in all (%s)", restorePoint, time.Since(s).Seconds(), restoreFigures(out))
		if err := b.rowsAfterRestore(ctx, leader, []runRows{{run1, out1, true}, {run2, out2, false}}); err != nil {
			return err
		}
		kept, err := b.dropKept(ctx, leader, "before-restore")
		if err != nil {
			return err
		}
		t.Logf("the data before the restore was kept in %s (deleted now)", kept)
		return nil
	})
	step(t, "restore.sh --rejoin on "+joinNames(others)+": rebuilt as replicas from the repository", func() error {
		var fromRepo []string
		for _, n := range others {
			s := time.Now()
			out, err := n.script(ctx, backupTag, "restore.sh", "rejoin", "--rejoin", "--timeout-patroni", "240")
			if err != nil {
				return fmt.Errorf("%v\n%s", err, out)
			}
			how := "?"
			if m := regexp.MustCompile(`replica has been created using (\w+)`).FindStringSubmatch(out); m != nil {
				how = m[1]
			}
			if how == "pgbackrest" {
				fromRepo = append(fromRepo, n.name)
			}
			t.Logf("FIGURE restore.sh --rejoin on %s: %.1fs, replica created with %s", n.name, time.Since(s).Seconds(), how)
			kept, err := b.dropKept(ctx, n, "before-rejoin")
			if err != nil {
				return err
			}
			t.Logf("%s's data before the rejoin was kept in %s (deleted now)", n.name, kept)
		}
		if len(fromRepo) == 0 {
			return errors.New("no replica was rebuilt from the repository (Patroni's create_replica_methods pgbackrest)")
		}
		_, err := h.waitHealthy(ctx, 150*time.Second, true)
		return err
	})

	step(t, "restore.sh --repo 2 --time "+tAt+" --timeline 1 from the backup host's repository over TLS (the writers were quiesced around it): exactly the rows committed before it", func() error {
		if err := eachNode(others, func(n *node) error { return n.systemctl(ctx, "stop", "patroni") }); err != nil {
			return err
		}
		s := time.Now()
		out, err := leader.script(ctx, backupTag, "restore.sh", "restore-time", "--repo", "2", "--time", tAt, "--timeline", "1", "--yes-destroy-current-state", "--timeout-patroni", "240", "--no-backup")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		if !strings.Contains(out, "from repo2") || !strings.Contains(out, "backup set "+hostFull+":") {
			return fmt.Errorf("restore.sh --repo 2 did not restore the backup host's full backup %s from repo2:\n%s", hostFull, out)
		}
		t.Logf("FIGURE restore.sh --repo 2 --time %s --timeline 1: %.1fs in all (%s)", tAt, time.Since(s).Seconds(), restoreFigures(out))
		if err := b.rowsAfterRestore(ctx, leader, []runRows{{run1, out1, true}, {run2, out2, false}}); err != nil {
			return err
		}
		kept, err := b.dropKept(ctx, leader, "before-restore")
		if err != nil {
			return err
		}
		t.Logf("the data before the restore was kept in %s (deleted now)", kept)
		return nil
	})
	step(t, "restore.sh --latest --set "+incr+" (the previous timeline's last backup): every acknowledged row", func() error {
		tl, err := b.timelineOf(ctx, leader, incr)
		if err != nil {
			return err
		}
		s := time.Now()
		out, err := leader.script(ctx, backupTag, "restore.sh", "restore-latest", "--latest", "--set", incr, "--timeline", tl, "--yes-destroy-current-state", "--timeout-patroni", "240", "--no-backup")
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		t.Logf("FIGURE restore.sh --latest --set %s --timeline %s: %.1fs in all (%s)", incr, tl, time.Since(s).Seconds(), restoreFigures(out))
		return b.rowsAfterRestore(ctx, leader, []runRows{{run1, out1, true}, {run2, out2, true}})
	})
	t.Logf("FIGURE backup scenario wall time %.0fs", time.Since(start).Seconds())
	testClone(t, ctx, h, b, leader)
}

// backups is what the scenario reads from the nodes' facts.
type backups struct {
	h       *harness
	stanza  string
	bin     string // pgbackrest
	config  string // pgbackrest.conf
	libexec string // backup.sh's directory
	pgdata  string
}

// backupFacts reads pg1's installed facts: stanza, pgbackrest and the
// paths; every node must name the same repository.
func (h *harness) backupFacts() (*backups, error) {
	b := &backups{h: h}
	for _, n := range h.nodes {
		raw, err := os.ReadFile(filepath.Join(n.root, layout.NodeFacts))
		if err != nil {
			return nil, err
		}
		lines, err := layout.ParseFacts(raw)
		if err != nil {
			return nil, fmt.Errorf("%s node.facts: %w", n.name, err)
		}
		var repo string
		for _, l := range lines {
			switch {
			case l[0] == "backup_stanza" && len(l) > 1:
				b.stanza = l[1]
			case l[0] == "pgbackrest_bin" && len(l) > 1:
				b.bin = l[1]
			case l[0] == "backup_repo" && len(l) > 3 && l[2] == "posix":
				repo = l[3]
			case l[0] == "pgdata" && len(l) > 1:
				b.pgdata = l[1]
			case l[0] == "path" && len(l) > 2 && l[1] == "pgbackrest_config":
				b.config = l[2]
			case l[0] == "path" && len(l) > 2 && l[1] == "libexec_dir":
				b.libexec = l[2]
			}
		}
		if repo != backupRepo {
			return nil, fmt.Errorf("%s node.facts: repository %q, want %s", n.name, repo, backupRepo)
		}
	}
	if b.stanza == "" || b.bin == "" || b.config == "" || b.libexec == "" || b.pgdata == "" {
		return nil, fmt.Errorf("node.facts: stanza %q, pgbackrest %q, config %q, libexec %q, pgdata %q", b.stanza, b.bin, b.config, b.libexec, b.pgdata)
	}
	return b, nil
}

// pgbackrest runs pgBackRest as postgres on n.
func (b *backups) pgbackrest(ctx context.Context, n *node, args ...string) ([]byte, error) {
	argv := append([]string{"runuser", "-u", "postgres", "--", b.bin, "--config=" + b.config, "--stanza=" + b.stanza}, args...)
	out, err := n.exec(ctx, argv...)
	if err != nil {
		return out, fmt.Errorf("%s: %w", n.name, errors.New(b.h.redact.Replace(err.Error())))
	}
	return out, nil
}

// tlsAuthChecked shows whom the backup host's TLS server lets in, with
// pgBackRest's own client on member m: with m's certificate it lists the
// repository (repo2); a certificate of another CA for the same name is
// refused in the handshake; a certificate of the cluster's CA that the
// server does not name for the stanza (the backup host's own) is denied.
func (b *backups) tlsAuthChecked(ctx context.Context, m *node) error {
	if _, err := b.pgbackrest(ctx, m, "--repo=2", "repo-ls"); err != nil {
		return fmt.Errorf("with %s's own certificate: %w", m.name, err)
	}
	fcert, fkey, err := foreignCert(m.name)
	if err != nil {
		return err
	}
	hc, ok := b.h.sec.NodeCertificate(bkHost)
	if !ok {
		return fmt.Errorf("the secrets hold no certificate for %s", bkHost)
	}
	for _, c := range []struct{ what, cert, key, want string }{
		{"a certificate of another CA", fcert, fkey, "unknown ca"},
		{"the backup host's certificate, which it does not allow", hc.Cert, hc.Key, "access denied"},
	} {
		dir := "/var/tmp/pgha-e2e-cert" // on the overlay root: the container mounts its own /run
		if err := os.MkdirAll(filepath.Join(m.root, dir), 0o700); err != nil {
			return err
		}
		for name, body := range map[string]string{"c.crt": c.cert, "c.key": c.key} {
			if err := os.WriteFile(filepath.Join(m.root, dir, name), []byte(body), 0o600); err != nil {
				return err
			}
		}
		if _, err := m.exec(ctx, "chown", "-R", "postgres:postgres", dir); err != nil {
			return err
		}
		out, err := b.pgbackrest(ctx, m, "--repo=2", "--repo2-host-cert-file="+dir+"/c.crt", "--repo2-host-key-file="+dir+"/c.key", "repo-ls")
		if _, rmErr := m.exec(ctx, "rm", "-rf", dir); rmErr != nil {
			return rmErr
		}
		if err == nil {
			return fmt.Errorf("%s's TLS server let %s in with %s:\n%s", bkHost, m.name, c.what, out)
		}
		if !strings.Contains(err.Error()+string(out), c.want) {
			return fmt.Errorf("%s's TLS server refused %s without saying %q: %v\n%s", bkHost, c.what, c.want, err, out)
		}
		b.h.t.Logf("%s, from %s: refused (%s)", c.what, m.name, c.want)
	}
	return nil
}

// foreignCert is a client certificate and key (PEM) for name, from a CA
// of its own.
func foreignCert(name string) (string, string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})), nil
}

// pgbInfo is the part of `pgbackrest info --output=json` the test reads.
type pgbInfo struct {
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Archive []struct {
		ID  string `json:"id"`
		Min string `json:"min"`
		Max string `json:"max"`
	} `json:"archive"`
	Backup []struct {
		Label     string `json:"label"`
		Type      string `json:"type"`
		Timestamp struct {
			Start int64 `json:"start"`
			Stop  int64 `json:"stop"`
		} `json:"timestamp"`
		Archive struct {
			Start string `json:"start"`
			Stop  string `json:"stop"`
		} `json:"archive"`
		Info struct {
			Size       int64 `json:"size"`
			Delta      int64 `json:"delta"`
			Repository struct {
				Size  int64 `json:"size"`
				Delta int64 `json:"delta"`
			} `json:"repository"`
		} `json:"info"`
	} `json:"backup"`
}

func (b *backups) info(ctx context.Context, n *node, args ...string) (pgbInfo, error) {
	out, err := b.pgbackrest(ctx, n, append([]string{"info", "--output=json"}, args...)...)
	if err != nil {
		return pgbInfo{}, err
	}
	var all []pgbInfo
	if err := json.Unmarshal(out, &all); err != nil || len(all) != 1 {
		return pgbInfo{}, fmt.Errorf("pgbackrest info: %v: %s", err, out)
	}
	if all[0].Status.Code != 0 {
		return all[0], fmt.Errorf("pgbackrest info: stanza %s: %s", b.stanza, all[0].Status.Message)
	}
	return all[0], nil
}

// backup runs backup.sh KIND on n (the leader) and returns its figure:
// duration, sizes and throughput from pgbackrest info.
func (b *backups) backup(ctx context.Context, n *node, kind string) (string, error) {
	s := time.Now()
	out, err := n.exec(ctx, b.libexec+"/backup.sh", kind)
	b.h.saveLog(n.name+".backup-"+kind+".log", out)
	if err != nil {
		return "", fmt.Errorf("backup.sh %s on %s: %w", kind, n.name, errors.New(b.h.redact.Replace(err.Error())))
	}
	d := time.Since(s)
	// A member's backup.sh backs up repo1, the backup host's its only one.
	var repo []string
	if n != b.h.backupHost {
		repo = []string{"--repo=1"}
	}
	info, err := b.info(ctx, n, repo...)
	if err != nil {
		return "", err
	}
	if len(info.Backup) == 0 {
		return "", fmt.Errorf("backup.sh %s on %s: pgbackrest info lists no backup", kind, n.name)
	}
	last := info.Backup[len(info.Backup)-1]
	if last.Type != kind {
		return "", fmt.Errorf("backup.sh %s on %s: the last backup is %s %s", kind, n.name, last.Type, last.Label)
	}
	mb := func(v int64) float64 { return float64(v) / (1 << 20) }
	return fmt.Sprintf("backup.sh %s on %s: %.1fs (pgBackRest %ds), %s: database %.1f MB, %.1f MB copied (%.1f MB/s), %.1f MB stored",
		kind, n.name, d.Seconds(), last.Timestamp.Stop-last.Timestamp.Start, last.Label,
		mb(last.Info.Size), mb(last.Info.Delta), mb(last.Info.Delta)/d.Seconds(), mb(last.Info.Repository.Delta)), nil
}

var reWAL = regexp.MustCompile(`^([0-9A-F]{8})([0-9A-F]{16})-[0-9a-f]{40}`)

// chain compares pgbackrest info's archive range with the repository's WAL
// files: every segment from min to max is there, on some timeline.
func (b *backups) chain(ctx context.Context, n *node, repo string, args ...string) (string, error) {
	info, err := b.info(ctx, n, args...)
	if err != nil {
		return "", err
	}
	if len(info.Archive) != 1 || info.Archive[0].Min == "" || info.Archive[0].Max == "" {
		return "", fmt.Errorf("pgbackrest info: archive %+v", info.Archive)
	}
	a := info.Archive[0]
	segs := map[uint64]bool{}
	tls := map[string]int{}
	dir := filepath.Join(repo, "archive", b.stanza, a.ID)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		m := reWAL.FindStringSubmatch(d.Name())
		if m == nil || strings.Contains(d.Name(), ".partial") {
			return nil
		}
		seg, err := strconv.ParseUint(m[2], 16, 64)
		if err != nil {
			return err
		}
		segs[seg] = true
		tls[m[1]]++
		return nil
	})
	if err != nil {
		return "", err
	}
	lo, err1 := strconv.ParseUint(a.Min[8:], 16, 64)
	hi, err2 := strconv.ParseUint(a.Max[8:], 16, 64)
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("archive range %s..%s: %w", a.Min, a.Max, err)
	}
	var missing []string
	for s := lo; s <= hi; s++ {
		if !segs[s] {
			missing = append(missing, fmt.Sprintf("%016X", s))
		}
	}
	var tl []string
	for k, v := range tls {
		tl = append(tl, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(tl)
	if len(missing) > 0 {
		return "", fmt.Errorf("archive %s..%s: segments missing: %v (files per timeline %v)", a.Min, a.Max, missing, tl)
	}
	if len(tls) < 2 {
		return "", fmt.Errorf("archive %s..%s: WAL of one timeline only (%v): the new leader did not archive", a.Min, a.Max, tl)
	}
	return fmt.Sprintf("archive %s..%s: %d segments, none missing, files per timeline %s", a.Min, a.Max, hi-lo+1, strings.Join(tl, ", ")), nil
}

// timelineOf returns the timeline a backup was taken on, from the first
// WAL it needs.
func (b *backups) timelineOf(ctx context.Context, n *node, label string) (string, error) {
	info, err := b.info(ctx, n, "--repo=1")
	if err != nil {
		return "", err
	}
	for _, bk := range info.Backup {
		if bk.Label == label && len(bk.Archive.Start) >= 8 {
			tl, err := strconv.ParseUint(bk.Archive.Start[:8], 16, 32)
			return strconv.FormatUint(tl, 10), err
		}
	}
	return "", fmt.Errorf("pgbackrest info lists no backup %s", label)
}

// damagedCopy copies the repository inside n and truncates the largest file
// of the oldest full backup in the copy (every restore of the scenario
// reads it: the later backups refer to its files); it returns the copy and
// the file.
func (b *backups) damagedCopy(ctx context.Context, n *node) (string, string, error) {
	info, err := b.info(ctx, n, "--repo=1")
	if err != nil {
		return "", "", err
	}
	copyDir := backupRepo + "-damaged"
	label := info.Backup[0].Label
	if info.Backup[0].Type != "full" {
		return "", "", fmt.Errorf("the oldest backup is %s %s, not a full one", info.Backup[0].Type, label)
	}
	script := `set -e
rm -rf "$2"; cp -a "$1" "$2"
f=$(find "$2/backup/$3/$4/pg_data" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2)
test -n "$f"
truncate -s $(( $(stat -c %s "$f") / 2 )) "$f"
echo "${f#"$2"/}"`
	out, err := n.exec(ctx, "bash", "-c", script, "damage", backupRepo, copyDir, b.stanza, label)
	if err != nil {
		return "", "", fmt.Errorf("damaged copy: %w", err)
	}
	return copyDir, strings.TrimSpace(string(out)), nil
}

// dataState is what must not change when restore.sh refuses or fails: the
// PGDATA directory itself (its inode), what lies beside it, the leader,
// and the rows of the runs.
func (b *backups) dataState(ctx context.Context, n *node, runs ...int) (string, error) {
	parent := filepath.Dir(b.pgdata)
	out, err := n.exec(ctx, "sh", "-c", `stat -c 'inode %i' "$1" && ls -A "$2"`, "state", b.pgdata, parent)
	if err != nil {
		return "", err
	}
	st := string(out)
	for _, r := range runs {
		ids, err := b.h.present(ctx, pgAddr(n), r)
		if err != nil {
			return "", fmt.Errorf("%s: rows of run %d: %w", n.name, r, err)
		}
		st += fmt.Sprintf("run %d: %d rows\n", r, len(ids))
	}
	rows, err := b.h.sql(ctx, pgAddr(n), "SELECT pg_is_in_recovery()")
	if err != nil {
		return "", err
	}
	return st + "in recovery: " + rows[0][0] + "\n", nil
}

func (b *backups) unchanged(ctx context.Context, n *node, before string, runs ...int) error {
	after, err := b.dataState(ctx, n, runs...)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", n.name, before, after)
	}
	return nil
}

// dropKept checks that the data a restore or a rejoin moved aside on n is
// kept (a PGDATA beside the new one) and then deletes it, as the operator
// does once satisfied: the nodes' PGDATA file systems are small.
func (b *backups) dropKept(ctx context.Context, n *node, kind string) (string, error) {
	script := `set -e
n=0
for d in "$1".` + kind + `-*; do
	[ -d "$d" ] || continue
	test -f "$d/PG_VERSION"
	echo "$d $(du -sm "$d" | cut -f1) MB"
	rm -rf "$d"
	n=$((n + 1))
done
test "$n" = 1`
	out, err := n.exec(ctx, "bash", "-c", script, "kept", b.pgdata)
	if err != nil {
		return "", fmt.Errorf("%s: the data kept aside (%s): %w", n.name, kind, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// runRows is a run's outcomes and whether its rows must be there.
type runRows struct {
	run      int
	outcomes map[int64]Outcome
	kept     bool
}

// rowsAfterRestore checks the restored leader's rows: a kept run passes the
// checker (every acknowledged row, none failed, none twice, none unknown);
// a run written after the target has no row, and the checker must see its
// acknowledged rows lost.
func (b *backups) rowsAfterRestore(ctx context.Context, n *node, runs []runRows) error {
	for _, r := range runs {
		present, err := b.h.present(ctx, pgAddr(n), r.run)
		if err != nil {
			return fmt.Errorf("%s: rows of run %d: %w", n.name, r.run, err)
		}
		v := Check(r.outcomes, present)
		if r.kept {
			if err := v.Err(); err != nil {
				return fmt.Errorf("run %d: %w", r.run, err)
			}
			b.h.t.Logf("FIGURE run %d after the restore: %s", r.run, v)
			continue
		}
		if len(present) > 0 {
			return fmt.Errorf("run %d, written after the restore target, has %d rows after the restore", r.run, len(present))
		}
		if v.Err() == nil || len(v.Lost) != v.Acked || v.Acked == 0 {
			return fmt.Errorf("run %d: the checker does not see its %d acknowledged rows lost: %s", r.run, v.Acked, v)
		}
		b.h.t.Logf("FIGURE run %d (after the target) after the restore: no row; the checker reports its %d acknowledged rows lost, as it must", r.run, len(v.Lost))
	}
	return nil
}

// switchover moves the leadership from old to cand and waits until cand
// leads a healthy cluster.
func (h *harness) switchover(ctx context.Context, old, cand *node) error {
	if _, err := h.apiCall(ctx, old, http.MethodPost, "/switchover", map[string]string{"leader": old.name, "candidate": cand.name}); err != nil {
		return err
	}
	deadline := time.Now().Add(150 * time.Second)
	for {
		after, err := h.waitHealthy(ctx, time.Until(deadline), true)
		if err != nil {
			return err
		}
		if after.leader == cand {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not lead after the switchover (leader %s)", cand.name, after.leader.name)
		}
		sleep(ctx, time.Second)
	}
}

var (
	reRestored  = regexp.MustCompile(`restored (\d+) MB in ([0-9.]+) s \(([0-9.]+) MB/s\)`)
	reRecovered = regexp.MustCompile(`recovered and promoted in ([0-9.]+) s`)
	reFull      = regexp.MustCompile(`full backup taken in ([0-9.]+) s`)
	reLeads     = regexp.MustCompile(`Patroni on \S+ leads`)
)

// restoreFigures picks restore.sh's own timings from its output.
func restoreFigures(out string) string {
	var f []string
	if m := reRestored.FindStringSubmatch(out); m != nil {
		f = append(f, fmt.Sprintf("pgbackrest restore %s MB in %ss, %s MB/s", m[1], m[2], m[3]))
	}
	if m := reRecovered.FindStringSubmatch(out); m != nil {
		f = append(f, "recovery to the target "+m[1]+"s")
	}
	if reLeads.MatchString(out) {
		f = append(f, "Patroni leads")
	}
	if m := reFull.FindStringSubmatch(out); m != nil {
		f = append(f, "fresh full backup "+m[1]+"s")
	}
	return strings.Join(f, ", ")
}

// pgbackrestError is the first ERROR line pgBackRest printed.
func pgbackrestError(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "ERROR:"); i >= 0 {
			return strings.TrimSpace(l[i:])
		}
	}
	return "(no ERROR line)"
}
