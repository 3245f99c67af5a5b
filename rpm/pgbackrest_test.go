package rpm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// pgbackrest is found by its file list in real (fixture) RPMs, with the
// package's version; a set without it has none; two are an error; the TLS
// gate refuses a release before 2.37 only.
func TestPgBackRestComponent(t *testing.T) {
	key, err := fixture.NewKey("pgbackrest")
	if err != nil {
		t.Fatal(err)
	}
	for _, os := range []string{"el7", "el8", "el9"} {
		t.Run(os, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := fixture.WriteSet(dir, append(fixture.DebianComponents(os, "x86_64"), fixture.PgBackRestPackage(os, "x86_64", "2.45")), key); err != nil {
				t.Fatal(err)
			}
			set, err := rpm.Scan(dir, rpm.ScanOptions{AllowUnsigned: true, OS: os, Arch: "x86_64"})
			if err != nil {
				t.Fatal(err)
			}
			b := set.Components.PgBackRest
			if b == nil {
				t.Fatal("pgbackrest not found")
			}
			if b.Bin != "/usr/bin/pgbackrest" || b.Version != "2.45" || !strings.HasPrefix(b.Package, "pgbackrest-2.45-") {
				t.Errorf("pgbackrest = %+v", *b)
			}
		})
	}

	c, err := rpm.FindComponents([]rpm.Package{pgdg15, patroni, etcd33, haproxy15}, rpm.Preinstalled{})
	if err != nil || c.PgBackRest != nil {
		t.Fatalf("without pgbackrest: %+v, %v", c.PgBackRest, err)
	}
	two := []rpm.Package{pgdg15, patroni, etcd33, haproxy15,
		pkg("pgbackrest-2.45-1PGDG.rhel9.x86_64", "2.45", "/usr/bin/pgbackrest"),
		pkg("pgbackrest-custom-2.50-1.el9.x86_64", "2.50", "/usr/local/bin/pgbackrest")}
	if _, err := rpm.FindComponents(two, rpm.Preinstalled{}); err == nil || !strings.Contains(err.Error(), "pgbackrest") {
		t.Fatalf("two pgbackrest packages: %v", err)
	}
	if err := rpm.NeedPgBackRest(); !strings.Contains(err.Error(), "add the pgbackrest RPM") || errors.Unwrap(err) != nil {
		t.Errorf("NeedPgBackRest: %v", err)
	}

	for _, tt := range []struct {
		version string
		ok      bool
	}{{"2.36", false}, {"2.33", false}, {"2.37", true}, {"2.45", true}, {"2.54.2", true}, {"", true}} {
		err := rpm.PgBackRestComponent{Package: "pgbackrest-" + tt.version, Version: tt.version, Bin: "/usr/bin/pgbackrest"}.CheckTLSRepo()
		if (err == nil) != tt.ok {
			t.Errorf("%q: CheckTLSRepo = %v, want ok %v", tt.version, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "2.37") {
			t.Errorf("%q: %v does not name the release needed", tt.version, err)
		}
	}
}
