package bundle

import (
	"os"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

const sourceRepo = "/mnt/prod"

// bootstrapHost is a test host of the first member of a cluster
// bootstrapped from the backups of stanza prod (backup set set, "" for
// pgBackRest's choice), its own repository mounted; etcd holds no member
// of the cluster yet.
func bootstrapHost(t *testing.T, set string) (*host, Input) {
	t.Helper()
	h := newHost(t)
	in := backupInput(t, h.dir)
	spec := backupSpec(t)
	spec.Nodes[0], spec.Nodes[1] = spec.Nodes[1], spec.Nodes[0] // this node (pg2) first
	spec.Bootstrap = &cluster.Bootstrap{FromBackup: &cluster.FromBackup{Stanza: "prod", Repo: cluster.SourceRepo{Path: sourceRepo},
		Encryption: cluster.BackupCipherAES256CBC, Set: set}}
	sec := fullSecrets(t, &secrets.Secrets{HAProxyStatsPassword: testStatsPassword, BackupCipherPass: testCipherPass})
	sec.SourceBackupCipherPass = testCipherPass + "source"
	setFactsFrom(t, &in, spec, in.Components, sec)
	rendered, err := templates.Render(spec, in.Node, in.Components, sec)
	must(t, err)
	files := []payload.File{}
	for _, f := range in.Payload.Files {
		if f.Path != layout.PatroniConfig {
			files = append(files, f)
		}
	}
	in.Payload.Files = files
	for _, f := range rendered.Files {
		if f.Path == layout.PgBackRestSourceConfig || f.Path == layout.PatroniConfig {
			in.Payload.Add(f)
		}
	}
	must(t, in.Payload.Sort())
	h.extract(in)
	must(t, os.MkdirAll(h.root+cluster.DefaultBackupRepoPath, 0o755))
	writeFile(t, h.state+"/role", "leader")
	writeFile(t, h.state+"/members.tsv", patronictlList())
	return h, in
}

// The first member of a cluster bootstrapped from another cluster's
// backups checks the source before Patroni first starts: the repository
// mounted, pgBackRest reading its stanza (as postgres, with source.conf,
// `info` only), a backup there, the set the spec names; any failure stops
// install.sh before Patroni starts. After the health gates it creates its
// own stanza and takes the first full backup of the new cluster, once.
func TestInstallBootstrapFromBackup(t *testing.T) {
	t.Parallel()
	const info = `[{"backup":[{"label":"20261204-010000F","type":"full"},{"label":"20261204-010000F_20261205-010000I","type":"incr"}],"name":"prod","status":{"code":0,"message":"ok"}}]`
	patroniStarted := func(h *host) bool { return index(h.calls(), "systemctl start --no-block patroni") >= 0 }

	t.Run("source not mounted", func(t *testing.T) {
		t.Parallel()
		h, _ := bootstrapHost(t, "")
		out, code := h.run("install.sh")
		if code == 0 || !strings.Contains(out, "the source repository /mnt/prod does not exist: mount the repository of the cluster to copy there") || patroniStarted(h) {
			t.Fatalf("exit %d, Patroni started %v\n%s", code, patroniStarted(h), out)
		}
	})
	t.Run("source unreadable", func(t *testing.T) {
		t.Parallel()
		h, _ := bootstrapHost(t, "")
		must(t, os.MkdirAll(h.root+sourceRepo, 0o755))
		writeFile(t, h.state+"/fail-pgbackrest-source", "")
		out, code := h.run("install.sh")
		if code == 0 || !strings.Contains(out, "CryptoError") || !strings.Contains(out, "pgbackrest cannot read stanza prod in /mnt/prod") || patroniStarted(h) {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("no backup in the source", func(t *testing.T) {
		t.Parallel()
		h, _ := bootstrapHost(t, "")
		must(t, os.MkdirAll(h.root+sourceRepo, 0o755))
		out, code := h.run("install.sh")
		if code == 0 || !strings.Contains(out, "stanza prod in /mnt/prod has no backup to restore (pgbackrest info status 1)") || patroniStarted(h) {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("set missing", func(t *testing.T) {
		t.Parallel()
		h, _ := bootstrapHost(t, "20261101-010000F")
		must(t, os.MkdirAll(h.root+sourceRepo, 0o755))
		writeFile(t, h.state+"/source-info.json", info)
		out, code := h.run("install.sh")
		if code == 0 || !strings.Contains(out, "backup set 20261101-010000F is not in stanza prod of /mnt/prod") || patroniStarted(h) {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("bootstraps", func(t *testing.T) {
		t.Parallel()
		h, _ := bootstrapHost(t, "20261204-010000F")
		must(t, os.MkdirAll(h.root+sourceRepo, 0o755))
		writeFile(t, h.state+"/source-info.json", info)
		out, code := h.run("install.sh")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		calls := h.calls()
		src := index(calls, "runuser -u postgres -- "+binDir(h.dir)+"/pgbackrest --config="+h.root+layout.PgBackRestSourceConfig+" --stanza=prod --output=json info")
		start := index(calls, "systemctl start --no-block patroni")
		conf := "pgbackrest --config=" + h.root + layout.PgBackRestConfig + " --stanza=demo "
		check := index(calls, conf+"check")
		full := index(calls, conf+"--type=full backup")
		if src < 0 || start < src || check < start || full < check {
			t.Errorf("source info %d, Patroni started %d, check %d, first full backup %d\n%s", src, start, check, full, strings.Join(calls, "\n"))
		}
		for _, c := range calls {
			if strings.Contains(c, layout.PgBackRestSourceConfig) && !strings.HasSuffix(c, " info") {
				t.Errorf("the source was used for more than info: %s", c)
			}
		}
		if !strings.Contains(out, "stanza prod in /mnt/prod holds 2 backup(s); Patroni restores 20261204-010000F") ||
			!strings.Contains(out, "took the first full backup of demo into stanza demo") {
			t.Errorf("output:\n%s", out)
		}
		if conf := readFile(t, h.root+layout.PgBackRestSourceConfig); !strings.Contains(conf, "repo1-path="+sourceRepo) || !strings.Contains(conf, "repo1-cipher-pass="+testCipherPass+"source") {
			t.Errorf("source.conf:\n%s", conf)
		}
		// Once bootstrapped: PGDATA holds data, the source is not read
		// again (it may be unmounted), no second first backup.
		must(t, os.RemoveAll(h.root+sourceRepo))
		pgdata := ""
		for _, l := range strings.Split(readFile(t, h.root+layout.NodeFacts), "\n") {
			if f := strings.Fields(l); len(f) == 2 && f[0] == "pgdata" {
				pgdata = f[1]
			}
		}
		writeFile(t, h.root+pgdata+"/PG_VERSION", "16\n")
		writeFile(t, h.root+pgdata+"/patroni.dynamic.json", "{}\n")
		writeFile(t, h.state+"/members.tsv", healthyCluster)
		out, code = h.run("install.sh")
		if code != 0 || !strings.Contains(out, "PGDATA holds data: Patroni does not bootstrap the cluster again") || index(h.calls(), conf+"--type=full backup") >= 0 {
			t.Errorf("second run: exit %d\n%s", code, out)
		}
	})
}
