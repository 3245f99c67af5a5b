package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// connect prints the spec's connection strings; a bad spec gives its
// problems and exit 2.
func TestConnectCommand(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "c.yaml")
	writeFile(t, spec, string(cluster.Example()))
	code, out, errOut := runCLI(t, "connect", "-f", spec)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	want := "read-write postgresql://192.168.0.81:5432,192.168.0.82:5432,192.168.0.83:5432/postgres?target_session_attrs=read-write&connect_timeout=3\n"
	if !strings.Contains(out, want) || !strings.Contains(out, "\nread-only postgresql://192.168.0.81:5001,") {
		t.Errorf("output:\n%s", out)
	}
	writeFile(t, spec, string(cluster.Example())+"vip:\n  address: 192.168.0.300\n")
	code, _, errOut = runCLI(t, "connect", "-f", spec)
	if code != exitUsage || !strings.Contains(errOut, `vip.address "192.168.0.300" is not a valid IPv4 address`) {
		t.Errorf("bad spec: exit %d\n%s", code, errOut)
	}
}
