package diff

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// pairs are the changes an operator makes between two builds.
var pairs = []struct {
	name string
	edit func(*fixture)
	// consequences expected, by kind
	want []ConsequenceKind
}{
	{"identical", func(*fixture) {}, nil},
	{"parameter", func(f *fixture) { f.maxConnections = 200; f.ttl = 40 }, []ConsequenceKind{PatroniDCS, PatroniDCS}},
	{"node-added", func(f *fixture) { f.nodes = append(f.nodes, "pg4") }, []ConsequenceKind{EtcdMembership}},
	{"node-removed", func(f *fixture) { f.nodes = f.nodes[:2] }, []ConsequenceKind{EtcdMembership}},
	{"package-upgrade", func(f *fixture) { f.pgNEVRA = "postgresql15-server-15.5-1PGDG.rhel9.x86_64" }, []ConsequenceKind{PackageVersion}},
	{"secret-rotated", func(f *fixture) { f.superPW = "Nw5Tb7Xc2Vd9Ke3L"; f.statsPW = "Qm8Rw1Ty6Ui3Op0A" }, nil},
	{"mode", func(f *fixture) { f.etcdMode = 0o644 }, nil},
	{"generation", func(f *fixture) { f.generation = 2 }, []ConsequenceKind{FirstBoot}},
}

func TestComparePairs(t *testing.T) {
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			a := baseFixture()
			b := baseFixture()
			b.nodes = append([]string(nil), a.nodes...)
			p.edit(&b)
			res := Compare(a.side("a"), b.side("b"))
			if got, want := res.Differ(), p.name != "identical"; got != want {
				t.Errorf("Differ() = %v, want %v", got, want)
			}
			var kinds []ConsequenceKind
			for _, c := range res.Consequences {
				kinds = append(kinds, c.Kind)
			}
			if !equalKinds(kinds, p.want) {
				t.Errorf("consequences %v, want %v", kinds, p.want)
			}
			for _, o := range []struct {
				ext  string
				opts Options
			}{{"txt", Options{}}, {"stat", Options{Stat: true}}, {"json", Options{JSON: true}}} {
				var buf bytes.Buffer
				if err := Write(&buf, &res, o.opts); err != nil {
					t.Fatal(err)
				}
				assertNoSecret(t, buf.String(), a.secrets(), b.secrets())
				if o.ext == "json" && !json.Valid(buf.Bytes()) {
					t.Errorf("JSON output does not parse")
				}
				testutil.Golden(t, filepath.Join("testdata", "pairs", p.name+"."+o.ext), buf.Bytes())
			}
		})
	}
}

func equalKinds(a, b []ConsequenceKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// assertNoSecret fails when out holds any secret value, as is or as JSON
// would escape it.
func assertNoSecret(t *testing.T, out string, secrets ...[]string) {
	t.Helper()
	for _, set := range secrets {
		for _, s := range set {
			if strings.Contains(out, s) {
				t.Errorf("output holds the secret %q", s)
			}
		}
	}
}
