package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreRefusals: restore.sh stops before touching anything on a
// wrong command line and on a bundle without a backup section, saying why
// (its real runs are the harness's, make e2e-backup).
func TestRestoreRefusals(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.extract(testInput(t, h.dir))
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: restore.sh"},
		{[]string{"--name", "t1", "--latest"}, 1, "choose one of --time, --name, --latest and --rejoin"},
		{[]string{"--latest", "--timeline", "two"}, 1, "--timeline two: a number, current or latest"},
		{[]string{"--rejoin", "--set", "20261204-054401F"}, 1, "belong to a restore, not to --rejoin"},
		{[]string{"--latest", "--dry-run"}, 1, "restore.sh has no --dry-run"},
		{[]string{"--name", "t1", "--yes-destroy-current-state"}, 1, "this bundle has no backup section"},
		{[]string{"--rejoin"}, 1, "this bundle has no backup section"},
	} {
		out, code := h.run("restore.sh", c.args...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("restore.sh %v: exit %d, want %d saying %q:\n%s", c.args, code, c.code, c.want, out)
		}
		// Only the root check (id -u) may have run.
		for _, call := range h.calls() {
			if call != "" && call != "id -u" {
				t.Errorf("restore.sh %v ran %q", c.args, call)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, "var/log/pgha-bundle")); err == nil {
		t.Error("a refused restore.sh wrote its log")
	}
}
