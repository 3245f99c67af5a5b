package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

func TestBuildCommand(t *testing.T) {
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "rpms")
	if err := os.Mkdir(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey("cli test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "KEY")
	writeFile(t, keyFile, string(key.ArmoredPublic()))
	if _, err := fixture.WriteSet(pkgs, fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "cluster.yaml")
	writeFile(t, spec, string(cluster.Example()))
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, strings.Replace(strings.Replace(string(cluster.Example()),
		"address: 192.168.0.83", "address: 127.0.0.1", 1), "ttl: 30", "ttl: 25", 1))
	out := filepath.Join(dir, "out")
	// Secrets files the builds below refuse.
	otherCluster := filepath.Join(dir, "other.secrets.yaml")
	if _, _, err := secrets.LoadOrCreate(otherCluster, secrets.Reader, secrets.Want{Cluster: "other", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wrongTypes := filepath.Join(dir, "types.secrets.yaml")
	if err := os.WriteFile(wrongTypes, []byte("superuser_password: [a, b]\ntls: {nodes: [x]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "cut.secrets.yaml")
	if err := os.WriteFile(truncated, []byte("cluster: pgcluster\nsuperuser_password: Abcdefgh"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretsDir := filepath.Join(dir, "secrets-dir")
	if err := os.Mkdir(secretsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	buildWith := func(secretsFile string) []string {
		return []string{"build", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", out, "--secrets", secretsFile}
	}
	refused := "build stopped: the secrets file is refused; it and the previous output are unchanged:\nsecrets "

	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		stderr    []string
		notStderr string
	}{
		{"builds", []string{"build", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", out}, 0,
			[]string{"==> verify packages", "signature verified", "==> node co7-node03", "of 3 nodes in " + filepath.Join(out, "pgcluster")}, nil, ""},
		{"every spec error with its position", []string{"build", "-f", bad, "--packages", pkgs, "--key", keyFile, "--out", out}, 2,
			nil, []string{bad + ":", "127.0.0.1", "loop_wait", "build stopped: 3 spec errors; the previous output is unchanged"}, ""},
		{"wrong key", []string{"build", "-f", spec, "--packages", pkgs, "--key", spec, "--out", out}, 2,
			nil, []string{"build failed; the previous output is unchanged"}, ""},
		{"stray argument", []string{"build", "extra"}, 2, nil, []string{"build takes no arguments"}, ""},
		{"unknown packages media", []string{"build", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", out, "--packages-media", "everywhere"}, 2,
			nil, []string{`--packages-media "everywhere": want per-node (the packages in every bundle and seed) or shared`}, ""},
		{"shared packages media", []string{"build", "-f", spec, "--packages", pkgs, "--key", keyFile, "--out", filepath.Join(dir, "shared"), "--packages-media", "shared"}, 0,
			[]string{"==> packages media PGCLUSTER_PKGS_", "of 3 nodes in " + filepath.Join(dir, "shared", "pgcluster")}, nil, ""},
		{"another cluster's secrets", buildWith(otherCluster), 2, nil,
			[]string{refused + otherCluster + `: belongs to cluster "other" (its cluster field), not to "pgcluster"`, "--secrets"}, ""},
		{"secrets of the wrong types", buildWith(wrongTypes), 2, nil,
			[]string{refused + wrongTypes + ":1: superuser_password must be text, found a list: restore it from your backup"}, "[]string"},
		{"truncated secrets", buildWith(truncated), 2, nil,
			[]string{refused + truncated + ": lacks replication_password", "it is truncated or damaged"}, "generated"},
		{"secrets path is a directory", buildWith(secretsDir), 2, nil,
			[]string{refused + secretsDir + ": is a directory, not a secrets file: name the secrets file itself"}, "chmod"},
		{"diff of a spec without its secrets file", []string{"diff", "--packages", pkgs, "--key", keyFile, "--secrets", filepath.Join(dir, "none.yaml"), spec, spec}, 2, nil,
			[]string{"spec " + spec + ": no secrets file " + filepath.Join(dir, "none.yaml") + ": a spec is previewed with its cluster's secrets file, which only build creates; name it with --secrets, or build the spec once"}, "no such file"},
	}
	hashes := func() map[string]string {
		out := map[string]string{}
		for _, p := range []string{otherCluster, wrongTypes, truncated} {
			b, _ := os.ReadFile(p)
			fi, _ := os.Stat(p)
			out[p] = fmt.Sprintf("%v %x", fi.Mode(), sha256.Sum256(b))
		}
		return out
	}
	before := hashes()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if tc.notStderr != "" && strings.Contains(stderr, tc.notStderr) {
				t.Errorf("stderr holds %q:\n%s", tc.notStderr, stderr)
			}
		})
	}
	if after := hashes(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused secrets file changed:\n%v\n%v", before, after)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.yaml")); err == nil {
		t.Error("diff created a secrets file")
	}
	if _, err := os.Stat(filepath.Join(out, "pgcluster", "manifest.json")); err != nil {
		t.Fatalf("the good build's output is gone after failed builds: %v", err)
	}
}
