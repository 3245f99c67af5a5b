//go:build e2e

package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// The clone scenario, at the end of TestBackup (make e2e-backup): a new
// cluster bootstrapped from the backup cluster's repository, on the same
// containers. On the source's leader: a fresh full backup, rows committed
// one by one, a named restore point, more rows, the WAL pushed to the
// repository. The source is then uninstalled (its data purged, its
// repository kept) and a second build, of cluster e2eclone, is made from
// a spec whose bootstrap.from_backup names the source's stanza, its
// repository (bound read-only in every node at cloneSourceRepo), the
// restore point and the backup set, its secrets file holding the source's
// passphrase through `secrets import-backup-passphrase`. Its install.sh on
// every node at once: the first node restores the source's backup through
// Patroni's custom bootstrap and leads, the others become its replicas.
// The clone holds exactly the rows committed before the point, none
// after; it archives into its own repository (cloneRepo), where install.sh
// took its first full backup and pgbackrest check and a full backup pass;
// every file of the source's repository is as it was.

const (
	cloneName = "e2eclone"
	// cloneSourceRepo is the source's repository, bound read-only;
	// cloneRepo the clone's own repository, shared by its members.
	cloneSourceRepo = "/var/lib/pgbackrest-source"
	cloneRepo       = "/var/lib/pgbackrest-clone"
	clonePoint      = "e2e-clone-point"
	cloneTag        = "clone"
	cloneMarks      = "e2e_clone_marks"
	// marks committed before and after the restore point.
	marksBefore, marksAfter = 25, 25
)

func init() { cloneMounts = [2]string{cloneSourceRepo, cloneRepo} }

// testClone runs the clone scenario; leader is the source's leader, the
// only member whose Patroni runs at the end of TestBackup.
func testClone(t *testing.T, ctx context.Context, h *harness, b *backups, leader *node) {
	start := time.Now()
	var set string
	step(t, "clone: a fresh full backup of the source on "+leader.name, func() error {
		fig, err := b.backup(ctx, leader, "full")
		if err != nil {
			return err
		}
		// The mounted repository's (repo1), which the clone reads.
		info, err := b.info(ctx, leader, "--repo=1")
		if err != nil {
			return err
		}
		set = info.Backup[len(info.Backup)-1].Label
		t.Logf("FIGURE clone source: %s", fig)
		return nil
	})
	var atPoint string
	step(t, fmt.Sprintf("clone: %d rows committed one by one, restore point %s, %d rows more, the WAL pushed to the repository", marksBefore, clonePoint, marksAfter), func() error {
		if _, err := h.sql(ctx, pgAddr(leader), "CREATE TABLE "+cloneMarks+" (n int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())"); err != nil {
			return err
		}
		for i := 1; i <= marksBefore+marksAfter; i++ {
			if i == marksBefore+1 {
				rows, err := h.sql(ctx, pgAddr(leader), fmt.Sprintf("SELECT (SELECT count(*) || ' ' || coalesce(sum(id), 0) FROM %s), pg_create_restore_point('%s')", rowsTable, clonePoint))
				if err != nil {
					return err
				}
				atPoint = rows[0][0]
				t.Logf("restore point %s at LSN %s; the workload's table at it: %s (rows, sum of ids)", clonePoint, rows[0][1], atPoint)
			}
			if _, err := h.sql(ctx, pgAddr(leader), fmt.Sprintf("INSERT INTO %s (n) VALUES (%d)", cloneMarks, i)); err != nil {
				return err
			}
		}
		_, err := b.pgbackrest(ctx, leader, "check")
		return err
	})
	step(t, "clone: the source uninstalled on every node (uninstall.sh --purge --yes), its repository kept", func() error {
		return eachNode(h.nodes, func(n *node) error {
			_, err := n.script(ctx, backupTag, "uninstall.sh", "uninstall-source", "--purge", "--yes", "--keep-membership")
			return err
		})
	})
	before, files, err := treeDigest(h.shared)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the source's repository: %d files, digest %s", files, before[:16])

	dir := filepath.Join(h.work, "clone")
	secPath := filepath.Join(dir, "secrets.yaml")
	var bundles map[string]string
	step(t, "clone: the source's passphrase imported into the clone's secrets file (never printed), the clone built", func() error {
		var err error
		bundles, err = h.buildClone(ctx, dir, secPath, b.stanza, set)
		return err
	})
	cloneSec, err := secrets.Load(secPath)
	if err != nil {
		t.Fatal(err)
	}
	h.redact = redactor(h.sec, cloneSec)

	step(t, "clone: install.sh on every node at once: "+h.nodes[0].name+" restores the source's backup to "+clonePoint+", the others are its replicas", func() error {
		took := make([]time.Duration, len(h.nodes))
		err := eachNode(h.nodes, func(n *node) error {
			s := time.Now()
			if err := n.copyBundle(bundles[n.name], cloneTag); err != nil {
				return err
			}
			out, err := n.exec(ctx, "bash", "/root/"+cloneTag+"/"+cloneName+"-"+n.name+"/install.sh", "--skip-os-check", "--no-packages")
			h.saveLog(n.name+".install-clone.log", out)
			if err != nil {
				return fmt.Errorf("%s: install.sh: %v", n.name, errors.New(h.redact.Replace(err.Error())))
			}
			if strings.Contains(string(out), h.sec.BackupCipherPass) || strings.Contains(string(out), cloneSec.BackupCipherPass) {
				return fmt.Errorf("%s: install.sh printed a backup passphrase", n.name)
			}
			for i := range h.nodes {
				if h.nodes[i] == n {
					took[i] = time.Since(s)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		var figs []string
		for i, n := range h.nodes {
			figs = append(figs, fmt.Sprintf("%s %.1fs", n.name, took[i].Seconds()))
		}
		t.Logf("FIGURE clone install.sh (%s bootstraps from the source's backup; the others wait for it, then are cloned from it): %s", h.nodes[0].name, strings.Join(figs, ", "))
		if err := h.cloneHealthy(ctx, h.nodes[0], 120*time.Second); err != nil {
			return err
		}
		fig, err := bootstrapFigure(ctx, h.nodes[0])
		if err != nil {
			return err
		}
		t.Logf("FIGURE clone bootstrap on %s: %s", h.nodes[0].name, fig)
		return nil
	})

	first := h.nodes[0]
	step(t, "clone: exactly the rows committed before "+clonePoint+", none after; the workload's rows as at the point", func() error {
		out, err := clonePSQL(ctx, first, fmt.Sprintf("SELECT count(*), coalesce(min(n), 0), coalesce(max(n), 0) FROM %s", cloneMarks))
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("%d|1|%d", marksBefore, marksBefore); out != want {
			return fmt.Errorf("the clone's marks (count|min|max): %s, want %s (%d committed before the point, %d after)", out, want, marksBefore, marksAfter)
		}
		rows, err := clonePSQL(ctx, first, fmt.Sprintf("SELECT count(*) || ' ' || coalesce(sum(id), 0) FROM %s", rowsTable))
		if err != nil {
			return err
		}
		if rows != atPoint {
			return fmt.Errorf("the clone's workload rows: %s, the source's at the point: %s", rows, atPoint)
		}
		rec, err := clonePSQL(ctx, first, "SELECT pg_is_in_recovery()")
		if err != nil || rec != "f" {
			return fmt.Errorf("the clone's leader in recovery: %q %v", rec, err)
		}
		t.Logf("FIGURE clone rows: %d marks of %d (the %d after the point absent), the workload's %s (rows, sum of ids) as at the point", marksBefore, marksBefore+marksAfter, marksAfter, rows)
		return nil
	})
	step(t, "clone: its own repository: the first full backup taken by install.sh, pgbackrest check, backup.sh full", func() error {
		cb := &backups{h: h, stanza: cloneName, bin: b.bin, config: b.config, libexec: b.libexec, pgdata: b.pgdata}
		if _, err := cb.pgbackrest(ctx, first, "check"); err != nil {
			return err
		}
		info, err := cb.info(ctx, first)
		if err != nil {
			return err
		}
		if len(info.Backup) != 1 || info.Backup[0].Type != "full" {
			return fmt.Errorf("the clone's stanza after install.sh: %+v, want its first full backup", info.Backup)
		}
		fig, err := cb.backup(ctx, first, "full")
		if err != nil {
			return err
		}
		t.Logf("FIGURE clone %s", fig)
		_, n, err := treeDigest(h.shared + "-clone")
		if err != nil {
			return err
		}
		t.Logf("the clone's repository %s: %d files", cloneRepo, n)
		return nil
	})
	step(t, "clone: the source's repository unchanged (every file's name, mode, size, time and content)", func() error {
		after, n, err := treeDigest(h.shared)
		if err != nil {
			return err
		}
		if after != before || n != files {
			return fmt.Errorf("the source's repository changed: %d files, digest %s, before %d files, %s", n, after[:16], files, before[:16])
		}
		return nil
	})
	t.Logf("FIGURE clone scenario wall time %.0fs", time.Since(start).Seconds())
}

// buildClone writes the clone's spec (the harness's, another cluster name,
// its own repository and the bootstrap section), imports the source's
// passphrase and builds; it returns each node's bundle.
func (h *harness) buildClone(ctx context.Context, dir, secPath, stanza, set string) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	build := filepath.Join(h.work, "build")
	base := strings.TrimSuffix(specYAML(filepath.Join(build, "rpms"), filepath.Join(build, "RPM-GPG-KEY-e2e")), specExtra)
	if !strings.Contains(base, "\n  name: "+clusterName+"\n") {
		return nil, errors.New("the harness's spec names no cluster")
	}
	spec := strings.Replace(base, "\n  name: "+clusterName+"\n", "\n  name: "+cloneName+"\n", 1) +
		"backup:\n  repo:\n    path: " + cloneRepo + "\n" +
		"bootstrap:\n  from_backup:\n    stanza: " + stanza + "\n    repo:\n      path: " + cloneSourceRepo + "\n" +
		"    target:\n      name: " + clonePoint + "\n    set: " + set + "\n"
	specPath := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		return nil, err
	}
	bin := os.Getenv("PGHA_E2E_BIN")
	if bin == "" {
		bin = filepath.Join(build, "pgha-bundle")
	}
	// Without the passphrase the build fails and says how to import it.
	out, err := run(ctx, bin, "build", "-f", specPath, "--out", filepath.Join(dir, "refused"), "--secrets", secPath)
	if err == nil || !strings.Contains(string(out), "secrets import-backup-passphrase") {
		return nil, fmt.Errorf("a build without the source's passphrase: %v\n%s", err, out)
	}
	if err := os.Remove(secPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out, err = run(ctx, bin, "secrets", "import-backup-passphrase", "-f", specPath, "--secrets", secPath, "--from", filepath.Join(build, "secrets.yaml"))
	if err != nil {
		return nil, err
	}
	if strings.Contains(string(out), h.sec.BackupCipherPass) {
		return nil, errors.New("import-backup-passphrase printed the passphrase")
	}
	h.t.Logf("%s", strings.TrimSpace(string(out)))
	if _, err := run(ctx, bin, "build", "-f", specPath, "--out", filepath.Join(dir, "out"), "--secrets", secPath,
		"--install-arg", "--skip-os-check", "--install-arg", "--no-packages"); err != nil {
		return nil, errors.New(h.redact.Replace(err.Error()))
	}
	bundles := map[string]string{}
	for _, n := range memberNames {
		bundles[n] = filepath.Join(dir, "out", cloneName, "bundles", n+".tar.gz")
		if _, err := os.Stat(bundles[n]); err != nil {
			return nil, err
		}
	}
	return bundles, nil
}

// cloneHealthy waits until patronictl on n lists the clone's three members:
// n the leader, the others streaming.
func (h *harness) cloneHealthy(ctx context.Context, n *node, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		out, err := n.exec(ctx, "patronictl", "-c", "/etc/patroni/patroni.yml", "list", "-f", "json", cloneName)
		last = string(out)
		var ms []struct {
			Member, Role, State string
		}
		if err == nil && json.Unmarshal(out, &ms) == nil && len(ms) == len(h.nodes) {
			ok := true
			for _, m := range ms {
				lead := strings.EqualFold(m.Role, "leader")
				ok = ok && lead == (m.Member == n.name) && (lead && m.State == "running" || !lead && (m.State == "streaming" || m.State == "running"))
			}
			if ok {
				h.t.Logf("the clone: %s", strings.TrimSpace(last))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	return fmt.Errorf("the clone did not become healthy in %s: %s", within, last)
}

// bootstrapFigure reads n's Patroni journal: the custom bootstrap ran the
// restore from the source's configuration, PostgreSQL stopped at the
// restore point; it returns how long the restore and the recovery took,
// and until Patroni ran post_bootstrap.
func bootstrapFigure(ctx context.Context, n *node) (string, error) {
	out, err := n.exec(ctx, "journalctl", "-u", "patroni", "--no-pager", "-o", "cat")
	if err != nil {
		return "", err
	}
	at := func(re string) (time.Time, error) {
		var last []string
		for _, m := range regexp.MustCompile(`(?m)^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[.,]\d{3})\S* .*`+re).FindAllStringSubmatch(string(out), -1) {
			last = m
		}
		if last == nil {
			return time.Time{}, fmt.Errorf("%s's Patroni journal has no line matching %q", n.name, re)
		}
		return time.Parse("2006-01-02 15:04:05.000", strings.Replace(last[1], ",", ".", 1))
	}
	start, err := at(`INFO: Running custom bootstrap script: \S+ --config=/etc/pgbackrest/source\.conf --stanza=\S+ --type=name`)
	if err != nil {
		return "", err
	}
	stop, err := at(`LOG:  recovery stopping at restore point "` + clonePoint + `"`)
	if err != nil {
		return "", err
	}
	post, err := at(`INFO: running post_bootstrap`)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("pgBackRest restore and recovery to %s %.1fs, post_bootstrap after %.1fs", clonePoint, stop.Sub(start).Seconds(), post.Sub(start).Seconds()), nil
}

// clonePSQL runs one query as postgres over the clone leader's socket
// (peer authentication: no password) and returns its unaligned output.
func clonePSQL(ctx context.Context, n *node, q string) (string, error) {
	out, err := n.exec(ctx, "runuser", "-u", "postgres", "--", "psql", "-XAt", "-v", "ON_ERROR_STOP=1", "-c", q)
	if err != nil {
		return "", fmt.Errorf("%s: psql %q: %v", n.name, q, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// treeDigest is one digest of every entry under dir: path, type and mode,
// size, modification time and, for files, the content's sha256.
func treeDigest(dir string) (string, int, error) {
	var lines []string
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %d %d", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			hs := sha256.New()
			_, err = io.Copy(hs, f)
			f.Close()
			if err != nil {
				return err
			}
			line += " " + hex.EncodeToString(hs.Sum(nil))
			files++
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		return "", 0, err
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:]), files, nil
}
