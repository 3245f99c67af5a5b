package cloudinit

import (
	"errors"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	cases := []struct {
		name, os, userData string
		// wantInErr lists what the message must name; empty means valid.
		wantInErr []string
	}{
		{"plain el7", "el7", "#cloud-config\nhostname: a\nruncmd: [[ls]]\n", nil},
		{"write_files el7", "el7", "#cloud-config\nwrite_files:\n- path: /a\n  content: x\n  owner: root:root\n  permissions: '0600'\n  encoding: b64\n", nil},
		{"defer on el7", "el7", "#cloud-config\nwrite_files:\n- path: /a\n  defer: true\n", []string{"write_files[0].defer", "18.5", "el7"}},
		{"append on el7", "el7", "#cloud-config\nwrite_files:\n- path: /a\n- path: /b\n  append: true\n", []string{"write_files[1].append"}},
		{"defer on el9", "el9", "#cloud-config\nwrite_files:\n- path: /a\n  defer: true\n", nil},
		{"defer on el8", "el8", "#cloud-config\nwrite_files:\n- path: /a\n  defer: true\n  append: true\n", nil},
		{"unknown top-level", "el9", "#cloud-config\npackage_update: true\nhostname: a\n", []string{"package_update"}},
		{"prefer_fqdn on el7", "el7", "#cloud-config\nprefer_fqdn_over_hostname: true\n", []string{"prefer_fqdn_over_hostname"}},
		{"password in users", "el8", "#cloud-config\nusers:\n- default\n- name: a\n  passwd: $6$x\n", []string{"users[1].passwd"}},
		{"ntp key", "el7", "#cloud-config\nntp:\n  servers: [a]\n  peers: [b]\n", []string{"ntp.peers"}},
		{"every problem at once", "el7", "#cloud-config\nchpasswd: {}\nwrite_files:\n- path: /a\n  defer: true\n", []string{"chpasswd", "write_files[0].defer"}},
		{"write_files not a list", "el7", "#cloud-config\nwrite_files: {path: /a}\n", []string{"write_files is not a list"}},
		{"no header", "el7", "hostname: a\n", []string{"#cloud-config"}},
		{"unknown os", "el6", "#cloud-config\n", []string{"el6"}},
		{"not yaml", "el7", "#cloud-config\n: : [\n", []string{"lint user-data"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Lint(c.os, []byte(c.userData))
			if len(c.wantInErr) == 0 {
				if err != nil {
					t.Fatalf("Lint: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Lint accepted it")
			}
			for _, w := range c.wantInErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestLintSentinel checks key problems wrap ErrLint, so callers can tell
// them from unreadable input.
func TestLintSentinel(t *testing.T) {
	err := Lint("el7", []byte("#cloud-config\nwrite_files:\n- path: /a\n  defer: true\n"))
	if !errors.Is(err, ErrLint) {
		t.Fatalf("%v does not wrap ErrLint", err)
	}
}

// TestRenderedUserDataPassesLint checks every variant Render produces lints
// clean for its own target and that el7 output would also pass el8/el9.
func TestRenderedUserDataPassesLint(t *testing.T) {
	for name, in := range variants(t) {
		s := mustRender(t, in)
		for _, os := range []string{"el7", "el8", "el9"} {
			if err := Lint(os, s.UserData); err != nil {
				t.Errorf("%s on %s: %v", name, os, err)
			}
		}
	}
}
