package pipeline

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/manifest"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// env is one build's inputs in a temporary directory: the example spec, the
// signed EL7 fixture packages and their key.
type env struct {
	dir, spec, pkgs, key, out string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.spec = filepath.Join(e.dir, "cluster.yaml")
	e.pkgs = filepath.Join(e.dir, "packages")
	e.key = filepath.Join(e.dir, "RPM-GPG-KEY-test")
	e.out = filepath.Join(e.dir, "out")
	if err := os.WriteFile(e.spec, cluster.Example(), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey("build test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.key, key.ArmoredPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.WriteSet(e.pkgs, fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) opts() Options {
	return Options{SpecPath: e.spec, OutDir: e.out, PackagesDir: e.pkgs, Keys: []string{e.key}, Version: "test"}
}

// tree hashes every file under dir by relative path, with its mode.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		s := sha256.Sum256(b)
		out[rel] = fi.Mode().String() + " " + hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuildTwiceIsByteIdentical(t *testing.T) {
	e := newEnv(t)
	first, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	a := tree(t, first.Dir)
	o := e.opts()
	o.OutDir = filepath.Join(e.dir, "out2")
	second, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	b := tree(t, second.Dir)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("builds hold %d and %d files", len(a), len(b))
	}
	for p, h := range a {
		if b[p] != h {
			t.Errorf("%s differs between two builds of the same inputs", p)
		}
	}
	for _, want := range []string{
		"manifest.json", "SHA256SUMS", "bundles/co7-node01.tar.gz", "seeds/co7-node03.iso",
		"nodes/co7-node02/etc/patroni/patroni.yml",
	} {
		if _, ok := a[want]; !ok {
			t.Errorf("build lacks %s", want)
		}
	}
	if first.BuildID != second.BuildID || len(first.BuildID) != 16 {
		t.Errorf("build ids %q and %q", first.BuildID, second.BuildID)
	}
}

func TestSHA256SUMSAgreesWithSha256sum(t *testing.T) {
	sha := testutil.NeedTool(t, "sha256sum", "coreutils")
	e := newEnv(t)
	res, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sha, "--strict", "-c", "SHA256SUMS")
	cmd.Dir = res.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	// Every file but SHA256SUMS itself is listed.
	if got, want := strings.Count(string(out), ": OK"), len(tree(t, res.Dir))-1; got != want {
		t.Errorf("sha256sum checked %d files, the build has %d besides SHA256SUMS", got, want)
	}
	// Bundles and seeds carry every password of their node.
	for _, glob := range []string{"bundles/*", "seeds/*"} {
		matches, _ := filepath.Glob(filepath.Join(res.Dir, glob))
		for _, p := range matches {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", p, fi.Mode())
			}
		}
		if fi, err := os.Stat(filepath.Dir(filepath.Join(res.Dir, glob))); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: directory mode %v, want 0700", glob, fi.Mode())
		}
	}
	m, err := manifest.Read(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Packages) != len(fixture.EL7Components()) || !m.SignaturesChecked {
		t.Errorf("manifest lists %d packages (signatures checked %v)", len(m.Packages), m.SignaturesChecked)
	}
	if m.Components.PostgreSQL.BinDir != "/usr/pgsql-15/bin" || m.Components.PostgreSQL.Major != 15 {
		t.Errorf("manifest components: %+v", m.Components.PostgreSQL)
	}
	for _, n := range m.Nodes {
		if n.InstanceID == "" || len(n.Files) == 0 {
			t.Errorf("node %s: instance id %q, %d files", n.Name, n.InstanceID, len(n.Files))
		}
	}
}

func TestSecretsMadeOnceAndPrivate(t *testing.T) {
	e := newEnv(t)
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	path := DefaultSecretsPath(e.spec)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode %04o", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	var log bytes.Buffer
	o := e.opts()
	o.Log = &log
	if _, err := Run(o); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a second build changed the secrets")
	}
	// Nothing the build prints may hold a secret, passwords or keys.
	sec, err := secrets.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.Values()) != 5+1+3 {
		t.Fatalf("%d secret values, want 5 passwords, the CA key and 3 node keys", len(sec.Values()))
	}
	for _, v := range sec.Values() {
		if strings.Contains(log.String(), v) {
			t.Errorf("the build log prints a secret")
		}
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(e.opts()); err == nil || !strings.Contains(err.Error(), "chmod 0600") {
		t.Fatalf("a world-readable secrets file was accepted: %v", err)
	}
}

// TestCAKeyStaysInTheSecretsFile: the CA's key is in no output (tree,
// bundles decompressed, seeds), while each node's key is in its own outputs.
func TestCAKeyStaysInTheSecretsFile(t *testing.T) {
	e := newEnv(t)
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.Load(DefaultSecretsPath(e.spec))
	if err != nil {
		t.Fatal(err)
	}
	caKey := []byte(sec.TLS.CAKey)
	nodeKey := []byte(sec.TLS.Nodes["co7-node02"].Key)
	if len(caKey) == 0 || len(nodeKey) == 0 {
		t.Fatal("the secrets file holds no CA key or node key")
	}
	var seenNodeKey []string
	err = filepath.WalkDir(e.out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".tar.gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		if bytes.Contains(b, caKey) {
			t.Errorf("%s holds the CA's key", p)
		}
		if bytes.Contains(b, nodeKey) {
			rel, _ := filepath.Rel(e.out, p)
			seenNodeKey = append(seenNodeKey, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pgcluster/bundles/co7-node02.tar.gz",
		"pgcluster/nodes/co7-node02/etc/pgha-bundle/pki/etcd.key",
		"pgcluster/nodes/co7-node02/etc/pgha-bundle/pki/patroni.key",
		"pgcluster/seeds/co7-node02.iso",
	}
	if strings.Join(seenNodeKey, " ") != strings.Join(want, " ") {
		t.Errorf("co7-node02's key is in %v, want exactly %v", seenNodeKey, want)
	}
}

func TestFailedBuildKeepsPreviousOutput(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, e *env)
		want   string
	}{
		{"spec error", func(t *testing.T, e *env) {
			b, _ := os.ReadFile(e.spec)
			b = bytes.Replace(b, []byte("address: 192.168.0.82"), []byte("address: 192.168.0.81"), 1)
			os.WriteFile(e.spec, b, 0o644)
		}, "192.168.0.81"},
		{"tampered package", func(t *testing.T, e *env) {
			matches, _ := filepath.Glob(filepath.Join(e.pkgs, "patroni-*.rpm"))
			b, _ := os.ReadFile(matches[0])
			b[len(b)-10] ^= 0xff
			os.WriteFile(matches[0], b, 0o644)
		}, "patroni-"},
		{"wrong key", func(t *testing.T, e *env) {
			other, err := fixture.NewKey("someone else")
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(e.key, other.ArmoredPublic(), 0o644)
		}, "rpm "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			res, err := Run(e.opts())
			if err != nil {
				t.Fatal(err)
			}
			before := tree(t, res.Dir)
			c.break_(t, e)
			_, err = Run(e.opts())
			if err == nil {
				t.Fatal("a broken input built")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %q: %v", c.want, err)
			}
			after := tree(t, res.Dir)
			if len(after) != len(before) {
				t.Fatalf("previous output changed: %d files, was %d", len(after), len(before))
			}
			for p, h := range before {
				if after[p] != h {
					t.Errorf("previous output changed: %s", p)
				}
			}
			left, _ := filepath.Glob(filepath.Join(e.out, ".*"))
			if len(left) != 0 {
				t.Errorf("temporary directories left behind: %v", left)
			}
		})
	}
}

func TestSpecErrorsAllReported(t *testing.T) {
	e := newEnv(t)
	b, _ := os.ReadFile(e.spec)
	b = bytes.Replace(b, []byte("address: 192.168.0.82"), []byte("address: 192.168.0.81"), 1)
	b = bytes.Replace(b, []byte("ttl: 30"), []byte("ttl: 20"), 1)
	if err := os.WriteFile(e.spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(e.opts())
	var se *cluster.SpecError
	if !errors.As(err, &se) {
		t.Fatalf("want a *cluster.SpecError, got %v", err)
	}
	if n := len(se.Problems.Errors()); n < 2 {
		t.Fatalf("want both errors at once, got %d: %v", n, se)
	}
	for _, p := range se.Problems.Errors() {
		if p.Line == 0 {
			t.Errorf("problem without a position: %v", p)
		}
	}
}

// TestFailoverPriorityNeedsPatroni32: the fixture packages carry Patroni
// 3.0.2, which ignores the tag; the build says so at the tag's position.
func TestFailoverPriorityNeedsPatroni32(t *testing.T) {
	e := newEnv(t)
	b, _ := os.ReadFile(e.spec)
	b = bytes.Replace(b, []byte("    address: 192.168.0.82\n"), []byte("    address: 192.168.0.82\n    tags: {failover_priority: 2}\n"), 1)
	if err := os.WriteFile(e.spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(e.opts())
	var se *cluster.SpecError
	if !errors.As(err, &se) {
		t.Fatalf("want a *cluster.SpecError, got %v", err)
	}
	want := e.spec + ":22:31: failover_priority needs Patroni 3.2 or later; the packages carry Patroni 3.0.2, which ignores it: remove the tag or ship a newer Patroni"
	if got := se.Problems.Errors()[0].String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestUnsignedNeedsOptIn(t *testing.T) {
	e := newEnv(t)
	o := e.opts()
	o.Keys = nil
	spec, _ := os.ReadFile(e.spec)
	keysLine := []byte("  keys: [RPM-GPG-KEY-pgha]\n")
	if !bytes.Contains(spec, keysLine) {
		t.Fatal("test setup: the example spec has no packages.keys line to replace")
	}
	if err := os.WriteFile(e.spec, bytes.Replace(spec, keysLine, nil, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(o)
	if err == nil || !strings.Contains(err.Error(), "allow_unsigned") {
		t.Fatalf("a build without keys did not ask for packages.allow_unsigned: %v", err)
	}

	if err := os.WriteFile(e.spec, bytes.Replace(spec, keysLine, []byte("  allow_unsigned: true\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	o.Log = &log
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "NO PACKAGE SIGNATURES WERE CHECKED") {
		t.Errorf("an unsigned build did not say so loudly:\n%s", log.String())
	}
	m, err := manifest.Read(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.SignaturesChecked {
		t.Error("manifest claims signatures were checked")
	}
}

func TestEpochFromEnvironment(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var o Options
	got, err := o.epoch()
	if err != nil || !got.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("epoch %v %v", got, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := o.epoch(); err == nil {
		t.Fatal("a bad SOURCE_DATE_EPOCH was accepted")
	}
}

// TestSeedAndBundleWriteTheSameHostsBlock: the seed script of a build carries
// the same block, markers included, as the payload's hosts file install.sh
// merges; if they differed, every re-run of install.sh would count a change.
func TestSeedAndBundleWriteTheSameHostsBlock(t *testing.T) {
	e := newEnv(t)
	spec, _ := os.ReadFile(e.spec)
	// An FQDN exercises the longer line form.
	withDomain := bytes.Replace(spec, []byte("  os: el7\n"), []byte("  os: el7\n  domain: db.example.com\n"), 1)
	if bytes.Equal(withDomain, spec) {
		t.Fatal("test setup: no os line in the example")
	}
	if err := os.WriteFile(e.spec, withDomain, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	files, err := cloudinit.ReadISO(filepath.Join(res.Dir, "seeds", "co7-node02.iso"))
	if err != nil {
		t.Fatal(err)
	}
	var seedLines []string
	for _, f := range files {
		if f.Name != cloudinit.NameUserData {
			continue
		}
		ud, err := f.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		in := false
		for _, l := range strings.Split(string(ud), "\n") {
			l = strings.TrimSpace(l)
			switch {
			case l == "readonly HOSTS_BLOCK=(":
				in = true
			case in && l == ")":
				in = false
			case in:
				seedLines = append(seedLines, strings.TrimSuffix(strings.TrimPrefix(l, "'"), "'"))
			}
		}
	}
	hosts, err := os.ReadFile(filepath.Join(res.Dir, "nodes", "co7-node02", "etc", "pgha-bundle", "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(hosts), "\n"), "\n")
	if len(seedLines) != 5 || strings.Join(seedLines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("seed hosts lines %q differ from the bundle's %q", seedLines, want)
	}
}

// TestCertIdentities: on a real network a certificate names only its own
// node (etcd checks a peer's certificate against the address it connects
// from); on one host's loopback it also names 127.0.0.1 and every member.
func TestCertIdentities(t *testing.T) {
	spec, _, err := cluster.Parse("c.yaml", cluster.Example())
	if err != nil {
		t.Fatal(err)
	}
	ids := certIdentities(spec)
	if len(ids) != 3 || ids[1].Name != "co7-node02" || strings.Join(ids[1].IPs, " ") != "192.168.0.82" {
		t.Fatalf("identities %+v, want co7-node02 naming only 192.168.0.82", ids)
	}
	loop := strings.NewReplacer("192.168.0.81", "127.0.0.11", "192.168.0.82", "127.0.0.12", "192.168.0.83", "127.0.0.13", "192.168.0.1\n", "127.0.0.1\n").
		Replace(string(cluster.Example()))
	loop = strings.Replace(loop, "  os: el7\n", "  os: el7\n  allow_loopback: true\n", 1)
	spec, probs, err := cluster.Parse("l.yaml", []byte(loop))
	if err != nil {
		t.Fatalf("%v\n%v", err, probs)
	}
	ids = certIdentities(spec)
	if got := strings.Join(ids[1].IPs, " "); got != "127.0.0.12 127.0.0.1 127.0.0.11 127.0.0.13" {
		t.Fatalf("loopback co7-node02 names %s", got)
	}
}

// caProblems lists what disagrees with one CA for the cluster: the secrets
// file's CA must be the one in every node tree of every output, and no other
// CA may have been written to the file (its kept previous version).
func caProblems(t *testing.T, secretsPath string, outs ...string) []string {
	t.Helper()
	sec, err := secrets.Load(secretsPath)
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, out := range outs {
		cas, _ := filepath.Glob(filepath.Join(out, "nodes", "*", "etc", "pgha-bundle", "pki", "ca.crt"))
		if len(cas) == 0 {
			problems = append(problems, out+" holds no CA")
		}
		for _, p := range cas {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(b)) != strings.TrimSpace(sec.TLS.CACert) {
				problems = append(problems, p+" is another CA than the secrets file's")
			}
		}
	}
	if prev, err := secrets.Load(secrets.PrevPath(secretsPath)); err == nil && prev.TLS.CACert != sec.TLS.CACert {
		problems = append(problems, "a second CA was written to the secrets file")
	}
	return problems
}

// TestConcurrentFirstBuildsMakeOneCA forces the race of two first builds of
// one new spec: the first is paused between reading the (missing) secrets
// file and writing it while the second starts. The second must wait for the
// first's lock and build with the CA the first made.
func TestConcurrentFirstBuildsMakeOneCA(t *testing.T) {
	e := newEnv(t)
	paused, resume := make(chan struct{}), make(chan struct{})
	a := e.opts()
	a.OutDir = filepath.Join(e.dir, "out-a")
	a.afterSecretsRead = func() {
		close(paused)
		<-resume
	}
	b := e.opts()
	b.OutDir = filepath.Join(e.dir, "out-b")
	var logB testutil.SyncBuffer
	b.Log = &logB

	results := make(chan error, 2)
	go func() { _, err := Run(a); results <- err }()
	select {
	case <-paused:
	case err := <-results:
		t.Fatalf("the first build ended before its pause: %v", err)
	}
	go func() { _, err := Run(b); results <- err }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logB.String(), "==> waiting for another build of ") {
		if time.Now().After(deadline) {
			close(resume)
			t.Fatalf("the second build did not wait for the first one's lock:\n%s", logB.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(resume)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(logB.String(), "new cluster") {
		t.Errorf("the second build made a new cluster's secrets too:\n%s", logB.String())
	}
	if p := caProblems(t, DefaultSecretsPath(e.spec), filepath.Join(a.OutDir, "pgcluster"), filepath.Join(b.OutDir, "pgcluster")); len(p) > 0 {
		t.Fatalf("two CAs: %v", p)
	}
}

// TestCAProblemsSeesTwoCAs: the check of the test above fails on two builds
// with their own secrets file each, as racing builds without a lock make.
func TestCAProblemsSeesTwoCAs(t *testing.T) {
	e := newEnv(t)
	a, b := e.opts(), e.opts()
	a.OutDir, b.OutDir = filepath.Join(e.dir, "out-a"), filepath.Join(e.dir, "out-b")
	b.SecretsPath = filepath.Join(e.dir, "other.secrets.yaml")
	for _, o := range []Options{a, b} {
		if _, err := Run(o); err != nil {
			t.Fatal(err)
		}
	}
	if p := caProblems(t, DefaultSecretsPath(e.spec), filepath.Join(a.OutDir, "pgcluster"), filepath.Join(b.OutDir, "pgcluster")); len(p) != 3 {
		t.Fatalf("found %v, want the 3 node trees of the second output", p)
	}
}

// TestLockedSecretsFailClearly: a build that cannot take the secrets file's
// lock in time fails, naming it, and writes nothing.
func TestLockedSecretsFailClearly(t *testing.T) {
	e := newEnv(t)
	path := DefaultSecretsPath(e.spec)
	held, err := secrets.Lock(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	o := e.opts()
	o.LockWait = 300 * time.Millisecond
	_, err = Run(o)
	want := "secrets " + path + ": another build of it is running (it holds " + secrets.LockPath(path) + "): waited 300ms"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	for _, p := range []string{path, e.out} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s written by a build that failed: %v", p, err)
		}
	}
}

// TestRefusedSecretsChangeNothing: a secrets file that is refused stops the
// build with the secrets file and the previous output as they were; the
// remedy names the previous version kept beside the file.
func TestRefusedSecretsChangeNothing(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(t *testing.T, e *env, path string)
		want   string
	}{
		{"another cluster's file", func(t *testing.T, e *env, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.Replace(b, []byte("cluster: pgcluster\n"), []byte("cluster: other\n"), 1), 0o600)
		}, `belongs to cluster "other" (its cluster field), not to "pgcluster"`},
		{"truncated", func(t *testing.T, e *env, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)/3], 0o600)
		}, "restore the previous version kept at PATH.prev (cp -p PATH.prev PATH)"},
		{"empty", func(t *testing.T, e *env, path string) { os.WriteFile(path, nil, 0o600) }, "is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			path := DefaultSecretsPath(e.spec)
			res, err := Run(e.opts())
			if err != nil {
				t.Fatal(err)
			}
			// An older file of the current format gains its cluster field,
			// so that a previous version is kept.
			b, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.Replace(b, []byte("cluster: pgcluster\n"), nil, 1), 0o600)
			var log bytes.Buffer
			o := e.opts()
			o.Log = &log
			if _, err := Run(o); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), "==> secrets "+path+": filled in what this older file lacked: cluster") {
				t.Errorf("the build did not name what it filled in:\n%s", log.String())
			}
			before := tree(t, res.Dir)
			c.break_(t, e, path)
			broken, _ := os.ReadFile(path)
			_, err = Run(e.opts())
			if want := strings.ReplaceAll(c.want, "PATH", path); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, broken) {
				t.Error("the refused secrets file changed")
			}
			after := tree(t, res.Dir)
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Error("the previous output changed")
			}
		})
	}
}

// TestPreviewNeedsASecretsFile: diff's spec side says what to do when the
// secrets file does not exist, and creates nothing.
func TestPreviewNeedsASecretsFile(t *testing.T) {
	e := newEnv(t)
	_, err := Preview(e.opts())
	want := "no secrets file " + DefaultSecretsPath(e.spec) + ": a spec is previewed with its cluster's secrets file, which only build creates; name it with --secrets, or build the spec once"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant %s", err, want)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, d := range entries {
		if strings.Contains(d.Name(), "secrets") {
			t.Errorf("a preview created %s", d.Name())
		}
	}
}

// TestPreviewHasNoSideEffect: a preview of a spec whose node moved issues
// the moved node's certificate in memory only, while a build holds the
// secrets file's lock: it neither waits for the lock nor changes a file.
func TestPreviewHasNoSideEffect(t *testing.T) {
	e := newEnv(t)
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(spec), "192.168.0.83", "192.168.0.84", 1)
	if moved == string(spec) {
		t.Fatal("the example spec has no node at 192.168.0.83")
	}
	if err := os.WriteFile(e.spec, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	held, err := secrets.Lock(DefaultSecretsPath(e.spec), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	before := tree(t, e.dir)
	onDisk, err := secrets.Load(DefaultSecretsPath(e.spec))
	if err != nil {
		t.Fatal(err)
	}

	opts := e.opts()
	opts.LockWait = time.Millisecond
	r, err := Preview(opts)
	if err != nil {
		t.Fatalf("preview while a build holds the secrets: %v", err)
	}
	if got, old := r.Secrets.TLS.Nodes["co7-node03"].Cert, onDisk.TLS.Nodes["co7-node03"].Cert; got == "" || got == old {
		t.Error("the moved node's certificate was not issued in memory")
	}
	if after := tree(t, e.dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("a preview changed files")
	}
}

// TestPatroniBefore303Warns: Patroni before 3.0.3 may write an expired
// leader key back over a new leader's (patroni/patroni#2689). The build
// warns, at packages.dir, and goes on; 3.0.3 builds without the warning.
func TestPatroniBefore303Warns(t *testing.T) {
	for _, tc := range []struct {
		version string
		warn    bool
	}{
		{"3.0.2", true},
		{"3.0.3", false},
	} {
		t.Run(tc.version, func(t *testing.T) {
			e := newEnv(t)
			if tc.version != "3.0.2" {
				// The fixture set carries 3.0.2: replace its Patroni.
				if err := os.RemoveAll(e.pkgs); err != nil {
					t.Fatal(err)
				}
				key, err := fixture.NewKey("build test")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(e.key, key.ArmoredPublic(), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(e.pkgs, 0o755); err != nil {
					t.Fatal(err)
				}
				set := fixture.EL7Components()
				found := false
				for i := range set {
					if set[i].Name == "patroni" {
						set[i].Version, found = tc.version, true
					}
				}
				if !found {
					t.Fatal("test setup: the fixture set has no patroni package")
				}
				if _, err := fixture.WriteSet(e.pkgs, set, key); err != nil {
					t.Fatal(err)
				}
			}
			var log bytes.Buffer
			o := e.opts()
			o.Log = &log
			if _, err := Run(o); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "patroni/patroni#2689") {
					got = append(got, l)
				}
			}
			if !tc.warn {
				if len(got) > 0 {
					t.Fatalf("Patroni %s warned: %v", tc.version, got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("want one warning about Patroni %s, got %d:\n%s", tc.version, len(got), log.String())
			}
			wantPrefix := "warning: " + e.spec + ":"
			for _, s := range []string{wantPrefix, "Patroni 3.0.2 (patroni-3.0.2-", "older than 3.0.3", "Patroni 3.0.3 or later"} {
				if !strings.Contains(got[0], s) {
					t.Errorf("the warning lacks %q: %s", s, got[0])
				}
			}
		})
	}
}

// A spec with backups needs the pgbackrest package: build and validate
// --packages refuse a set without it at the backup section, before any
// secret is made, and accept the set with it (its component found).
func TestBackupNeedsPgBackRest(t *testing.T) {
	e := newEnv(t)
	b, _ := os.ReadFile(e.spec)
	b = bytes.Replace(b, []byte("# backup:\n#   repo: {path: /var/lib/pgbackrest}\n"), []byte("backup:\n  repo: {path: /var/lib/pgbackrest}\n"), 1)
	if err := os.WriteFile(e.spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := CheckPackages(e.opts())
	var se *cluster.SpecError
	if !errors.As(err, &se) {
		t.Fatalf("want a *cluster.SpecError, got %v", err)
	}
	if got := se.Problems.Errors()[0].String(); got != e.spec+":80:1: "+rpm.NeedPgBackRest().Error() {
		t.Fatalf("got %s", got)
	}
	if _, err := Run(e.opts()); err == nil {
		t.Fatal("build without pgbackrest succeeded")
	}
	if _, err := os.Stat(DefaultSecretsPath(e.spec)); err == nil {
		t.Error("a refused build made a secrets file")
	}
	key, err := fixture.NewKey("backup test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.key, key.ArmoredPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(e.pkgs); err != nil || os.Mkdir(e.pkgs, 0o755) != nil {
		t.Fatal(err)
	}
	if _, err := fixture.WriteSet(e.pkgs, append(fixture.EL7Components(), fixture.PgBackRestPackage("el7", "x86_64", "")), key); err != nil {
		t.Fatal(err)
	}
	r, err := CheckPackages(e.opts())
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Packages.Components.PgBackRest; c == nil || c.Bin != "/usr/bin/pgbackrest" {
		t.Fatalf("pgbackrest component %+v", c)
	}
	if _, err := Run(e.opts()); err != nil {
		t.Fatal(err)
	}
	s, err := secrets.Load(DefaultSecretsPath(e.spec))
	if err != nil || len(s.BackupCipherPass) != secrets.BackupCipherPassLength {
		t.Fatalf("secrets: %v, passphrase of %d characters", err, len(s.BackupCipherPass))
	}
}
