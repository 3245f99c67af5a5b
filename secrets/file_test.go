package secrets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// goodFile is a complete secrets file of cluster, as a build writes it.
func goodFile(t *testing.T, cluster string, seed uint64) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.yaml")
	w := want
	w.Cluster = cluster
	if _, _, err := LoadOrCreate(path, seeded(seed), w); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// todaysFormat is body as the current release writes it: no cluster field.
func todaysFormat(t *testing.T, body []byte) []byte {
	t.Helper()
	out := strings.Replace(string(body), "cluster: "+clusterOf(t, body)+"\n", "", 1)
	if out == string(body) {
		t.Fatal("test setup: no cluster line")
	}
	return []byte(out)
}

func clusterOf(t *testing.T, body []byte) string {
	t.Helper()
	s, _, reason := parse(body)
	if reason != "" {
		t.Fatalf("test setup: %s", reason)
	}
	return s.Cluster
}

// section returns the text of key's value in body (the PEM of a certificate
// or key, indented as in the file).
func section(t *testing.T, body []byte, key string) string {
	t.Helper()
	s := string(body)
	i := strings.Index(s, key+": |\n")
	if i < 0 {
		t.Fatalf("test setup: no %s", key)
	}
	rest := s[i+len(key)+4:]
	end := strings.Index(rest, "-----\n")
	end = strings.Index(rest[end+6:], "-----\n") + end + 6 + 6
	return rest[:end]
}

// foreignCA is a well-formed file whose CA pgha-bundle did not make and that
// names no cluster.
func foreignCA(t *testing.T) []byte {
	t.Helper()
	s, err := New(seeded(60))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), seeded(61))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Acme Root"},
		NotBefore: want.Now.Add(-time.Hour), NotAfter: want.Now.Add(caValidity), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(seeded(62), tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s.TLS = TLS{CACert: encodeCert(der), CAKey: keyPEM}
	path := filepath.Join(t.TempDir(), "f.yaml")
	f, err := Lock(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Save(s); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return b
}

// snapshot is every entry of a directory: name, mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			v += " " + string(b)
		}
		out[e.Name()] = v
	}
	return out
}

// goTypes matches what a Go type name or a YAML tag looks like in a message.
var goTypes = regexp.MustCompile(`\bstring\b|\bint\b|map\[|\[\]|secrets\.[A-Z]|NodeCert|!!|unmarshal`)

// TestRefused: every damaged, foreign or unusable secrets file is refused
// with what is wrong and what to do, and nothing in its directory changes
// but the lock file beside it.
func TestRefused(t *testing.T) {
	good := goodFile(t, "pg", 70)
	other := goodFile(t, "other", 71)
	caCert, caKey := section(t, good, "ca_cert"), section(t, good, "ca_key")
	n1Cert, n1Key := section(t, good, "            cert"), section(t, good, "            key")
	n2Key := section(t, good[strings.Index(string(good), n1Key)+len(n1Key):], "            key")
	repl := func(body []byte, old, new string) []byte {
		t.Helper()
		if !strings.Contains(string(body), old) {
			t.Fatalf("test setup: %q not in the file", old)
		}
		return []byte(strings.Replace(string(body), old, new, 1))
	}
	cut := func(after string, extra int) []byte {
		t.Helper()
		i := strings.Index(string(good), after)
		if i < 0 {
			t.Fatalf("test setup: %q not in the file", after)
		}
		return append([]byte(nil), good[:i+len(after)+extra]...)
	}
	firstPassword := "superuser_password: " + strings.SplitN(strings.SplitN(string(good), "superuser_password: ", 2)[1], "\n", 2)[0]
	restore := "restore it from your backup (no previous version is kept at "
	cases := []struct {
		name string
		body []byte // nil: no file
		mode os.FileMode
		prev []byte // the kept previous version, when not nil
		want []string
	}{
		{"another cluster's file", other, 0o600, nil,
			[]string{`belongs to cluster "other" (its cluster field), not to "pg", the spec's cluster.name`, `name cluster "pg"'s own secrets file with --secrets`}},
		{"today's format, another cluster's CA", todaysFormat(t, other), 0o600, nil,
			[]string{`belongs to cluster "other" (its CA is "pgha-bundle CA other"), not to "pg"`}},
		{"no cluster field and a CA pgha-bundle did not make", foreignCA(t), 0o600, nil,
			[]string{`names no cluster, and its CA's name "Acme Root" is not one pgha-bundle gives`, `add the line "cluster: pg" at its top`}},
		{"empty", []byte{}, 0o600, nil, []string{"is empty", restore}},
		{"blank", []byte("\n  \n\n"), 0o600, nil, []string{"is empty", restore}},
		{"only comments", []byte(header), 0o600, nil, []string{"holds no secrets (only comments)", restore}},
		{"empty mapping", []byte("{}\n"), 0o600, nil, []string{"holds no secrets", restore}},
		{"truncated in the header", good[:20], 0o600, nil, []string{"holds no secrets (only comments)"}},
		{"truncated after the cluster", cut("cluster: pg\n", 0), 0o600, nil,
			[]string{"lacks superuser_password, replication_password, rewind_password, restapi_password, haproxy_stats_password, tls.ca_cert, tls.ca_key, which every secrets file has: it is truncated or damaged", restore}},
		{"truncated in a key", cut("replication_pass", 0), 0o600, nil, []string{"is not valid YAML (line 6: could not find expected ':')"}},
		{"truncated in a password", cut("rewind_password: ", 5), 0o600, nil, []string{"lacks restapi_password, haproxy_stats_password, tls.ca_cert, tls.ca_key, which every secrets file has: it is truncated or damaged", restore}},
		{"truncated after the passwords", cut("haproxy_stats_password: ", 33), 0o600, nil, []string{"lacks tls.ca_cert, tls.ca_key, which every secrets file has"}},
		{"truncated in the CA", cut("ca_cert: |\n", 100), 0o600, nil, []string{"tls.ca_key", "which every secrets file has"}},
		{"truncated after the CA", cut(caCert, 0), 0o600, nil, []string{"lacks tls.ca_key"}},
		{"truncated in the CA's key", cut("ca_key: |\n", 120), 0o600, nil, []string{"tls.ca_key is not a PEM PKCS #8 private key that parses", restore}},
		{"truncated in a node's certificate", cut(" cert: |\n", 200), 0o600, nil, []string{"tls.nodes.n1 lacks its cert or key"}},
		{"truncated in a node's key", cut(n1Key[:len(n1Key)-60], 0), 0o600, nil, []string{"tls.nodes.n1.key is not a PEM PKCS #8 private key that parses"}},
		{"bad YAML", []byte("superuser_password: [unclosed\n"), 0o600, nil, []string{"is not valid YAML (line", restore}},
		{"a list", []byte("- a\n- b\n"), 0o600, nil, []string{":1: is not a mapping of keys (cluster, superuser_password", "but a list"}},
		{"text", []byte("hello\n"), 0o600, nil, []string{":1: is not a mapping of keys", "but text"}},
		{"password is a list", repl(good, firstPassword, "superuser_password: [a, b]"), 0o600, nil, []string{":5: superuser_password must be text, found a list"}},
		{"password is a mapping", repl(good, firstPassword, "superuser_password: {a: b}"), 0o600, nil, []string{"superuser_password must be text, found a mapping"}},
		{"cluster is a list", repl(good, "cluster: pg", "cluster: [pg]"), 0o600, nil, []string{":4: cluster must be text, found a list"}},
		{"tls is text", append(cut("haproxy_stats_password: ", 33), "tls: yes\n"...), 0o600, nil, []string{"tls must be a mapping (ca_cert, ca_key, nodes), found text"}},
		{"nodes is a list", repl(good, "    nodes:\n", "    nodes: [n1]\n    x:\n"), 0o600, nil, []string{"tls.nodes must map each node's name to its cert and key, found a list"}},
		{"a node is text", repl(good, "        n1:\n", "        n0: yes\n        n1:\n"), 0o600, nil, []string{"tls.nodes.n0 must be a mapping (cert, key), found text"}},
		{"the CA is a list", repl(good, "    ca_cert: |\n", "    ca_cert: [a]\n    ca_certx: |\n"), 0o600, nil, []string{"tls.ca_cert must be text, found a list"}},
		{"unknown key", repl(good, "superuser_password:", "superuser_pasword:"), 0o600, nil, []string{`:5: unknown key "superuser_pasword": a secrets file holds cluster, superuser_password`}},
		{"unknown key in tls", repl(good, "    ca_cert:", "    cacert:"), 0o600, nil, []string{`unknown key "cacert" in tls`}},
		{"unknown key in a node", repl(good, "            cert:", "            crt:"), 0o600, nil, []string{`unknown key "crt" in tls.nodes.n1`}},
		{"key twice", repl(good, "cluster: pg\n", "cluster: pg\ncluster: pg\n"), 0o600, nil, []string{":5: cluster is given twice"}},
		{"alias", repl(good, "rewind_password:", "x: &a 1\nrewind_password:"), 0o600, nil, []string{`unknown key "x"`}},
		{"alias value", []byte("cluster: &c pg\nsuperuser_password: *c\n"), 0o600, nil, []string{":2: superuser_password uses a YAML alias"}},
		{"two documents", append(append([]byte{}, good...), "---\ncluster: pg\n"...), 0o600, nil, []string{"holds a second YAML document"}},
		{"short password", repl(good, firstPassword, "superuser_password: short"), 0o600, nil, []string{":5: superuser_password is shorter than 16 characters", restore}},
		{"password with a quote", repl(good, firstPassword, `superuser_password: "AAAAAAAAAAAAAAAA'AAAA"`), 0o600, nil, []string{"superuser_password holds a character that needs quoting"}},
		{"passwords but no CA", cut("haproxy_stats_password: ", 33), 0o600, nil, []string{"lacks tls.ca_cert, tls.ca_key"}},
		{"CA that does not parse", repl(good, caCert[60:120], strings.Repeat("A", 60)), 0o600, nil, []string{":11: tls.ca_cert is not a PEM certificate that parses"}},
		{"CA key of another CA", repl(good, caKey, section(t, other, "ca_key")), 0o600, nil, []string{"tls.ca_key is not the key of tls.ca_cert", restore}},
		{"a node's certificate as the CA", repl(repl(good, caKey, n1Key), caCert, n1Cert), 0o600, nil, []string{"tls.ca_cert is not a CA certificate"}},
		{"node certificate that does not parse", repl(good, n1Cert[60:120], strings.Repeat("B", 60)), 0o600, nil, []string{"tls.nodes.n1.cert is not a PEM certificate that parses"}},
		{"node key of another node", repl(good, n1Key, n2Key), 0o600, nil, []string{"tls.nodes.n1.key is not the key of tls.nodes.n1.cert"}},
		{"group readable", good, 0o640, nil, []string{"is readable by group or others: run chmod 0600 on it"}},
		{"damaged, previous version kept", good[:300], 0o600, good,
			[]string{"restore the previous version kept at ", ".prev (cp -p ", "a build never makes new secrets for an existing cluster"}},
		{"damaged, previous version damaged too", []byte{}, 0o600, []byte{}, []string{".prev is damaged too"}},
		{"missing, previous version kept", nil, 0, good, []string{"does not exist, but its previous version is kept at ", "to start a new cluster instead, move "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "pg.secrets.yaml")
			if c.body != nil {
				if err := os.WriteFile(path, c.body, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, c.mode); err != nil {
					t.Fatal(err)
				}
			}
			if c.prev != nil {
				if err := os.WriteFile(PrevPath(path), c.prev, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshot(t, dir)
			_, _, err := LoadOrCreate(path, seeded(72), want)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if !strings.HasPrefix(msg, "secrets "+path) {
				t.Errorf("error does not start with the file's name: %s", msg)
			}
			if strings.Contains(msg, "remove") || strings.Contains(msg, "have a new one generated") {
				t.Errorf("error advises removing secrets: %s", msg)
			}
			if m := goTypes.FindString(msg); m != "" {
				t.Errorf("error shows %q, a Go type or YAML tag: %s", m, msg)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Errorf("error is not an *Error: %T", err)
			}
			if c.mode == 0o640 && !errors.Is(err, ErrTooOpen) {
				t.Errorf("error is not ErrTooOpen")
			}
			after := snapshot(t, dir)
			delete(after, filepath.Base(LockPath(path)))
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the directory changed:\nbefore %v\nafter  %v", keysOf(before), keysOf(after))
			}
			for _, v := range []string{n1Key, caKey} {
				if strings.Contains(msg, strings.TrimSpace(v)[40:80]) {
					t.Error("the error shows a key")
				}
			}
		})
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s(%d)", k, len(v)))
	}
	return sorted(out)
}

// TestRefusedPaths: a directory, a missing directory or a dangling link as
// the secrets path is refused before anything is created.
func TestRefusedPaths(t *testing.T) {
	cases := []struct {
		name  string
		setup func(dir string) string
		want  string
	}{
		{"a directory", func(dir string) string {
			p := filepath.Join(dir, "secrets")
			os.Mkdir(p, 0o755)
			return p
		}, "is a directory, not a secrets file: name the secrets file itself, e.g. --secrets "},
		{"a missing directory", func(dir string) string { return filepath.Join(dir, "nope", "s.yaml") }, "its directory "},
		{"a large file", func(dir string) string {
			p := filepath.Join(dir, "big.iso")
			f, _ := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
			f.Truncate(maxSize + 1)
			f.Close()
			return p
		}, "is 16777217 bytes, far more than a secrets file holds"},
		{"a dangling link", func(dir string) string {
			p := filepath.Join(dir, "s.yaml")
			os.Symlink(filepath.Join(dir, "gone.yaml"), p)
			return p
		}, "is a symbolic link to a file that does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := c.setup(dir)
			before := snapshot(t, dir)
			_, _, err := LoadOrCreate(path, seeded(73), want)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if m := goTypes.FindString(err.Error()); m != "" {
				t.Errorf("error shows %q: %v", m, err)
			}
			if after := snapshot(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the directory changed: %v -> %v", keysOf(before), keysOf(after))
			}
			if _, err := Load(path); err == nil {
				t.Error("Load accepted it")
			}
		})
	}
}

// TestOlderFileFilled: a file of the current release (no cluster field) is
// recognised by its CA's name, gains the field (named in the report), keeps
// every password and the CA, and its previous version is kept beside it.
func TestOlderFileFilled(t *testing.T) {
	old := todaysFormat(t, goodFile(t, "pg", 80))
	path := filepath.Join(t.TempDir(), "pg.secrets.yaml")
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	was, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, rep, err := LoadOrCreate(path, seeded(81), want)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Filled) != "[cluster]" || rep.New || len(rep.Issued) != 0 {
		t.Fatalf("report %+v, want cluster filled and nothing else", rep)
	}
	was.Cluster = "pg"
	if fmt.Sprint(*was) != fmt.Sprint(*s) {
		t.Fatal("a password, the CA or a certificate changed")
	}
	now, _ := os.ReadFile(path)
	if !strings.Contains(string(now), "\ncluster: pg\n") {
		t.Fatalf("the file does not name its cluster:\n%s", now[:200])
	}
	prev, err := os.ReadFile(PrevPath(path))
	if err != nil || string(prev) != string(old) {
		t.Fatalf("the previous version is not kept whole at %s: %v", PrevPath(path), err)
	}
	for _, p := range []string{path, PrevPath(path)} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %o", p, fi.Mode().Perm())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Nothing more to fill: a second load writes nothing.
	if _, rep, err := LoadOrCreate(path, seeded(82), want); err != nil || rep.Changed() {
		t.Fatalf("second load: %+v %v", rep, err)
	}
}

// TestEveryTruncationRefusedOrHarmless cuts a good file at every byte: each
// cut is refused, or keeps every password and the CA exactly (a cut between
// two nodes, whose certificates the build reissues, or in the final newline).
func TestEveryTruncationRefusedOrHarmless(t *testing.T) {
	good := goodFile(t, "pg", 90)
	full, _, reason := parse(good)
	if reason != "" {
		t.Fatal(reason)
	}
	accepted := 0
	for i := range len(good) {
		s, _, reason := parse(good[:i])
		if reason != "" {
			continue
		}
		accepted++
		if strings.TrimSpace(s.TLS.CACert) != strings.TrimSpace(full.TLS.CACert) || strings.TrimSpace(s.TLS.CAKey) != strings.TrimSpace(full.TLS.CAKey) || fmt.Sprint(s.Values()[:5]) != fmt.Sprint(full.Values()[:5]) {
			t.Fatalf("cut at %d of %d accepted with other secrets", i, len(good))
		}
		if len(s.TLS.Nodes) == len(full.TLS.Nodes) && i < len(good)-1 {
			t.Fatalf("cut at %d of %d accepted whole", i, len(good))
		}
	}
	t.Logf("%d cuts of %d accepted (between nodes or in the final newline)", accepted, len(good))
}

// TestNodeCertificatesStillIssued: certificates of a well-formed file are
// issued for new nodes, reissued when foreign, dropped for removed nodes,
// and the report names the nodes.
func TestNodeCertificatesStillIssued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pg.secrets.yaml")
	if _, _, err := LoadOrCreate(path, seeded(100), want); err != nil {
		t.Fatal(err)
	}
	w := want
	w.Nodes = append(append([]Identity(nil), want.Nodes[1:]...), Identity{Name: "n4", IPs: []string{"10.0.0.4"}})
	_, rep, err := LoadOrCreate(path, seeded(101), w)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(rep.Issued, rep.Dropped, rep.Filled, rep.New) != "[n4] [n1] [] false" {
		t.Fatalf("report %+v", rep)
	}
}

// TestLockExcludes: a second holder waits for the first and gives up after
// its wait, saying which lock file another build holds.
func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pg.secrets.yaml")
	first, err := Lock(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	_, err = Lock(path, 200*time.Millisecond, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	want := "another build of it is running (it holds " + LockPath(path) + "): waited 200ms; run this build again when that one has finished"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "waiting for another build of "+path) {
		t.Fatalf("logged %q", logged)
	}
	done := make(chan error)
	go func() {
		f, err := Lock(path, 5*time.Second, nil)
		f.Close()
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	first.Close()
	if err := <-done; err != nil {
		t.Fatalf("the lock was not taken once released: %v", err)
	}
	if err := first.Save(&Secrets{}); err == nil {
		t.Fatal("saved after Close")
	}
}

// TestConcurrentCreatesMakeOneCA: many at once on a new file, every one
// gets the same CA, the one in the file.
func TestConcurrentCreatesMakeOneCA(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pg.secrets.yaml")
	var wg sync.WaitGroup
	cas := make([]string, 8)
	for i := range cas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, err := LoadOrCreate(path, seeded(uint64(200+i)), want)
			if err != nil {
				t.Error(err)
				return
			}
			cas[i] = s.TLS.CACert
		}()
	}
	wg.Wait()
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, ca := range cas {
		if ca != s.TLS.CACert {
			t.Errorf("loader %d got a CA the file does not hold", i)
		}
	}
}

// TestStaleTemporariesRemoved: a write interrupted before its rename leaves
// a temporary file holding secrets; the next lock holder removes it.
func TestStaleTemporariesRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pg.secrets.yaml")
	stale := []string{filepath.Join(dir, tempPrefix(path)+"123"), filepath.Join(dir, tempPrefix(PrevPath(path))+"9")}
	keep := filepath.Join(dir, ".other.tmp-1")
	for _, p := range append(stale, keep) {
		if err := os.WriteFile(p, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Lock(path, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("another file's temporary was removed: %v", err)
	}
}

// TestSymlinkWrittenAtItsTarget: a secrets path that is a link stays a link;
// the file it points to is the one changed, with its previous version and
// lock beside it.
func TestSymlinkWrittenAtItsTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(target, todaysFormat(t, goodFile(t, "pg", 110)), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, rep, err := LoadOrCreate(link, seeded(111), want); err != nil || len(rep.Filled) != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
	for _, p := range []string{PrevPath(target), LockPath(target)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestSaveRefusesAFileChangedSinceLoad: what Load read is what Save
// replaces; a file written meanwhile by something that ignores the lock is
// left as it is.
func TestSaveRefusesAFileChangedSinceLoad(t *testing.T) {
	for _, existed := range []bool{false, true} {
		t.Run(fmt.Sprint("existed=", existed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pg.secrets.yaml")
			if existed {
				if err := os.WriteFile(path, todaysFormat(t, goodFile(t, "pg", 120)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Lock(path, time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, rep, err := f.Load(seeded(121), want)
			if err != nil || !rep.Changed() {
				t.Fatalf("%+v %v", rep, err)
			}
			other := goodFile(t, "pg", 122)
			if err := os.WriteFile(path, other, 0o600); err != nil {
				t.Fatal(err)
			}
			err = f.Save(s)
			if err == nil || !strings.Contains(err.Error(), "changed while this build held its lock") {
				t.Fatalf("error %v", err)
			}
			if now, _ := os.ReadFile(path); string(now) != string(other) {
				t.Fatal("the file written meanwhile was replaced")
			}
		})
	}
}
