package cluster

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong (or, for a warning, doubtful) in a spec, with
// where it was written.
type Problem struct {
	// File is the spec's file name as given to Load or Parse.
	File string
	// Line and Column are 1-based; 0 when the problem has no position (an
	// empty spec).
	Line, Column int
	// Path names the spec element, e.g. nodes[2].address; empty for the
	// whole document.
	Path string
	// Message is lowercase and says what to do.
	Message string
	// Warning marks a problem that does not stop a build (unless --strict).
	Warning bool
}

// String formats the problem as FILE:LINE:COL: message, with a "warning: "
// prefix for warnings, the form editors and CI logs jump to.
func (p Problem) String() string {
	var b strings.Builder
	if p.Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a spec, in document order.
type Problems []Problem

// Errors returns the problems that are not warnings.
func (ps Problems) Errors() Problems { return ps.filter(false) }

// Warnings returns the warnings.
func (ps Problems) Warnings() Problems { return ps.filter(true) }

func (ps Problems) filter(warning bool) Problems {
	var out Problems
	for _, p := range ps {
		if p.Warning == warning {
			out = append(out, p)
		}
	}
	return out
}

// Err returns nil when there are no errors (warnings alone are not an error),
// otherwise an error whose text lists every error, one per line.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &SpecError{Problems: errs}
}

// Sort orders the problems by position, keeping the order of problems found
// at the same place.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}

// String formats every problem, one per line.
func (ps Problems) String() string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// SpecError is the error of a spec with errors; it carries them all.
type SpecError struct {
	Problems Problems
}

func (e *SpecError) Error() string {
	return strings.TrimSuffix(e.Problems.String(), "\n")
}
