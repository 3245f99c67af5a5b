package diff

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/payload"
)

func oneFile(label, path string, secret bool, content string) *Side {
	return &Side{Label: label, Kind: KindBuild, Nodes: []Node{{
		Name:  "pg1",
		Files: []payload.File{{Path: path, Mode: 0o600, Owner: "root", Group: "root", Secret: secret, Content: []byte(content)}},
	}}}
}

const pemA = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAAAAAAAAAAAAAAAA
oUQDQgAEBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
-----END PRIVATE KEY-----
`

// TestNoSecretLeaks covers the ways a secret could slip through: under a
// secret key, inside a subtree added whole, copied into a file not marked
// secret, a PEM key, a multi-line string, a cloud-init chpasswd list.
func TestNoSecretLeaks(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		secret  bool
		a, b    string
		secrets []string
		// shown must appear: the change is still visible
		shown string
	}{
		{"password key in an unmarked file", "/etc/x.yml", false,
			"db:\n  password: Old0Secret0Value\n", "db:\n  password: New1Secret1Value\n",
			[]string{"Old0Secret0Value", "New1Secret1Value"}, "db.password: sha256:"},
		{"subtree added with a password", "/etc/patroni/patroni.yml", true,
			"postgresql:\n  authentication: {}\n", "postgresql:\n  authentication:\n    rewind:\n      username: rewind\n      password: Rw9Secret9Rewind\n",
			[]string{"Rw9Secret9Rewind"}, `"username":"rewind"`},
		{"secret copied under a plain key", "/etc/y.yaml", false,
			"auth:\n  token_secret: Cp4Copied4Secret\nnote: x\n", "auth:\n  token_secret: Cp4Copied4Secret\nnote: uses Cp4Copied4Secret\n",
			[]string{"Cp4Copied4Secret"}, "note: "},
		{"secret copied into plain text", "/etc/plain.yml", false,
			"password: Tx7Plain7Secret0\ntext: |\n  line one\n  pw Tx7Plain7Secret0 here\n", "password: Tx7Plain7Secret0\ntext: |\n  line one\n  pw Tx7Plain7Secret0 here!\n",
			[]string{"Tx7Plain7Secret0"}, "[redacted line sha256:"},
		{"haproxy stats auth", "/etc/haproxy/haproxy.cfg", true,
			"listen stats\n    stats auth admin:Hp3Stats3Secret\n", "listen stats\n    stats auth admin:Hp5Stats5Rotate\n",
			[]string{"Hp3Stats3Secret", "Hp5Stats5Rotate"}, "[redacted line sha256:"},
		{"PEM key in a secret file", "/etc/patroni/tls/node.key", true,
			pemA, strings.Replace(pemA, "AAAA", "CCCC", 1),
			[]string{"MIGHAgEAMBMGByqGSM49", "oUQDQgAEBBBB", "AAAAAAAAAAAA", "CCCCAAAA"}, "secret content"},
		{"PEM key in a file not marked secret", "/etc/pgha-bundle/pki/etcd.key", false,
			pemA, strings.Replace(pemA, "AAAA", "CCCC", 1),
			[]string{"MIGHAgEAMBMGByqGSM49", "oUQDQgAEBBBB", "AAAAAAAAAAAA", "CCCCAAAA"}, "secret content"},
		{"cloud-init chpasswd", "seed:user-data", false,
			"#cloud-config\nchpasswd:\n  list:\n    - root:Cl1Chpasswd1Old\n", "#cloud-config\nchpasswd:\n  list:\n    - root:Cl2Chpasswd2New\n",
			[]string{"Cl1Chpasswd1Old", "Cl2Chpasswd2New"}, "chpasswd.list[0]: sha256:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := oneFile("a", tt.path, tt.secret, tt.a)
			b := oneFile("b", tt.path, tt.secret, tt.b)
			res := Compare(a, b)
			if !res.Differ() {
				t.Fatal("the change is not seen")
			}
			var all strings.Builder
			for _, o := range []Options{{}, {Stat: true}, {JSON: true}, {Color: true}} {
				var buf bytes.Buffer
				if err := Write(&buf, &res, o); err != nil {
					t.Fatal(err)
				}
				assertNoSecret(t, buf.String(), tt.secrets)
				all.WriteString(buf.String())
			}
			if !strings.Contains(all.String(), tt.shown) {
				t.Errorf("output lacks %q:\n%s", tt.shown, all.String())
			}
		})
	}
}

func TestIsSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "PASSWORD": true, "passwd": true, "hashed_passwd": true, "chpasswd": true,
		"client_secret": true, "api_token": true, "rsa_private": true,
		"initial-cluster-token": false, "password_encryption": false, "username": false, "ttl": false, "keyfile": false, "auth": false,
	} {
		if got := IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

// TestEtcdTokenShown: etcd's cluster token is not a secret, so its change is
// shown in plain (see notSecretKeys).
func TestEtcdTokenShown(t *testing.T) {
	res := Compare(oneFile("a", "/etc/etcd/etcd.conf.yml", false, "initial-cluster-token: demo\n"),
		oneFile("b", "/etc/etcd/etcd.conf.yml", false, "initial-cluster-token: demo2\n"))
	var buf bytes.Buffer
	Write(&buf, &res, Options{})
	if !strings.Contains(buf.String(), `initial-cluster-token: "demo" → "demo2"`) {
		t.Errorf("token change not shown in plain:\n%s", buf.String())
	}
}

// TestKeyMarkersStayVisible: a private key's base64 lines are secrets, its
// BEGIN/END markers are not, so a certificate beside it prints whole.
func TestKeyMarkersStayVisible(t *testing.T) {
	side := oneFile("a", "/etc/pgha-bundle/pki/etcd.key", true, pemA)
	side.Nodes[0].Files = append(side.Nodes[0].Files, payload.File{Path: "/etc/pgha-bundle/pki/node.crt", Mode: 0o644,
		Content: []byte("-----BEGIN CERTIFICATE-----\nMIIBpjCCAUugAwIBAgIQ\n-----END CERTIFICATE-----\n")})
	line := newRedactor(side).line(false)
	for _, l := range []string{"-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----", "MIIBpjCCAUugAwIBAgIQ"} {
		if got := line(l); got != l {
			t.Errorf("%q printed as %q", l, got)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(pemA), "\n")[1:3] {
		if got := line(l); got == l {
			t.Errorf("key line %q printed", l)
		}
	}
}
