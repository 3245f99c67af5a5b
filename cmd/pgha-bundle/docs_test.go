package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/cli.md documents the exit codes the CLI returns: the table's rows
// are the constants, and the help points to the page.
func TestExitCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (\S+) \| (.*) \|$`).FindAllStringSubmatch(string(doc), -1)
	got := map[string]string{}
	for _, r := range rows {
		got[r[1]] = r[2]
	}
	for code, words := range map[int]string{exitOK: "success", exitFailed: "found a difference or a failure", exitUsage: "bad usage", exitInternal: "a bug in pgha-bundle"} {
		if !strings.Contains(got[strconv.Itoa(code)], words) {
			t.Errorf("docs/cli.md: exit code %d is not documented as %q (rows: %v)", code, words, got)
		}
	}
	if _, ok := got["128+N"]; !ok {
		t.Error("docs/cli.md: the signal exit codes are not documented")
	}
	_, out, _ := runCLI(t, "--help")
	if !strings.Contains(out, "docs/cli.md") {
		t.Error("pgha-bundle --help does not point to docs/cli.md")
	}
}
