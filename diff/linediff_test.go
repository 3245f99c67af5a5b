package diff

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// linePairs are texts whose diffs exercise the edges: empty sides, a missing
// final newline, changes at the top and bottom, hunks that merge and split.
var linePairs = []struct{ name, a, b string }{
	{"identical", "a\nb\n", "a\nb\n"},
	{"from empty", "", "a\nb\n"},
	{"to empty", "a\nb\n", ""},
	{"change middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n"},
	{"insert top", "b\nc\n", "a\nb\nc\n"},
	{"delete bottom", "a\nb\nc\n", "a\nb\n"},
	{"no final newline", "a\nb", "a\nb\n"},
	{"no final newline both", "a\nb", "a\nc"},
	{"two hunks", strings.Repeat("x\n", 3) + "a\n" + strings.Repeat("y\n", 10) + "b\n", strings.Repeat("x\n", 3) + "A\n" + strings.Repeat("y\n", 10) + "B\n"},
	{"merged hunks", "a\n1\n2\n3\n4\n5\n6\nb\n", "A\n1\n2\n3\n4\n5\n6\nB\n"},
	{"blank lines", "\n\n\n", "\n\nx\n\n"},
}

func unifiedText(h []Hunk, a, b string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", a, b)
	for _, x := range h {
		sb.WriteString(x.Header + "\n")
		for _, l := range x.Lines {
			sb.WriteString(l + "\n")
		}
	}
	return sb.String()
}

// randomPairs makes texts from a small alphabet so that lines repeat and the
// diff has to choose between many alignments.
func randomPairs(n int) [][2]string {
	r := rand.New(rand.NewSource(1))
	text := func() string {
		var sb strings.Builder
		for i := r.Intn(30); i > 0; i-- {
			sb.WriteString(string(rune('a'+r.Intn(5))) + "\n")
		}
		return sb.String()
	}
	out := make([][2]string, n)
	for i := range out {
		out[i] = [2]string{text(), text()}
	}
	return out
}

// TestUnifiedAppliesWithPatch feeds our unified diffs to patch(1): applied to
// a, each must give exactly b.
func TestUnifiedAppliesWithPatch(t *testing.T) {
	patch := testutil.NeedTool(t, "patch", "patch")
	pairs := randomPairs(40)
	for _, p := range linePairs {
		pairs = append(pairs, [2]string{p.a, p.b})
	}
	dir := t.TempDir()
	for i, p := range pairs {
		a, b := p[0], p[1]
		h := unified(a, b, 3, nil)
		if a == b {
			if len(h) != 0 {
				t.Errorf("pair %d: identical texts gave %d hunks", i, len(h))
			}
			continue
		}
		f := filepath.Join(dir, fmt.Sprintf("f%d", i))
		if err := os.WriteFile(f, []byte(a), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(patch, "--quiet", "--force", "--no-backup-if-mismatch", f)
		cmd.Stdin = strings.NewReader(unifiedText(h, "a", "b"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("pair %d: patch: %v\n%s\n%s", i, err, out, unifiedText(h, "a", "b"))
			continue
		}
		got, _ := os.ReadFile(f)
		if string(got) != b {
			t.Errorf("pair %d: patch gave %q, want %q\n%s", i, got, b, unifiedText(h, "a", "b"))
		}
	}
}

// TestEditsAreMinimal compares the number of changed lines with GNU diff
// --minimal, which also finds a shortest edit script.
func TestEditsAreMinimal(t *testing.T) {
	gnu := testutil.NeedTool(t, "diff", "diffutils")
	dir := t.TempDir()
	for i, p := range randomPairs(40) {
		fa, fb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		os.WriteFile(fa, []byte(p[0]), 0o644)
		os.WriteFile(fb, []byte(p[1]), 0o644)
		out, _ := exec.Command(gnu, "--minimal", "-U0", fa, fb).Output()
		want := 0
		for _, l := range strings.Split(string(out), "\n") {
			if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
				want++
			}
		}
		got := 0
		for _, e := range lineEdits(lines(p[0]), lines(p[1])) {
			if e.Op != opEqual {
				got++
			}
		}
		if got != want {
			t.Errorf("pair %d: %d changed lines, diff --minimal finds %d", i, got, want)
		}
	}
}

func TestUnifiedGolden(t *testing.T) {
	var sb strings.Builder
	for _, p := range linePairs {
		sb.WriteString("=== " + p.name + "\n")
		sb.WriteString(unifiedText(unified(p.a, p.b, 3, nil), "a", "b"))
	}
	testutil.Golden(t, "testdata/unified.golden", []byte(sb.String()))
}
