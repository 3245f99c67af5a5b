package bundle

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// scriptFlags reads the flags of one shell `case $1 in ... esac` block that
// starts after marker: each pattern, and whether its branch consumes the next
// argument (shift 2 / return 2).
func scriptFlags(t *testing.T, file, marker string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	must(t, err)
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("%s: no %q", file, marker)
	}
	s = s[i:]
	s = s[strings.Index(s, "case $1 in"):]
	s = s[:strings.Index(s, "\n\tesac")]
	flags := map[string]bool{}
	branch := regexp.MustCompile(`(?m)^\t([-*][^)\n]*)\)(.*)$`)
	for _, m := range branch.FindAllStringSubmatch(s, -1) {
		for _, p := range strings.Split(m[1], " | ") {
			p = strings.TrimSpace(p)
			if p == "*" {
				continue
			}
			flags[p] = strings.Contains(m[2], "return 2") || strings.Contains(m[2], "shift 2")
		}
	}
	return flags
}

// TestInstallFlagsMatchTheScripts keeps InstallFlags equal to what
// install.sh parses: its own flags (own_flag) and lib.sh's common_flag.
func TestInstallFlagsMatchTheScripts(t *testing.T) {
	parsed := scriptFlags(t, "scripts/lib.sh", "common_flag() {")
	for f, v := range scriptFlags(t, "scripts/install.sh", "own_flag() {") {
		parsed[f] = v
	}
	if len(parsed) < 10 {
		t.Fatalf("found only %v in the scripts", parsed)
	}
	// --root=DIR is the inline form of --root; help installs nothing.
	if _, ok := parsed["--root=*"]; !ok {
		t.Error("lib.sh no longer takes --root=DIR: CheckInstallArgs accepts it")
	}
	delete(parsed, "--root=*")
	lib, err := os.ReadFile("scripts/lib.sh")
	must(t, err)
	if !strings.Contains(string(lib), "\t\t-h | --help)\n\t\t\tusage\n\t\t\texit 0\n") {
		t.Error("lib.sh's parse_args no longer takes -h and --help")
	}
	var missing, extra []string
	for f, takesValue := range parsed {
		g, ok := InstallFlags[f]
		switch {
		case !ok:
			missing = append(missing, f)
		case takesValue != (g.Value != ""):
			t.Errorf("%s: install.sh takes a value: %v; InstallFlags says %q", f, takesValue, g.Value)
		}
	}
	for f := range InstallFlags {
		if _, ok := parsed[f]; !ok {
			extra = append(extra, f)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("InstallFlags lacks %v and has %v that install.sh does not take", missing, extra)
	}
}

func TestCheckInstallArgs(t *testing.T) {
	cases := []struct {
		args []string
		want string // substring of the error; "" for none
	}{
		{nil, ""},
		{[]string{"--skip-os-check", "--no-packages", "--timeout-etcd", "180", "--root=/mnt/x", "--pkg-tool", "rpm"}, ""},
		{[]string{"--root", "/mnt/x", "--dry-run"}, ""},
		{[]string{"--skip-os-checks"}, `"--skip-os-checks" is not an install.sh flag`},
		{[]string{"--help"}, `"--help" is not an install.sh flag`},
		{[]string{"--timeout-etcd"}, "--timeout-etcd needs a SECONDS after it"},
		{[]string{"--timeout-etcd=180"}, "--timeout-etcd takes its SECONDS as the next argument: pass --install-arg --timeout-etcd --install-arg 180"},
		{[]string{"--timeout-patroni", "ten"}, `--timeout-patroni "ten": want a whole number of seconds, at least 1`},
		{[]string{"--timeout-haproxy", "0"}, `--timeout-haproxy "0": want a whole number of seconds`},
		{[]string{"--pkg-tool", "apt"}, `--pkg-tool "apt": want yum, dnf or rpm`},
		{[]string{"--force=yes"}, "--force takes no value"},
		{[]string{"--root", "relative"}, `--root "relative": want an absolute directory`},
		{[]string{"--bogus", "--pkg-tool", "zypper"}, `"--bogus" is not an install.sh flag; --pkg-tool "zypper": want yum, dnf or rpm (install.sh takes: --dry-run, --force,`},
	}
	for _, tc := range cases {
		err := CheckInstallArgs(tc.args)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestScriptsParseTheirFlags runs each script's command line through
// lib.sh's parse_args: its own flags and the common ones are taken (a
// value too: --help after it still answers), anything else is refused with
// status 2, and a flag without its value stops the script.
func TestScriptsParseTheirFlags(t *testing.T) {
	scripts, err := Scripts()
	must(t, err)
	dir := t.TempDir()
	for name, b := range scripts {
		must(t, os.WriteFile(filepath.Join(dir, name), b, 0o755))
	}
	tests := []struct {
		script string
		args   []string
		code   int
		say    string // in the output
	}{
		{"install.sh", []string{"--help"}, 0, "--no-packages"},
		{"install.sh", []string{"--no-packages", "--timeout-etcd", "5", "--root", dir, "--dry-run", "-h"}, 0, "usage: install.sh"},
		{"install.sh", []string{"--bogus"}, 2, "usage: install.sh"},
		{"install.sh", []string{"--timeout-etcd"}, 1, ""},
		{"upgrade.sh", []string{"--restart-pending", "--timeout-pending", "5", "--help"}, 0, "--restart-pending"},
		{"upgrade.sh", []string{"--timeout-pending", "5", "6"}, 2, "usage: upgrade.sh"},
		{"uninstall.sh", []string{"--purge", "--yes", "--keep-packages", "--keep-membership", "--help"}, 0, "--keep-membership"},
		{"uninstall.sh", []string{"--no-packages"}, 2, "usage: uninstall.sh"},
		{"restore.sh", []string{"--time", "2026-01-01 00:00:00+00", "--set", "x", "--timeline", "current", "--repo-path", dir, "--no-backup", "--timeout-recovery", "9", "--help"}, 0, "--rejoin"},
		{"restore.sh", []string{"--time"}, 1, "--time needs a time"},
		{"restore.sh", []string{"--latest", "--rejoin"}, 1, "choose one of"},
		{"restore.sh", []string{"--restart-pending"}, 2, "usage: restore.sh"},
	}
	for _, tc := range tests {
		t.Run(tc.script+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			out, code := runCode(t, exec.Command("bash", append([]string{filepath.Join(dir, tc.script)}, tc.args...)...))
			if code != tc.code || !strings.Contains(out, tc.say) {
				t.Errorf("exit %d, want %d, and output with %q:\n%s", code, tc.code, tc.say, out)
			}
		})
	}
}
