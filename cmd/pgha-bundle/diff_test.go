package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"

	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
)

// builds holds real builds of the spec variants in diff/testdata/specs, made
// once per test binary in a temporary directory: name -> build directory
// relative to that directory (the tests chdir there so labels are stable).
type builds struct {
	root    string
	secrets []string // every secret value of every secrets file used
}

// buildRoots are removed by TestMain once every test ran.
var buildRoots []string

func TestMain(m *testing.M) {
	// The test binary is the CLI itself when a test runs it as a process
	// (a terminal test needs a real process with its own stderr).
	if os.Getenv(runAsCLI) == "1" {
		os.Exit(run(append([]string{"pgha-bundle"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	code := m.Run()
	for _, r := range buildRoots {
		os.RemoveAll(r)
	}
	os.Exit(code)
}

const specDir = "../../diff/testdata/specs"

// makeBuilds writes the fixture packages (PostgreSQL 15.4, and a 15.5 set for
// the upgrade pair), then builds every variant with one shared secrets file
// (and a second one for the rotated pair), deterministic throughout.
func makeBuilds(t testing.TB) *builds {
	t.Helper()
	root, err := os.MkdirTemp("", "pgha-diff-test-")
	if err != nil {
		t.Fatal(err)
	}
	buildRoots = append(buildRoots, root)
	key, err := fixture.NewKeyFromSeed("diff-test", []byte("diff-test"))
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(root, "RPM-GPG-KEY")
	if err := os.WriteFile(keyPath, key.ArmoredPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs := func(dir, pgVersion string) string {
		set := fixture.DebianComponents("el9", "x86_64")
		for i := range set {
			if strings.HasPrefix(set[i].Name, "postgresql15") {
				set[i].Version = pgVersion
				for j, r := range set[i].Requires {
					set[i].Requires[j] = strings.ReplaceAll(r, "15.4-", pgVersion+"-")
				}
				for j, p := range set[i].Provides {
					set[i].Provides[j] = strings.ReplaceAll(p, "15.4", pgVersion)
				}
			}
		}
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := fixture.WriteSet(d, set, key); err != nil {
			t.Fatal(err)
		}
		return d
	}
	pg154, pg155 := pkgs("pkgs-15.4", "15.4"), pkgs("pkgs-15.5", "15.5")
	b := &builds{root: root}
	for _, v := range []struct{ out, spec, pkgs, secrets string }{
		{"base", "base.yaml", pg154, "a.secrets.yaml"},
		{"parameter", "parameter.yaml", pg154, "a.secrets.yaml"},
		{"nodes-added", "nodes-added.yaml", pg154, "a.secrets.yaml"},
		{"generation", "generation.yaml", pg154, "a.secrets.yaml"},
		{"package-upgrade", "base.yaml", pg155, "a.secrets.yaml"},
		{"secret-rotated", "base.yaml", pg154, "b.secrets.yaml"},
		{"rebuild", "base.yaml", pg154, "a.secrets.yaml"},
	} {
		seed := int64(1)
		if v.secrets == "b.secrets.yaml" {
			seed = 2
		}
		// Keys and signatures draw from crypto's own source: seed it too,
		// so new certificates are the same in every run.
		if tt, ok := t.(*testing.T); ok {
			cryptotest.SetGlobalRandom(tt, uint64(seed))
		}
		_, err := pipeline.Run(pipeline.Options{
			SpecPath: filepath.Join(specDir, v.spec), OutDir: filepath.Join(root, v.out),
			SecretsPath: filepath.Join(root, v.secrets), PackagesDir: v.pkgs, Keys: []string{keyPath},
			Version: "test", Rand: rand.New(rand.NewSource(seed)), Now: certTime,
		})
		if err != nil {
			t.Fatalf("build %s: %v", v.out, err)
		}
	}
	for _, f := range []string{"a.secrets.yaml", "b.secrets.yaml"} {
		b.secrets = append(b.secrets, secretValues(t, filepath.Join(root, f))...)
	}
	// The planted build: the superuser password reaches the payload under a
	// key no name marks as secret (a custom parameter, pgha.blob), in
	// patroni.yml and dcs.yml; only the renderer's spans can hide it.
	base, err := os.ReadFile(filepath.Join(specDir, "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pw := plantedSecret(t, filepath.Join(root, "a.secrets.yaml"))
	planted := strings.Replace(string(base), "    wal_level: replica\n", "    wal_level: replica\n    pgha.blob: \""+pw+"\"\n", 1)
	if planted == string(base) {
		t.Fatal("base.yaml has no wal_level line to plant the parameter beside")
	}
	plantedSpec := filepath.Join(root, "planted.yaml")
	if err := os.WriteFile(plantedSpec, []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	if tt, ok := t.(*testing.T); ok {
		cryptotest.SetGlobalRandom(tt, 1)
	}
	if _, err := pipeline.Run(pipeline.Options{
		SpecPath: plantedSpec, OutDir: filepath.Join(root, "planted"),
		SecretsPath: filepath.Join(root, "a.secrets.yaml"), PackagesDir: pg154, Keys: []string{keyPath},
		Version: "test", Rand: rand.New(rand.NewSource(1)), Now: certTime,
	}); err != nil {
		t.Fatalf("build planted: %v", err)
	}
	// The legacy build: base as a version before secret spans wrote it,
	// its manifest without them.
	copyDir(t, filepath.Join(root, "base"), filepath.Join(root, "legacy"))
	editManifest(t, filepath.Join(root, "legacy", "demo", "manifest.json"), func(e map[string]any) { delete(e, "secret_spans") })
	// The mode pair: the same build, with patroni.yml's mode as a template
	// change to 0640 would make it, recorded in the manifest the tree is read with.
	copyDir(t, filepath.Join(root, "base"), filepath.Join(root, "mode"))
	editManifest(t, filepath.Join(root, "mode", "demo", "manifest.json"), func(e map[string]any) {
		if e["path"] == "/etc/patroni/patroni.yml" {
			e["mode"] = "0640"
		}
	})
	return b
}

// editManifest rewrites the per-node file entries of a build's manifest.json.
func editManifest(t testing.TB, path string, edit func(entry map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, n := range m["nodes"].([]any) {
		for _, f := range n.(map[string]any)["files"].([]any) {
			edit(f.(map[string]any))
		}
	}
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// plantedSecret is the superuser password of a secrets file.
func plantedSecret(t testing.TB, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		PW string `yaml:"superuser_password"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil || len(m.PW) < 16 {
		t.Fatalf("%s: no superuser_password (%v)", path, err)
	}
	return m.PW
}

var (
	buildsOnce sync.Once
	shared     *builds
	sharedErr  bool
)

// certTime is when the test builds issue their certificates.
var certTime = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// makeBuildsOnce shares one set of builds between the tests of this file.
// They live under a directory of their own, removed by TestMain's caller
// only with the process: t.TempDir would vanish with the first test.
func makeBuildsOnce(t testing.TB) *builds {
	t.Helper()
	buildsOnce.Do(func() {
		sharedErr = true
		shared = makeBuilds(t)
		sharedErr = false
	})
	if sharedErr {
		t.Fatal("the shared builds failed in an earlier test")
	}
	return shared
}

// secretValues returns every value of a secrets file: all of them are secret.
func secretValues(t testing.TB, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		case string:
			if len(x) >= 8 {
				out = append(out, x)
			}
		}
	}
	walk(m)
	if len(out) < 5 {
		t.Fatalf("%s: found %d secret values, want the five passwords at least", path, len(out))
	}
	return out
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
		return os.Chmod(dst, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func runDiffCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(append([]string{"pgha-bundle"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// TestDiffBuilds runs pgha-bundle diff over pairs of real builds, in every
// output form: output against golden files, exit code, and no secret.
func TestDiffBuilds(t *testing.T) {
	b := makeBuildsOnce(t)
	specs, err := filepath.Abs(specDir)
	if err != nil {
		t.Fatal(err)
	}
	// The spec's own package and key settings are overridden, as build's flags do.
	for _, name := range []string{"parameter.yaml", "generation.yaml", "nodes-added.yaml"} {
		if err := os.Symlink(filepath.Join(specs, name), filepath.Join(b.root, name)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	specFlags := []string{"--packages", "pkgs-15.4", "--key", "RPM-GPG-KEY", "--secrets", "a.secrets.yaml"}
	t.Chdir(b.root)
	pairs := []struct {
		name, a, b string
		code       int
		flags      []string
	}{
		{"identical", "base/demo", "rebuild/demo", 0, nil},
		{"parameter", "base/demo", "parameter/demo", 1, nil},
		{"nodes-added", "base/demo", "nodes-added/demo", 1, nil},
		{"nodes-removed", "nodes-added/demo", "base/demo", 1, nil},
		{"package-upgrade", "base/demo", "package-upgrade/demo", 1, nil},
		{"secret-rotated", "base/demo", "secret-rotated/demo", 1, nil},
		{"mode", "base/demo", "mode/demo", 1, nil},
		{"planted", "base/demo", "planted/demo", 1, nil},
		{"legacy", "legacy/demo", "secret-rotated/demo", 1, nil},
		{"generation", "base/demo", "generation/demo", 1, nil},
		{"bundle", "base/demo/bundles/pg1.tar.gz", "parameter/demo/bundles/pg1.tar.gz", 1, nil},
		{"iso", "base/demo/seeds/pg1.iso", "generation/demo/seeds/pg1.iso", 1, nil},
		{"iso-vs-bundle", "base/demo/seeds/pg1.iso", "base/demo/bundles/pg1.tar.gz", 0, nil},
		{"spec", "base/demo", "parameter.yaml", 1, specFlags},
		{"spec-built", "parameter/demo", "parameter.yaml", 0, specFlags},
		{"spec-generation", "base/demo", "generation.yaml", 1, specFlags},
		{"spec-nodes-added", "base/demo", "nodes-added.yaml", 1, specFlags},
	}
	stable := bundleDigests(t, b.root)
	// A spec side issues the new nodes' certificates in memory, as the next
	// build would: at a fixed time, from a seeded source.
	clock = func() time.Time { return certTime }
	t.Cleanup(func() { clock = time.Now })
	forms := []struct {
		ext  string
		args []string
	}{
		{"txt", nil},
		{"stat", []string{"--stat"}},
		{"json", []string{"--format", "json"}},
		{"color", []string{"--color", "always", "--stat"}},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			for _, f := range forms {
				cryptotest.SetGlobalRandom(t, 3)
				args := append(append(append([]string{"diff"}, p.flags...), f.args...), p.a, p.b)
				out, stderr, code := runDiffCLI(args...)
				if code != p.code {
					t.Errorf("%s: exit %d, want %d; stderr: %s", strings.Join(args, " "), code, p.code, stderr)
				}
				if stderr != "" {
					t.Errorf("%s: stderr %q", strings.Join(args, " "), stderr)
				}
				for _, s := range b.secrets {
					if strings.Contains(out, s) {
						t.Errorf("%s: output holds a secret value (%d characters)", strings.Join(args, " "), len(s))
					}
				}
				if f.ext == "json" && !json.Valid([]byte(out)) {
					t.Errorf("JSON output does not parse")
				}
				testutil.Golden(t, filepath.Join(goldenDir, p.name+"."+f.ext), []byte(stable.Replace(out)))
			}
		})
	}
}

var goldenDir, _ = filepath.Abs("testdata/diff")

// bundleDigests names the digests that change with the bundle's embedded
// scripts (each seed's user-data names its bundle's sha256), so the goldens
// show where a digest changes without breaking on every script edit.
func bundleDigests(t *testing.T, root string) *strings.Replacer {
	t.Helper()
	isos, err := filepath.Glob(filepath.Join(root, "*", "demo", "seeds", "*.iso"))
	if err != nil || len(isos) == 0 {
		t.Fatalf("no seed ISOs under %s: %v", root, err)
	}
	sort.Strings(isos)
	bundleRe := regexp.MustCompile(`BUNDLE_SHA256='([0-9a-f]{64})'`)
	var pairs []string
	for _, iso := range isos {
		rel, _ := filepath.Rel(root, iso)
		label := strings.TrimSuffix(strings.Replace(rel, "/demo/seeds/", "/", 1), ".iso")
		files, err := cloudinit.ReadISO(iso)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Name != cloudinit.NameUserData {
				continue
			}
			ud, err := f.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(ud)
			pairs = append(pairs, hex.EncodeToString(sum[:])[:8], "<user-data "+label+">")
			if m := bundleRe.FindSubmatch(ud); m != nil {
				pairs = append(pairs, string(m[1]), "<bundle "+label+">")
			}
		}
	}
	return strings.NewReplacer(pairs...)
}

func TestDiffUsageErrors(t *testing.T) {
	dir := t.TempDir()
	notABuild := filepath.Join(dir, "empty")
	os.Mkdir(notABuild, 0o755)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"one path", []string{"diff", dir}, "two paths"},
		{"bad format", []string{"diff", "--format", "xml", dir, dir}, "--format"},
		{"bad color", []string{"diff", "--color", "sometimes", dir, dir}, "--color"},
		{"missing", []string{"diff", filepath.Join(dir, "nope.iso"), dir}, "no such file"},
		{"not a build", []string{"diff", notABuild, notABuild}, "without manifest.json"},
		{"unknown kind", []string{"diff", filepath.Join(dir, "x.txt"), dir}, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runDiffCLI(tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

// TestInspect lists and prints from a real build, bundle and ISO; a secret
// file's values appear only with --show-secrets.
func TestInspect(t *testing.T) {
	b := makeBuildsOnce(t)
	t.Chdir(b.root)
	// Lines that mention a password but hold none are shown; the secret
	// values, wherever they sit, are not.
	harmless := []string{`password_encryption: "scram-sha-256"`, "# it against the cluster's CA. Unsafe requests also need the password."}
	planted := []string{`pgha.blob: "[redacted sha256:`, `password_encryption: "scram-sha-256"`}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		want   []string // substrings of stdout
		lacks  []string // not in stdout
		stderr string   // substring of stderr, or none
		secret bool     // stdout may hold secrets
	}{
		{"list build", []string{"inspect", "base/demo"}, 0,
			[]string{"node pg1", "0600 postgres:postgres", "/etc/patroni/patroni.yml  (secret)", "seed:meta-data", "package postgresql15-server postgresql15-server-15.4-1.el9.x86_64"}, nil, "", false},
		{"list iso", []string{"inspect", "base/demo/seeds/pg2.iso"}, 0, []string{"node pg2", "seed:user-data", "/etc/etcd/etcd.conf.yml"}, nil, "", false},
		{"list bundle", []string{"inspect", "base/demo/bundles/pg3.tar.gz"}, 0, []string{"node pg3", "0640 root:haproxy"}, nil, "", false},
		{"patroni redacted", []string{"inspect", "base/demo", "pg1:/etc/patroni/patroni.yml"}, 0,
			append([]string{`password: "[redacted sha256:`, "scope:"}, harmless...), nil, "", false},
		{"haproxy redacted", []string{"inspect", "base/demo/bundles/pg1.tar.gz", "/etc/haproxy/haproxy.cfg"}, 0,
			[]string{"    stats auth haproxy:[redacted sha256:", "listen primary"}, nil, "", false},
		{"key redacted whole", []string{"inspect", "base/demo", "pg2:/etc/pgha-bundle/pki/etcd.key"}, 0,
			[]string{"[redacted sha256:"}, []string{"PRIVATE KEY", "\n["}, "", false},
		{"seed file", []string{"inspect", "base/demo/seeds/pg1.iso", "seed:meta-data"}, 0, []string{"instance-id: iid-demo-pg1-g1"}, nil, "", false},
		{"user-data shown", []string{"inspect", "base/demo/seeds/pg1.iso", "seed:user-data"}, 0, []string{"#cloud-config", "BUNDLE_SHA256="}, []string{"redacted"}, "", false},
		{"show secrets", []string{"inspect", "--show-secrets", "base/demo", "pg1:/etc/patroni/patroni.yml"}, 0, []string{"password:"}, nil, "", true},
		{"planted secret listed", []string{"inspect", "planted/demo"}, 0, []string{"/etc/patroni/dcs.yml  (secret)"}, nil, "", false},
		{"planted secret in a build", []string{"inspect", "planted/demo", "pg1:/etc/patroni/dcs.yml"}, 0, planted, nil, "", false},
		{"planted secret in a bundle", []string{"inspect", "planted/demo/bundles/pg2.tar.gz", "/etc/patroni/patroni.yml"}, 0, planted, nil, "", false},
		{"planted secret in an iso", []string{"inspect", "planted/demo/seeds/pg3.iso", "/etc/patroni/dcs.yml"}, 0, planted, nil, "", false},
		{"legacy build redacted whole", []string{"inspect", "legacy/demo", "pg1:/etc/patroni/patroni.yml"}, 0,
			[]string{"[redacted sha256:"}, []string{"scope:"}, "note: legacy/demo: secret files without recorded secret spans", false},
		{"legacy build, file without secrets", []string{"inspect", "legacy/demo", "pg1:/etc/etcd/etcd.conf.yml"}, 0,
			[]string{"initial-cluster-token:"}, nil, "", false},
		{"node needed", []string{"inspect", "base/demo", "/etc/patroni/patroni.yml"}, 2, nil, nil, "", false},
		{"no such file", []string{"inspect", "base/demo", "pg1:/etc/nope"}, 2, nil, nil, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, code := runDiffCLI(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tt.code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.lacks {
				if strings.Contains(out, w) {
					t.Errorf("output holds %q:\n%s", w, out)
				}
			}
			if tt.code == 0 && (tt.stderr == "") != (stderr == "") || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want %q", stderr, tt.stderr)
			}
			leaked := false
			for _, s := range b.secrets {
				if strings.Contains(out, s) {
					leaked = true
				}
			}
			if leaked != tt.secret {
				t.Errorf("output holds secrets: %v, want %v", leaked, tt.secret)
			}
		})
	}
}
