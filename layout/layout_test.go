package layout

import (
	"path"
	"testing"
)

// TestPathsAreCleanAndNamed: every payload path is absolute, clean, appears
// once, and the scripts can find it by a path key.
func TestPathsAreCleanAndNamed(t *testing.T) {
	byValue := map[string]string{}
	for k, v := range PathKeys {
		if !path.IsAbs(v) || path.Clean(v) != v {
			t.Errorf("path key %s: %q is not absolute and clean", k, v)
		}
		if o, dup := byValue[v]; dup {
			t.Errorf("path keys %s and %s both name %s", k, o, v)
		}
		byValue[v] = k
	}
	seen := map[string]bool{}
	for _, f := range append(append([]File(nil), Files...), WatchdogFiles...) {
		if seen[f.Path] {
			t.Errorf("%s appears twice in the layout", f.Path)
		}
		seen[f.Path] = true
		if f.Mode&^0o777 != 0 || f.Owner == "" || f.Group == "" {
			t.Errorf("%s: mode %o owner %q group %q", f.Path, f.Mode, f.Owner, f.Group)
		}
		if _, ok := FileOf(f.Path); !ok {
			t.Errorf("FileOf(%s) finds nothing", f.Path)
		}
	}
	for _, p := range []string{PatroniConfig, DCSConfig, EtcdConfig, HAProxyConfig, EtcdUnit, PatroniUnit, HAProxyUnit, HostsBlock, CA, Cert, EtcdKey, PatroniKey} {
		if byValue[p] == "" {
			t.Errorf("%s has no path key: the scripts cannot name it", p)
		}
	}
	if _, ok := FileOf("/etc/nowhere"); ok {
		t.Error("FileOf found a path the layout does not hold")
	}
}
