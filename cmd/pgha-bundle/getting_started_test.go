package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// block is one fenced shell block of a document.
type block struct {
	line int    // of the opening fence
	tags string // after the language: "", "exit=1", "on-node", ...
	text string
}

var fence = regexp.MustCompile("(?ms)^```sh( [^\\n]*)?\\n(.*?)^```\\s*$")

func shellBlocks(doc string) []block {
	var out []block
	for _, m := range fence.FindAllStringSubmatchIndex(doc, -1) {
		b := block{line: strings.Count(doc[:m[0]], "\n") + 1, text: doc[m[4]:m[5]]}
		if m[2] >= 0 {
			b.tags = strings.TrimSpace(doc[m[2]:m[3]])
		}
		out = append(out, b)
	}
	return out
}

// TestGettingStarted runs docs/getting-started.md: every `sh` block, in
// order, in one directory holding the old playbook's inventory and signed
// fixture packages in place of the vendor's, with pgha-bundle on PATH; a
// block marked exit=N must exit N, the others 0. Blocks for a node, the
// hypervisor or a source checkout must parse.
func TestGettingStarted(t *testing.T) {
	doc, err := os.ReadFile("../../docs/getting-started.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(string(doc))
	dir := t.TempDir()
	work, bin := filepath.Join(dir, "work"), filepath.Join(dir, "bin")
	for _, d := range []string{filepath.Join(work, "packages"), bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The inventory, the packages and their key, as section 0 says.
	inv, err := os.ReadFile("../../cluster/testdata/ansible/playbook.ini")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "ansible-hosts"), string(inv))
	key, err := fixture.NewKeyFromSeed("getting started", []byte("getting started"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "RPM-GPG-KEY-vendor"), string(key.ArmoredPublic()))
	if _, err := fixture.WriteSet(filepath.Join(work, "packages"), fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(bin, "pgha-bundle"), "#!/bin/sh\n"+runAsCLI+"=1 exec '"+self+"' \"$@\"\n")
	if err := os.Chmod(filepath.Join(bin, "pgha-bundle"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))

	ran := 0
	for _, b := range blocks {
		want, run := 0, false
		switch {
		case b.tags == "":
			run = true
		case strings.HasPrefix(b.tags, "exit="):
			run = true
			want, _ = strconv.Atoi(strings.TrimPrefix(b.tags, "exit="))
		case b.tags == "on-node" || b.tags == "hypervisor" || b.tags == "try":
		default:
			t.Fatalf("getting-started.md:%d: unknown block tag %q", b.line, b.tags)
		}
		if !run {
			if out, err := exec.Command("bash", "-n", "-c", b.text).CombinedOutput(); err != nil {
				t.Errorf("getting-started.md:%d: the %s block does not parse: %v\n%s", b.line, b.tags, err, out)
			}
			continue
		}
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", b.text)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("getting-started.md:%d: exit %d, want %d:\n%s\n--- output ---\n%s", b.line, code, want, b.text, out)
		}
		ran++
	}
	if ran < 8 {
		t.Errorf("only %d blocks ran: the document lost its commands?", ran)
	}
	for _, p := range []string{"cluster.yaml", "cluster.secrets.yaml", "out/pgcluster/manifest.json",
		"out/pgcluster/seeds/co7-node03.iso", "out/pgcluster/bundles/co7-node01.tar.gz", "out-next/pgcluster/manifest.json"} {
		if _, err := os.Stat(filepath.Join(work, p)); err != nil {
			t.Errorf("after the document's commands: %v", err)
		}
	}
}
