package bundle

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

var reFactCase = regexp.MustCompile(`(?m)^\t\t([a-z_]+)\)`)

// TestScriptsTakePathsFromTheLayout: no script names an on-node path of its
// own; every one comes from the facts, whose paths are the layout's.
func TestScriptsTakePathsFromTheLayout(t *testing.T) {
	scripts, err := Scripts()
	must(t, err)
	names := sortedNames(scripts)
	for _, name := range names {
		for _, p := range testutil.ScriptPathProblems(name, scripts[name]) {
			t.Error(p)
		}
	}
	// The check finds a path written out, and a key the layout lacks.
	planted := "\tlocal f=$ROOT/etc/patroni/patroni.yml\n\tcat \"${P[nowhere]}\"\n\t# a comment may say /etc/hosts\n"
	if got := testutil.ScriptPathProblems("planted.sh", []byte(planted)); len(got) != 2 ||
		!strings.Contains(got[0], "/etc/patroni/patroni.yml") || !strings.Contains(got[1], "nowhere") {
		t.Errorf("planted paths: %q", got)
	}
}

// TestFactsKeysAreRead: every key of a bundle's FACTS is one load_facts
// reads, and load_facts reads no key Go never writes.
func TestFactsKeysAreRead(t *testing.T) {
	lib, err := os.ReadFile("scripts/lib.sh")
	must(t, err)
	i, j := strings.Index(string(lib), "load_facts() {"), strings.Index(string(lib), "# load_bundle reads")
	if i < 0 || j < i {
		t.Fatal("lib.sh: no load_facts before load_bundle")
	}
	read := map[string]bool{}
	for _, m := range reFactCase.FindAllStringSubmatch(string(lib[i:j]), -1) {
		read[m[1]] = true
	}
	dir := t.TempDir()
	in := vipInput(t, dir)
	in.Components.PgBackRest = &rpm.PgBackRestComponent{Version: "2.45", Bin: "/usr/bin/pgbackrest"}
	sec := rotationSecrets("1")
	sec.VRRPPassword, sec.BackupCipherPass = "vrrp-test-password-0123", testCipherPass
	sec.SourceBackupCipherPass = testCipherPass
	// Bundles with every optional fact: an archive and a virtual IP; backups
	// (which replace the archive section).
	written := map[string]bool{}
	// A bundle of a shared-media build names its media.
	in.Media = &Media{Label: "DEMO_PKGS", SHA256: strings.Repeat("0", 64)}
	for _, edit := range []func(s *cluster.Spec){
		func(s *cluster.Spec) {
			s.Archive.Enabled, s.Archive.Directory = true, "/data/wal"
			s.VIP = &cluster.VIP{Address: "10.0.0.10", Prefix: 24, Interface: "eth0", VirtualRouterID: 10, Mode: cluster.VIPModeHAProxy}
		},
		func(s *cluster.Spec) { s.Backup = backupSpec(t).Backup },
		func(s *cluster.Spec) {
			s.Backup = backupSpec(t).Backup
			s.Backup.Host = &cluster.BackupHost{Name: "bk", Address: "10.0.0.9", Port: cluster.DefaultBackupHostPort, Path: "/srv/pgbackrest"}
		},
		// A cluster bootstrapped from another cluster's backups, as its
		// first member (the one that restores them) sees it.
		func(s *cluster.Spec) {
			s.Backup = backupSpec(t).Backup
			s.Bootstrap = &cluster.Bootstrap{FromBackup: &cluster.FromBackup{Stanza: "prod", Repo: cluster.SourceRepo{Path: "/mnt/prod"}, Encryption: cluster.BackupCipherAES256CBC}}
			s.Nodes[0].Name, s.Nodes[1].Name = in.Node, s.Nodes[0].Name
		},
	} {
		setFactsFrom(t, &in, fixtureSpec(t, edit), in.Components, sec)
		factKeysRead(t, &in, read, written)
	}
	// The backup host's bundle.
	hin := backupHostInput(t, dir)
	factKeysRead(t, &hin, read, written)
	var unread []string
	for k := range read {
		if !written[k] {
			unread = append(unread, k)
		}
	}
	sort.Strings(unread)
	if len(unread) > 0 {
		t.Errorf("load_facts reads keys no bundle writes: %v", unread)
	}
}

// factKeysRead checks that load_facts reads every key of in's FACTS, and
// records them in written.
func factKeysRead(t *testing.T, in *Input, read, written map[string]bool) {
	t.Helper()
	m := manifest(in, nil)
	nf, _ := in.Payload.Lookup(layout.NodeFacts)
	b, err := facts(&m, nf.Content)
	must(t, err)
	lines, err := layout.ParseFacts(b)
	must(t, err)
	for _, l := range lines {
		written[l[0]] = true
		if !read[l[0]] {
			t.Errorf("%s's FACTS key %s is not read by load_facts", in.Node, l[0])
		}
	}
}
