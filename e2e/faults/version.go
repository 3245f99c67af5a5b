package faults

import (
	"strconv"
	"strings"
)

// versionBefore reports whether a Debian version ("3.0.2-1", "1:3.1.0-2")
// is older than major.minor.patch.
func versionBefore(v string, major, minor, patch int) bool {
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	v, _, _ = strings.Cut(v, "-")
	want := []int{major, minor, patch}
	for i, f := range strings.SplitN(v, ".", 3) {
		n, err := strconv.Atoi(strings.TrimRightFunc(f, func(r rune) bool { return r < '0' || r > '9' }))
		if err != nil {
			return false
		}
		if n != want[i] {
			return n < want[i]
		}
	}
	return false
}
