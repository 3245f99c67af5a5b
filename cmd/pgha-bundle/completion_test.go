package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// TestCompletionAndManGolden snapshots what `completion` and `man` print,
// and has each shell parse its script.
func TestCompletionAndManGolden(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args   []string
		golden string
		check  []string // a command that must accept the file, and its Debian package
	}{
		{[]string{"completion", "bash"}, "pgha-bundle.bash", []string{"bash", "bash", "-n"}},
		{[]string{"completion", "zsh"}, "_pgha-bundle", []string{"zsh", "zsh", "-n"}},
		{[]string{"completion", "fish"}, "pgha-bundle.fish", []string{"fish", "fish", "--no-execute"}},
		{[]string{"man"}, "pgha-bundle.1", nil},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != 0 || errOut != "" || len(out) < 1000 {
				t.Fatalf("%v: exit %d, stderr %q, %d bytes", tc.args, code, errOut, len(out))
			}
			testutil.Golden(t, filepath.Join("testdata", "completion", tc.golden), []byte(out))
			if tc.check == nil {
				return
			}
			sh := testutil.NeedTool(t, tc.check[0], tc.check[1])
			p := filepath.Join(dir, tc.golden)
			writeFile(t, p, out)
			if b, err := exec.Command(sh, tc.check[2], p).CombinedOutput(); err != nil {
				t.Errorf("%s %s refuses the script: %v\n%s", sh, tc.check[2], err, b)
			}
		})
	}
	// The man page is roff: every command is a section.
	_, man, _ := runCLI(t, "man")
	for _, c := range visible(newApp(nil, nil)) { // the commands as defined
		if !strings.Contains(man, "\n.SH "+c.Name+"\n") {
			t.Errorf("the man page has no section for %s", c.Name)
		}
	}
	if code, _, errOut := runCLI(t, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, "want bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d, %s", code, errOut)
	}
}

// TestBashCompletes runs the bash script as bash does on <Tab>: with
// COMP_WORDS and COMP_CWORD set, and reads COMPREPLY.
func TestBashCompletes(t *testing.T) {
	bash := testutil.NeedTool(t, "bash", "bash")
	_, script, _ := runCLI(t, "completion", "bash")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "prod.yaml"), "")
	writeFile(t, filepath.Join(dir, "pkg.rpm"), "")
	if err := os.Mkdir(filepath.Join(dir, "rpms"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "c.bash"), script)
	tests := []struct {
		line string // the words typed; the last one is completed
		want string // COMPREPLY, sorted, space-separated
	}{
		{"pgha-bundle va", "validate"},
		{"pgha-bundle ve", "verify version"},
		{"pgha-bundle help i", "init inspect"},
		{"pgha-bundle build --fo", "--format"},
		{"pgha-bundle build --format ", "json text"},
		{"pgha-bundle verify --os e", "el7 el8 el9"},
		{"pgha-bundle init --network ", "dhcp static"},
		{"pgha-bundle diff --color a", "always auto"},
		{"pgha-bundle completion ", "bash fish zsh"},
		{"pgha-bundle build -f pr", "prod.yaml"},
		{"pgha-bundle build --packages ", "rpms"},
		{"pgha-bundle verify --key K pk", "pkg.rpm"},
		{"pgha-bundle init --nodes ", "3 5 7"},
		{"pgha-bundle validate --major ", ""},
		{"pgha-bundle validate --st", "--strict"},
	}
	for _, tc := range tests {
		words := strings.Split(tc.line, " ")
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		prog := "source ./c.bash\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" + itoa(len(words)-1) +
			"\n_pgha_bundle\nprintf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tc.line, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%q<Tab>: got %q, want %q", tc.line, got, tc.want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
