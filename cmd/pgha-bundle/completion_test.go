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

// TestFishCompletes asks fish itself (complete -C) what it completes with
// the generated script loaded.
func TestFishCompletes(t *testing.T) {
	fish := testutil.NeedTool(t, "fish", "fish")
	_, script, _ := runCLI(t, "completion", "fish")
	p := filepath.Join(t.TempDir(), "pgha-bundle.fish")
	writeFile(t, p, script)
	for line, want := range map[string]string{
		"pgha-bundle va":          "validate\t",
		"pgha-bundle build --fo":  "--format\t",
		"pgha-bundle plan --pack": "--packages\t",
		"pgha-bundle comp":        "completion\t",
	} {
		out, err := exec.Command(fish, "--no-config", "-c", "source "+p+"; complete -C '"+line+"'").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), want) {
			t.Errorf("fish %q<Tab>: %v\n%s", line, err, out)
		}
	}
}

// TestZshDispatch runs the zsh completion function with zsh's completion
// helpers replaced by ones that print their arguments: each command gets
// its own flags and the choices of its flags.
func TestZshDispatch(t *testing.T) {
	zsh := testutil.NeedTool(t, "zsh", "zsh")
	_, script, _ := runCLI(t, "completion", "zsh")
	p := filepath.Join(t.TempDir(), "_pgha-bundle")
	writeFile(t, p, script)
	run := func(words string, current int) string {
		prog := `_describe() { print -r -- "describe $*" }; _arguments() { print -rl -- arguments "$@" }; compdef() { : }
source ` + p + `; words=(` + words + `); CURRENT=` + strconv.Itoa(current) + `; _pgha_bundle`
		out, err := exec.Command(zsh, "-f", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("zsh: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run("pgha-bundle va", 2); !strings.HasPrefix(out, "describe -t commands") {
		t.Errorf("command position: %s", out)
	}
	out := run("pgha-bundle build --fo", 3)
	for _, want := range []string{"--format[output FORMAT\\: text or json", ":format:(text json)", "(--file -f)-f[the cluster spec FILE", ":file:_files", "--out[output DIR", ":out:_directories"} {
		if !strings.Contains(out, want) {
			t.Errorf("zsh build completion lacks %q:\n%s", want, out)
		}
	}
	if out := run("pgha-bundle verify --os ", 3); !strings.Contains(out, "--os[target OS (el7, el8, el9)") || !strings.Contains(out, ":os:(el7 el8 el9)") {
		t.Errorf("zsh verify --os:\n%s", out)
	}
	if out := run("pgha-bundle completion ", 3); !strings.Contains(out, "1:shell:(bash zsh fish)") {
		t.Errorf("zsh completion's argument:\n%s", out)
	}
}
