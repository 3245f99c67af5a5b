package templates

import (
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// TestRenderRecordsSecretSpans: every file records where the secrets file's
// values landed, and nothing else: patroni.yml its four passwords (not
// password_encryption), haproxy.cfg the stats password, each key file all of
// itself; a secret a spec plants under a key no name marks (a custom
// parameter) is recorded too, and marks the file that holds it secret.
func TestRenderRecordsSecretSpans(t *testing.T) {
	sec := testSecrets(t)
	// The facts hold the stats and REST API credentials, the superuser's
	// password, and each role's SCRAM hash, hidden too.
	factsSecrets := []string{sec.HAProxyStatsPassword, sec.RestAPIPassword, sec.SuperuserPassword}
	for _, r := range [][2]string{{"postgres", sec.SuperuserPassword}, {"replicator", sec.ReplicationPassword}, {"rewind_user", sec.RewindPassword}} {
		v, err := secrets.SCRAMVerifier(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		factsSecrets = append(factsSecrets, v)
	}
	planted := strings.Replace(string(cluster.Example()), "    wal_level: replica\n",
		"    wal_level: replica\n    pgha.blob: \""+sec.ReplicationPassword+"\"\n", 1)
	for _, tt := range []struct {
		name string
		spec []byte
		want map[string][]string // path -> the secret values its spans hold
	}{
		{"example", cluster.Example(), map[string][]string{
			"/etc/patroni/patroni.yml":         {sec.RestAPIPassword, sec.SuperuserPassword, sec.ReplicationPassword, sec.RewindPassword},
			"/etc/haproxy/haproxy.cfg":         {sec.HAProxyStatsPassword},
			"/etc/pgha-bundle/node.facts":      factsSecrets,
			"/etc/pgha-bundle/pki/etcd.key":    {sec.TLS.Nodes["co7-node01"].Key},
			"/etc/pgha-bundle/pki/patroni.key": {sec.TLS.Nodes["co7-node01"].Key},
		}},
		{"planted", []byte(planted), map[string][]string{
			"/etc/patroni/patroni.yml":         {sec.RestAPIPassword, sec.ReplicationPassword, sec.SuperuserPassword, sec.ReplicationPassword, sec.RewindPassword},
			"/etc/patroni/dcs.yml":             {sec.ReplicationPassword},
			"/etc/haproxy/haproxy.cfg":         {sec.HAProxyStatsPassword},
			"/etc/pgha-bundle/node.facts":      factsSecrets,
			"/etc/pgha-bundle/pki/etcd.key":    {sec.TLS.Nodes["co7-node01"].Key},
			"/etc/pgha-bundle/pki/patroni.key": {sec.TLS.Nodes["co7-node01"].Key},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := loadSpec(t, tt.name+".yaml", tt.spec)
			n, err := Render(spec, "co7-node01", el7Components, sec)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range n.Files {
				if err := payload.CheckSpans(f.Spans, len(f.Content)); err != nil {
					t.Errorf("%s: %v", f.Path, err)
				}
				want := tt.want[f.Path]
				if got := f.SecretValues(); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
					t.Errorf("%s: spans hold %d values %.12q, want %d", f.Path, len(got), got, len(want))
				}
				if f.Secret != (len(want) > 0) {
					t.Errorf("%s: secret %v, want %v", f.Path, f.Secret, len(want) > 0)
				}
				if strings.HasSuffix(f.Path, ".key") && !f.SecretWhole() {
					t.Errorf("%s: a private key is not secret whole", f.Path)
				}
				for _, s := range f.Spans {
					if strings.Contains(string(f.Content[s[0]:s[1]]), "password_encryption") {
						t.Errorf("%s: span %v covers password_encryption", f.Path, s)
					}
				}
			}
		})
	}
}
