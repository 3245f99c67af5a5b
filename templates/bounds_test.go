package templates

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// withValues rewrites the example spec's "  key: value" lines.
func withValues(t *testing.T, values map[string]string) []byte {
	t.Helper()
	spec := cluster.Example()
	for k, v := range values {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(k) + `: .*$`)
		if !re.Match(spec) {
			t.Fatalf("test setup: the example has no %s", k)
		}
		spec = re.ReplaceAll(spec, []byte("  "+k+": "+v))
	}
	return spec
}

// haproxyCheck renders the first node's haproxy.cfg and runs haproxy -c on
// it, returning haproxy's verdict and output.
func haproxyCheck(t *testing.T, haproxy string, spec *cluster.Spec) (string, error) {
	t.Helper()
	nodes, err := RenderAll(spec, el9Components, testSecrets(t))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := nodes[0].Lookup(haproxyPath)
	ca, _ := nodes[0].Lookup(pki.CA)
	dir := t.TempDir()
	caPath := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caPath, ca.Content, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, bytes.ReplaceAll(f.Content, []byte(pki.CA), []byte(caPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(haproxy, "-c", "-f", cfg).CombinedOutput()
	return string(out), err
}

// TestHAProxyAcceptsBoundaryValues renders haproxy.cfg with the smallest and
// the largest value the spec accepts for every setting HAProxy reads, and
// runs Debian's haproxy -c on it. One step past a limit, validate refuses
// the spec; where haproxy -c checks that limit, the test shows it refuses
// the rendered file too, so the rule is HAProxy's own and not a guess.
func TestHAProxyAcceptsBoundaryValues(t *testing.T) {
	haproxy := testutil.NeedTool(t, "haproxy", "haproxy")
	maxMS := strconv.Itoa(cluster.MaxHAProxyMillis)
	accepted := []struct {
		name   string
		values map[string]string
	}{
		{"minimum", map[string]string{
			"maxconn": "1", "timeout_connect": "1ms", "timeout_client": "1", "timeout_server": "1us", "check_interval": "1ms",
			"haproxy_rw": "1", "haproxy_ro": "2", "haproxy_stats": "3",
			"postgresql": "1024", "patroni_api": "1025", "etcd_client": "1026", "etcd_peer": "1027",
		}},
		{"maximum", map[string]string{
			"maxconn": strconv.Itoa(cluster.MaxHAProxyMaxConn), "timeout_connect": maxMS + "ms", "timeout_client": maxMS,
			"timeout_server": "24d", "check_interval": "2147483s",
			"haproxy_rw": "65535", "haproxy_ro": "65534", "haproxy_stats": "65533",
			"postgresql": "65532", "patroni_api": "65531", "etcd_client": "65530", "etcd_peer": "65529",
		}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			spec := loadSpec(t, tc.name+".yaml", withValues(t, tc.values))
			if out, err := haproxyCheck(t, haproxy, spec); err != nil {
				t.Errorf("haproxy -c refuses values the spec accepts: %v\n%s", err, out)
			}
		})
	}

	refused := []struct {
		name, key, value, haproxySays string
	}{
		{"check interval 0", "check_interval", "0", "invalid value 0 for argument 'inter'"},
		{"check interval 0ms", "check_interval", "0ms", "invalid value 0 for argument 'inter'"},
		{"timeout past 24.8 days", "timeout_connect", "2147483648", "timer overflow"},
		{"timeout 25d", "timeout_server", "25d", "timer overflow"},
		{"check interval past 24.8 days", "check_interval", "2147484s", "timer overflow"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			data := withValues(t, map[string]string{tc.key: tc.value})
			_, ps, err := cluster.Parse("c.yaml", data)
			if err == nil {
				t.Fatalf("validate accepts haproxy.%s %s", tc.key, tc.value)
			}
			t.Logf("validate: %s", ps.Errors())
			// Render it anyway, past validation, to see HAProxy's verdict.
			spec := loadSpec(t, "ok.yaml", cluster.Example())
			h := &spec.HAProxy
			switch tc.key {
			case "check_interval":
				h.CheckInterval = tc.value
			case "timeout_connect":
				h.ConnectTimeout = tc.value
			case "timeout_server":
				h.ServerTimeout = tc.value
			}
			out, err := haproxyCheck(t, haproxy, spec)
			if err == nil || !bytes.Contains([]byte(out), []byte(tc.haproxySays)) {
				t.Errorf("haproxy -c on haproxy.%s %s: %v, want a refusal saying %q\n%s", tc.key, tc.value, err, tc.haproxySays, out)
			}
		})
	}
}
