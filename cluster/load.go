package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads the spec at path; see Parse. Relative paths inside the spec
// (packages.dir, packages.keys) are relative to the spec file's directory.
func Load(path string) (*Spec, Problems, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read spec: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes a spec strictly, applies the defaults and validates it,
// returning every problem found (errors and warnings, in document order).
// filename only names the spec in problems and anchors its relative paths.
//
// The spec is nil only when the document is not YAML at all. The error is
// non-nil when the spec has errors: it is then a *SpecError holding them, the
// same as Problems.Err(). When postgresql.major is set, the checks of
// CheckForMajor are included.
func Parse(filename string, data []byte) (*Spec, Problems, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	// "---" or "~" alone is a document whose root is null: as empty as no
	// document at all (and yaml.v3 places that null past the last line).
	if errors.Is(err, io.EOF) || (err == nil && (len(doc.Content) == 0 || isNull(doc.Content[0]))) {
		ps := Problems{{File: filename, Message: msgEmpty}}
		return nil, ps, ps.Err()
	}
	if err != nil {
		ps := Problems{syntaxProblem(filename, err)}
		return nil, ps, ps.Err()
	}
	d := newDecoder(filename)
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.problem("", nodePos(&extra), false, msgMultipleDocuments)
	} else if !errors.Is(err, io.EOF) {
		d.probs = append(d.probs, syntaxProblem(filename, err))
	}

	s := &Spec{file: filename}
	d.decode("", nil, doc.Content[0], reflect.ValueOf(s).Elem())
	s.pos = d.pos
	s.applyDefaults(d.set)
	ps := d.probs
	for _, p := range s.validate(d.set) {
		if !d.failed(p.Path) {
			ps = append(ps, p)
		}
	}
	if s.PostgreSQL.Major > 0 {
		ps = append(ps, s.CheckForMajor(s.PostgreSQL.Major)...)
	}
	ps.Sort()
	return s, ps, ps.Err()
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxProblem turns a yaml.v3 parse error into a Problem.
func syntaxProblem(file string, err error) Problem {
	p := Problem{File: file, Message: fmtSyntax(strings.TrimPrefix(err.Error(), "yaml: "))}
	if m := yamlErrLine.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column = 1
		p.Message = fmtSyntax(m[2])
	}
	return p
}

// File is the spec's file name as given to Load or Parse.
func (s *Spec) File() string { return s.file }

// Path resolves a path written in the spec: absolute paths are kept, relative
// ones are taken from the spec file's directory.
func (s *Spec) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(s.file), p)
}

// ProblemAt makes a problem against a spec path (cluster.name,
// nodes[1].address, postgresql.parameters.wal_keep_segments) at the position
// where it was written, or where its nearest written parent was, so that
// stages after loading (packages, rendering) report in the spec's terms.
func (s *Spec) ProblemAt(path string, warning bool, format string, args ...interface{}) Problem {
	p := Problem{File: s.file, Path: path, Message: fmt.Sprintf(format, args...), Warning: warning}
	for q := path; q != ""; q = parentPath(q) {
		if at, ok := s.pos[q]; ok {
			p.Line, p.Column = at.line, at.col
			break
		}
	}
	if p.Line == 0 && len(s.pos) > 0 {
		p.Line, p.Column = s.pos[""].line, s.pos[""].col
	}
	return p
}

// parentPath strips the last element of a spec path: nodes[1].address ->
// nodes[1] -> nodes -> "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
