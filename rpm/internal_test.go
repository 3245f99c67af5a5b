package rpm

import "testing"

func TestDistTag(t *testing.T) {
	for release, want := range map[string]string{
		"1.el7":                        "el7",
		"15.4-1.el7":                   "el7",
		"1.el8_6":                      "el8",
		"3.el9_2.1":                    "el9",
		"1PGDG.rhel7":                  "el7",
		"2.el7.centos":                 "el7",
		"1.module+el8.4.0+10870+3d1a5": "el8",
		"1":                            "",
		"1.fc38":                       "",
		"1.elephant":                   "",
		"7.elx":                        "",
	} {
		if got := distTag(release); got != want {
			t.Errorf("distTag(%q) = %q, want %q", release, got, want)
		}
	}
}

func TestSatisfied(t *testing.T) {
	cases := []struct {
		req, prov string
		want      bool
	}{
		{"glibc", "glibc = 2.17-326.el7", true},
		{"glibc >= 2.17", "glibc = 2.17-326.el7", true},
		{"glibc >= 2.28", "glibc = 2.17-326.el7", false},
		{"glibc < 2.18", "glibc = 2.17-326.el7", true},
		{"glibc > 2.17", "glibc = 2.17-326.el7", false}, // release ignored when the requirement has none
		{"postgresql15-libs = 15.4-1PGDG.rhel7", "postgresql15-libs = 15.4-1PGDG.rhel7", true},
		{"postgresql15-libs = 15.4-2PGDG.rhel7", "postgresql15-libs = 15.4-1PGDG.rhel7", false},
		{"openssl-libs >= 1:1.0.2", "openssl-libs = 1:1.0.2k-26.el7_9", true},
		{"openssl-libs >= 1:1.0.2", "openssl-libs = 1.1.1k-7.el8", false}, // epoch wins
		{"python3 >= 3.6", "python3", true},                               // unversioned provide
		{"etcd >= 3.10", "etcd = 3.9.1-1", false},                         // numeric segments
	}
	for _, tc := range cases {
		p := ParseCapability(tc.prov)
		if got := satisfied(ParseCapability(tc.req), []Capability{p}); got != tc.want {
			t.Errorf("%q provided by %q: %v, want %v", tc.req, tc.prov, got, tc.want)
		}
	}
	if satisfied(ParseCapability("x"), nil) {
		t.Error("nothing provides x, yet it is satisfied")
	}
}
