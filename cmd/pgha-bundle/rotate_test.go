package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// rotateFixture writes the example spec and its secrets file, as a build
// makes it, in a new directory; it returns the spec's path.
func rotateFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	s, _, err := cluster.Load(spec)
	if err != nil {
		t.Fatal(err)
	}
	var members []secrets.Member
	for _, n := range s.Nodes {
		members = append(members, secrets.Member{Name: n.Name, FQDN: s.FQDN(n), Address: n.Address})
	}
	want := secrets.Want{Cluster: s.Cluster.Name, Nodes: secrets.NodeIdentities(members, false), Now: time.Now()}
	if _, _, err := secrets.LoadOrCreate(filepath.Join(dir, "cluster.secrets.yaml"), secrets.Reader, want); err != nil {
		t.Fatal(err)
	}
	return spec
}

func TestSecretsRotateCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string // lines printed, in order
		stderr  string
		changed []string // keys of the file that change
	}{
		{name: "every password by default", code: exitOK,
			stdout:  []string{"  password superuser", "  password replication", "  password rewind", "  password restapi", "  password haproxy_stats", "next: build"},
			changed: []string{"superuser_password", "replication_password", "rewind_password", "restapi_password", "haproxy_stats_password"}},
		{name: "one password", args: []string{"--password", "replication"}, code: exitOK,
			stdout: []string{"  password replication"}, changed: []string{"replication_password"}},
		{name: "a node certificate", args: []string{"--node-cert", "co7-node02"}, code: exitOK,
			stdout: []string{"  certificate of co7-node02"}, changed: []string{"tls.nodes.co7-node02"}},
		{name: "unknown name", args: []string{"--password", "admin"}, code: exitUsage, stderr: `"admin" is not a secret that can be rotated`},
		{name: "CA refused", args: []string{"--password", "ca"}, code: exitUsage, stderr: "the cluster's CA is never rotated"},
		{name: "unknown node", args: []string{"--node-cert", "nope"}, code: exitUsage, stderr: `the spec has no node "nope"`},
		{name: "absent file", args: []string{"--secrets", "missing.yaml"}, code: exitUsage, stderr: "does not exist: there is nothing to rotate"},
		{name: "damaged file", args: []string{"--secrets", "damaged"}, code: exitUsage, stderr: "lacks replication_password"},
		{name: "argument", args: []string{"superuser"}, code: exitUsage, stderr: "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := rotateFixture(t)
			dir := filepath.Dir(spec)
			path := filepath.Join(dir, "cluster.secrets.yaml")
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			before, err := secrets.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"pgha-bundle", "secrets", "rotate", "-f", spec}, tt.args...)
			for i, a := range args {
				switch a {
				case "missing.yaml":
					args[i] = filepath.Join(dir, a)
				case "damaged":
					args[i] = filepath.Join(dir, "damaged.yaml")
					writeFile(t, args[i], strings.Replace(string(body), "replication_password:", "#", 1))
					if err := os.Chmod(args[i], 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stderr %q does not say %q", errb.String(), tt.stderr)
			}
			rest := out.String()
			for _, l := range tt.stdout {
				i := strings.Index(rest, l)
				if i < 0 {
					t.Errorf("stdout lacks %q in order:\n%s", l, out.String())
					break
				}
				rest = rest[i:]
			}
			for _, v := range before.Values() {
				if strings.Contains(out.String()+errb.String(), v) {
					t.Error("a secret value was printed")
				}
			}
			after, err := secrets.Load(path)
			if err != nil {
				t.Fatalf("the secrets file no longer loads: %v", err)
			}
			for _, v := range after.Values() {
				if strings.Contains(out.String()+errb.String(), v) {
					t.Error("a new secret value was printed")
				}
			}
			if got := changedKeys(before, after); strings.Join(got, ",") != strings.Join(tt.changed, ",") {
				t.Errorf("changed %v, want %v", got, tt.changed)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
			prev, err := os.ReadFile(secrets.PrevPath(path))
			if len(tt.changed) > 0 && (err != nil || !bytes.Equal(prev, body)) {
				t.Errorf("%s does not keep the previous version (%v)", secrets.PrevPath(path), err)
			}
			if len(tt.changed) == 0 && err == nil {
				t.Errorf("a refused rotation wrote %s", secrets.PrevPath(path))
			}
		})
	}
}

// changedKeys names the password keys and node certificates that differ.
func changedKeys(a, b *secrets.Secrets) []string {
	var out []string
	for _, f := range []struct {
		key  string
		x, y string
	}{
		{"superuser_password", a.SuperuserPassword, b.SuperuserPassword},
		{"replication_password", a.ReplicationPassword, b.ReplicationPassword},
		{"rewind_password", a.RewindPassword, b.RewindPassword},
		{"restapi_password", a.RestAPIPassword, b.RestAPIPassword},
		{"haproxy_stats_password", a.HAProxyStatsPassword, b.HAProxyStatsPassword},
		{"tls.ca", a.TLS.CACert + a.TLS.CAKey, b.TLS.CACert + b.TLS.CAKey},
	} {
		if f.x != f.y {
			out = append(out, f.key)
		}
	}
	for n, c := range a.TLS.Nodes {
		if b.TLS.Nodes[n] != c {
			out = append(out, "tls.nodes."+n)
		}
	}
	return out
}
