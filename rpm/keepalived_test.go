package rpm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// keepalived is found by its file list in real (fixture) RPMs of each
// target, its version decides whether --config-test exists, and a set
// without it has none.
func TestKeepalivedComponent(t *testing.T) {
	key, err := fixture.NewKey("keepalived")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		os, version string
		configTest  bool
	}{
		{"el7", "1.3.5", false},
		{"el8", "2.1.5", true},
		{"el9", "2.2.8", true},
	} {
		t.Run(tt.os, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := fixture.WriteSet(dir, append(fixture.DebianComponents(tt.os, "x86_64"), fixture.KeepalivedPackage(tt.os, "x86_64")), key); err != nil {
				t.Fatal(err)
			}
			set, err := rpm.Scan(dir, rpm.ScanOptions{AllowUnsigned: true, OS: tt.os, Arch: "x86_64"})
			if err != nil {
				t.Fatal(err)
			}
			k := set.Components.Keepalived
			if k == nil {
				t.Fatal("keepalived not found")
			}
			if k.Bin != "/usr/sbin/keepalived" || k.Version != tt.version || !strings.HasPrefix(k.Package, "keepalived-"+tt.version) {
				t.Errorf("keepalived = %+v", *k)
			}
			if k.ConfigTest() != tt.configTest {
				t.Errorf("ConfigTest = %v", k.ConfigTest())
			}
		})
	}

	c, err := rpm.FindComponents([]rpm.Package{pgdg15, patroni, etcd33, haproxy15}, rpm.Preinstalled{})
	if err != nil || c.Keepalived != nil {
		t.Fatalf("without keepalived: %+v, %v", c.Keepalived, err)
	}
	two := []rpm.Package{pgdg15, patroni, etcd33, haproxy15,
		pkg("keepalived-2.2.8-3.el9.x86_64", "2.2.8", "/usr/sbin/keepalived"),
		pkg("keepalived-custom-2.3.1-1.el9.x86_64", "2.3.1", "/usr/sbin/keepalived")}
	if _, err := rpm.FindComponents(two, rpm.Preinstalled{}); err == nil || !strings.Contains(err.Error(), "keepalived") {
		t.Fatalf("two keepalived packages: %v", err)
	}
	if err := rpm.NeedKeepalived("el7"); !strings.Contains(err.Error(), "1.3") || errors.Unwrap(err) != nil {
		t.Errorf("NeedKeepalived: %v", err)
	}
}
