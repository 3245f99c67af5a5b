package bundle

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// hostPathsInScripts are the only absolute paths a script may write out:
// not paths of the node's layout but of every shell.
var hostPathsInScripts = map[string]bool{"/dev/null": true, "/usr/bin/env": true}

var (
	// An on-node path: one under a top directory of the filesystem
	// hierarchy, however it is joined ("$ROOT/etc/…" too).
	reAbsPath = regexp.MustCompile(`(?:/[A-Za-z0-9_.@+-]+)+`)
	topDirs   = map[string]bool{"bin": true, "boot": true, "data": true, "dev": true, "etc": true, "home": true, "lib": true,
		"lib64": true, "media": true, "mnt": true, "opt": true, "proc": true, "root": true, "run": true, "sbin": true,
		"srv": true, "sys": true, "tmp": true, "usr": true, "var": true}
	rePathKey  = regexp.MustCompile(`\$\{P\[([a-z_]+)\]`)
	reFactCase = regexp.MustCompile(`(?m)^\t\t([a-z_]+)\)`)
)

// scriptPathProblems lists the absolute paths a script writes out, outside
// comments, and the path keys it uses that the layout does not define.
func scriptPathProblems(name string, src []byte) []string {
	var out []string
	for i, line := range strings.Split(string(src), "\n") {
		code := line
		if t := strings.TrimSpace(code); strings.HasPrefix(t, "#") {
			continue
		}
		if j := strings.Index(code, " # "); j >= 0 {
			code = code[:j]
		}
		for _, p := range reAbsPath.FindAllString(code, -1) {
			top, _, _ := strings.Cut(p[1:], "/")
			if topDirs[top] && !hostPathsInScripts[p] {
				out = append(out, fmt.Sprintf("%s:%d: path %s written out: take it from the facts (${P[key]}, layout.PathKeys)", name, i+1, p))
			}
		}
		for _, m := range rePathKey.FindAllStringSubmatch(code, -1) {
			if _, ok := layout.PathKeys[m[1]]; !ok {
				out = append(out, fmt.Sprintf("%s:%d: path key %s is not in layout.PathKeys", name, i+1, m[1]))
			}
		}
	}
	return out
}

// TestScriptsTakePathsFromTheLayout: no script names an on-node path of its
// own; every one comes from the facts, whose paths are the layout's.
func TestScriptsTakePathsFromTheLayout(t *testing.T) {
	scripts, err := Scripts()
	must(t, err)
	names := sortedNames(scripts)
	for _, name := range names {
		for _, p := range scriptPathProblems(name, scripts[name]) {
			t.Error(p)
		}
	}
	// The check finds a path written out, and a key the layout lacks.
	planted := "\tlocal f=$ROOT/etc/patroni/patroni.yml\n\tcat \"${P[nowhere]}\"\n\t# a comment may say /etc/hosts\n"
	if got := scriptPathProblems("planted.sh", []byte(planted)); len(got) != 2 ||
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
	sec := &secrets.Secrets{HAProxyStatsPassword: testStatsPassword, VRRPPassword: "vrrp-test-password-0123", BackupCipherPass: testCipherPass}
	// Bundles with every optional fact: an archive and a virtual IP; backups
	// (which replace the archive section).
	written := map[string]bool{}
	for _, edit := range []func(s *cluster.Spec){
		func(s *cluster.Spec) {
			s.Archive.Enabled, s.Archive.Directory = true, "/data/wal"
			s.VIP = &cluster.VIP{Address: "10.0.0.10", Prefix: 24, Interface: "eth0", VirtualRouterID: 10, Mode: cluster.VIPModeHAProxy}
		},
		func(s *cluster.Spec) { s.Backup = backupSpec(t).Backup },
	} {
		setFactsFrom(t, &in, fixtureSpec(t, edit), in.Components, sec)
		m := manifest(&in, nil)
		nf, _ := in.Payload.Lookup(layout.NodeFacts)
		b, err := facts(&m, nf.Content)
		must(t, err)
		lines, err := layout.ParseFacts(b)
		must(t, err)
		for _, l := range lines {
			written[l[0]] = true
			if !read[l[0]] {
				t.Errorf("FACTS key %s is not read by load_facts", l[0])
			}
		}
	}
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
