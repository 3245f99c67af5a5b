package diff

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/payload"
)

// file is a payload file whose spans are found as the renderer finds them:
// every place one of secrets landed. A file holding one is secret.
func file(path string, content string, secrets ...string) payload.File {
	f := payload.File{Path: path, Mode: 0o600, Owner: "root", Group: "root", Content: []byte(content)}
	if f.Spans = payload.FindSecrets(f.Content, secrets); len(f.Spans) > 0 {
		f.Secret = true
	}
	return f
}

func sideOf(label string, files ...payload.File) *Side {
	n := Node{Name: "pg1"}
	for _, f := range files {
		if name, ok := strings.CutPrefix(f.Path, seedPrefix); ok {
			f.Path = name
			n.Seed, n.HasSeed = append(n.Seed, f), true
			continue
		}
		n.Files = append(n.Files, f)
	}
	return &Side{Label: label, Kind: KindBuild, Nodes: []Node{n}}
}

const pemA = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAAAAAAAAAAAAAAAA
oUQDQgAEBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
-----END PRIVATE KEY-----
`

var pemC = strings.Replace(pemA, "AAAA", "CCCC", 1)

// diffText writes res in every form, joined.
func diffText(t *testing.T, res Result) string {
	t.Helper()
	var all strings.Builder
	for _, o := range []Options{{}, {Stat: true}, {JSON: true}, {Color: true}} {
		var buf bytes.Buffer
		if err := Write(&buf, &res, o); err != nil {
			t.Fatal(err)
		}
		all.WriteString(buf.String())
	}
	return all.String()
}

// TestNoSecretLeaks covers the ways a secret could slip through: under a key
// no name marks, inside a subtree added whole, copied into a file that holds
// no span of its own, a multi-line string, a PEM key, a seed file.
func TestNoSecretLeaks(t *testing.T) {
	tests := []struct {
		name    string
		a, b    []payload.File
		secrets []string // never in the output
		shown   []string // in the output: the change is still visible
	}{
		{"secret under an unusual key",
			[]payload.File{file("/etc/x.yml", "db:\n  blob: Old0Secret0Value\n", "Old0Secret0Value")},
			[]payload.File{file("/etc/x.yml", "db:\n  blob: New1Secret1Value\n", "New1Secret1Value")},
			[]string{"Old0Secret0Value", "New1Secret1Value"},
			[]string{"db.blob: sha256:", "1 key (1 secret)"}},
		{"subtree added with a secret",
			[]payload.File{file("/etc/patroni/patroni.yml", "postgresql:\n  authentication: {}\n")},
			[]payload.File{file("/etc/patroni/patroni.yml", "postgresql:\n  authentication:\n    rewind:\n      username: rewind\n      password: Rw9Secret9Rewind\n", "Rw9Secret9Rewind")},
			[]string{"Rw9Secret9Rewind"},
			[]string{`"username":"rewind"`, `"password":"[redacted sha256:`}},
		{"secret inside a longer value",
			[]payload.File{file("/etc/y.yaml", "restore: cp --pw=Cp4Copied4Secret %f\n", "Cp4Copied4Secret")},
			[]payload.File{file("/etc/y.yaml", "restore: cp --pw=Cp4Copied4Secret %f %p\n", "Cp4Copied4Secret")},
			[]string{"Cp4Copied4Secret"},
			[]string{`"cp --pw=[redacted sha256:`, `%f %p"`}},
		{"secret copied into a multi-line string",
			[]payload.File{file("/etc/plain.yml", "pw: Tx7Plain7Secret0\ntext: |\n  line one\n  pw Tx7Plain7Secret0 here\n", "Tx7Plain7Secret0")},
			[]payload.File{file("/etc/plain.yml", "pw: Tx7Plain7Secret0\ntext: |\n  line one\n  pw Tx7Plain7Secret0 here!\n", "Tx7Plain7Secret0")},
			[]string{"Tx7Plain7Secret0"},
			[]string{"+pw [redacted sha256:", "here!"}},
		{"haproxy stats auth",
			[]payload.File{file("/etc/haproxy/haproxy.cfg", "listen stats\n    stats auth admin:Hp3Stats3Secret\n", "Hp3Stats3Secret")},
			[]payload.File{file("/etc/haproxy/haproxy.cfg", "listen stats\n    stats auth admin:Hp5Stats5Rotate\n", "Hp5Stats5Rotate")},
			[]string{"Hp3Stats3Secret", "Hp5Stats5Rotate"},
			[]string{"-    stats auth admin:[redacted sha256:", "+    stats auth admin:[redacted sha256:"}},
		{"PEM key, one span over all of it",
			[]payload.File{file("/etc/pgha-bundle/pki/etcd.key", pemA, pemA)},
			[]payload.File{file("/etc/pgha-bundle/pki/etcd.key", pemC, pemC)},
			[]string{"MIGHAgEAMBMGByqGSM49", "oUQDQgAEBBBB", "AAAAAAAAAAAA", "CCCCAAAA"},
			[]string{"secret content"}},
		{"secret copied into a seed file",
			[]payload.File{file("/etc/x.yml", "blob: Sd1Seed1Secret00\n", "Sd1Seed1Secret00"), file("seed:user-data", "#cloud-config\nbootcmd:\n  - echo x\n")},
			[]payload.File{file("/etc/x.yml", "blob: Sd1Seed1Secret00\n", "Sd1Seed1Secret00"), file("seed:user-data", "#cloud-config\nbootcmd:\n  - echo Sd1Seed1Secret00\n")},
			[]string{"Sd1Seed1Secret00"},
			[]string{"bootcmd[0]: "}},
		{"secret file of an older build, no spans",
			[]payload.File{{Path: "/etc/haproxy/haproxy.cfg", Mode: 0o640, Secret: true, Content: []byte("stats auth admin:Ol1Older1Build00\n")}},
			[]payload.File{{Path: "/etc/haproxy/haproxy.cfg", Mode: 0o640, Secret: true, Content: []byte("stats auth admin:Ol2Older2Build00\n")}},
			[]string{"Ol1Older1Build00", "Ol2Older2Build00"},
			[]string{"secret content", "note: a: secret files without recorded secret spans", "note: b: secret files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Compare(sideOf("a", tt.a...), sideOf("b", tt.b...))
			if !res.Differ() {
				t.Fatal("the change is not seen")
			}
			out := diffText(t, res)
			assertNoSecret(t, out, tt.secrets)
			for _, s := range tt.shown {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
		})
	}
}

// TestRedactionFollowsSpans: what is hidden is what the model marks, and
// nothing else. A secret under a key named "blob" is hidden; lines that only
// mention a password (a hash algorithm, a comment, a cloud-init flag) are
// shown, in diff and in inspect. Without the spans, the same secret shows:
// the spans, not the key names, are what hides it.
func TestRedactionFollowsSpans(t *testing.T) {
	const (
		oldPW = "Bl0bSecretValue0ld"
		newPW = "Bl0bSecretValueNew"
	)
	yml := func(pw, enc, comment string) string {
		return "# " + comment + "\npostgresql:\n  parameters:\n    password_encryption: " + enc +
			"\n    blob: \"" + pw + "\"\nusers:\n  - lock_passwd: true\n"
	}
	a := sideOf("a", file("/etc/patroni/patroni.yml", yml(oldPW, "md5", "passwords live in the secrets file"), oldPW))
	b := sideOf("b", file("/etc/patroni/patroni.yml", yml(newPW, "scram-sha-256", "password: see the secrets file"), newPW))

	out := diffText(t, Compare(a, b))
	assertNoSecret(t, out, []string{oldPW, newPW})
	for _, s := range []string{
		`postgresql.parameters.blob: sha256:`,
		`postgresql.parameters.password_encryption: "md5" → "scram-sha-256"`,
		"2 keys (1 secret)",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("diff lacks %q:\n%s", s, out)
		}
	}

	f := b.Nodes[0].Files[0]
	got, note := RedactFile(b, f)
	if note != "" {
		t.Errorf("note %q for a file with spans", note)
	}
	assertNoSecret(t, string(got), []string{newPW})
	for _, s := range []string{
		"# password: see the secrets file\n",
		"    password_encryption: scram-sha-256\n",
		`    blob: "[redacted ` + ShortHash([]byte(newPW)) + `]"` + "\n",
		"  - lock_passwd: true\n",
	} {
		if !strings.Contains(string(got), s) {
			t.Errorf("inspect lacks %q:\n%s", s, got)
		}
	}

	// The control: the same files without the model's spans show the secret.
	bare := func(s *Side) *Side {
		c := *s
		c.Nodes = []Node{{Name: "pg1", Files: []payload.File{s.Nodes[0].Files[0]}}}
		c.Nodes[0].Files[0].Spans, c.Nodes[0].Files[0].Secret = nil, false
		return &c
	}
	if out := diffText(t, Compare(bare(a), bare(b))); !strings.Contains(out, newPW) {
		t.Error("without spans the secret is hidden all the same: redaction is not driven by the spans")
	}
	if got, _ := RedactFile(bare(b), bare(b).Nodes[0].Files[0]); !strings.Contains(string(got), newPW) {
		t.Error("without spans inspect hides the secret all the same: redaction is not driven by the spans")
	}
}

// TestRedactFileWhole: a private key is printed as one marker; a secret file
// without spans (an older build) too, with a note that says why; the
// certificate beside the key prints whole.
func TestRedactFileWhole(t *testing.T) {
	key := file("/etc/pgha-bundle/pki/etcd.key", pemA, pemA)
	crt := file("/etc/pgha-bundle/pki/node.crt", "-----BEGIN CERTIFICATE-----\nMIIBpjCCAUugAwIBAgIQ\n-----END CERTIFICATE-----\n", pemA)
	old := payload.File{Path: "/etc/haproxy/haproxy.cfg", Secret: true, Content: []byte("global\n    stats auth admin:Ol1Older1Build00\n")}
	side := sideOf("out/demo", key, crt, old)

	got, note := RedactFile(side, key)
	if want := "[redacted " + ShortHash([]byte(pemA)) + "]\n"; string(got) != want || note != "" {
		t.Errorf("key printed as %q, note %q; want %q and no note", got, note, want)
	}
	if got, _ := RedactFile(side, crt); string(got) != string(crt.Content) {
		t.Errorf("certificate printed as %q", got)
	}
	got, note = RedactFile(side, old)
	if strings.Contains(string(got), "Ol1Older1Build00") || strings.Contains(string(got), "global") {
		t.Errorf("a secret file without spans printed as %q, want it whole redacted", got)
	}
	if !strings.Contains(note, "out/demo: secret files without recorded secret spans") {
		t.Errorf("note %q", note)
	}
}

// TestEtcdTokenShown: etcd's cluster token is no secret of the model, so
// its change is shown in plain.
func TestEtcdTokenShown(t *testing.T) {
	res := Compare(sideOf("a", file("/etc/etcd/etcd.conf.yml", "initial-cluster-token: demo\n")),
		sideOf("b", file("/etc/etcd/etcd.conf.yml", "initial-cluster-token: demo2\n")))
	var buf bytes.Buffer
	Write(&buf, &res, Options{})
	if !strings.Contains(buf.String(), `initial-cluster-token: "demo" → "demo2"`) {
		t.Errorf("token change not shown in plain:\n%s", buf.String())
	}
}
