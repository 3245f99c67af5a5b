package faults

import (
	"strings"

	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// debianVersionBefore reports whether a Debian package version ("3.0.2-1",
// "1:3.1.0-2") is older than the upstream version than, compared by
// rpm.VersionBefore, the comparator of every version gate. What is not a
// version is older than nothing: the harness never excuses a loss by a bug
// of a version it cannot read.
func debianVersionBefore(v, than string) bool {
	if _, upstream, ok := strings.Cut(v, ":"); ok {
		v = upstream
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	if v == "" || v[0] < '0' || v[0] > '9' {
		return false
	}
	return rpm.VersionBefore(v, than)
}
