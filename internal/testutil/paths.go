package testutil

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/layout"
)

// hostPathsInScripts are the only absolute paths a script may write out:
// not paths of the node's layout but of every shell (/dev/tcp is bash's
// own redirection to a TCP port).
var hostPathsInScripts = map[string]bool{"/dev/null": true, "/usr/bin/env": true, "/dev/tcp": true}

var (
	// An on-node path: one under a top directory of the filesystem
	// hierarchy, however it is joined ("$ROOT/etc/…" too).
	reAbsPath = regexp.MustCompile(`(?:/[A-Za-z0-9_.@+-]+)+`)
	topDirs   = map[string]bool{"bin": true, "boot": true, "data": true, "dev": true, "etc": true, "home": true, "lib": true,
		"lib64": true, "media": true, "mnt": true, "opt": true, "proc": true, "root": true, "run": true, "sbin": true,
		"srv": true, "sys": true, "tmp": true, "usr": true, "var": true}
	rePathKey = regexp.MustCompile(`\$\{P\[([a-z_]+)\]`)
)

// ScriptPathProblems lists the absolute paths a script (or a script's
// template) writes out, outside comments, and the path keys (${P[key]}) it
// uses that the layout does not define: every on-node path must come from
// the layout, through the facts or the template's values.
func ScriptPathProblems(name string, src []byte) []string {
	var out []string
	for i, line := range strings.Split(string(src), "\n") {
		code := line
		if t := strings.TrimSpace(code); strings.HasPrefix(t, "#") {
			continue
		}
		if j := strings.Index(code, " # "); j >= 0 {
			code = code[:j]
		}
		for _, p := range reAbsPath.FindAllString(code, -1) {
			top, _, _ := strings.Cut(p[1:], "/")
			if topDirs[top] && !hostPathsInScripts[p] {
				out = append(out, fmt.Sprintf("%s:%d: path %s written out: take it from the layout (${P[key]}, layout.PathKeys, or a template value)", name, i+1, p))
			}
		}
		for _, m := range rePathKey.FindAllStringSubmatch(code, -1) {
			if _, ok := layout.PathKeys[m[1]]; !ok {
				out = append(out, fmt.Sprintf("%s:%d: path key %s is not in layout.PathKeys", name, i+1, m[1]))
			}
		}
	}
	return out
}
