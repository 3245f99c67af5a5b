package diff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/payload"
)

// ShortHash is how a secret is shown: "sha256:" and the first 8 hex digits of
// the sha256 of its bytes, enough to see that it changed and to check a
// candidate (printf %s "$pw" | sha256sum) without revealing it.
func ShortHash(b []byte) string {
	return "sha256:" + payload.SHA256Hex(b)[:8]
}

// redactor hides secrets in what diff and inspect print. What is secret is
// what the node model says: the spans the renderer recorded in each file
// (payload.File.Spans), carried by every manifest. Their values, from every
// file of every side, are hidden wherever they appear, so a secret copied
// into another file (or the other side) is hidden too; nothing else is. A
// secret file without spans (an older build) is hidden whole.
type redactor struct {
	known map[string]bool
	rep   *strings.Replacer // every known value by its marker, longest first
}

// newRedactor collects the secret values of every file of the sides.
func newRedactor(sides ...*Side) *redactor {
	r := &redactor{known: map[string]bool{}}
	for _, s := range sides {
		for _, n := range s.Nodes {
			for _, files := range [][]payload.File{n.Files, n.Seed} {
				for _, f := range files {
					for _, v := range f.SecretValues() {
						r.known[v] = true
					}
				}
			}
		}
	}
	values := make([]string, 0, len(r.known))
	for v := range r.known {
		values = append(values, v)
	}
	// The replacer tries its pairs in order: a secret holding another is
	// found whole.
	sort.Slice(values, func(i, j int) bool {
		if len(values[i]) != len(values[j]) {
			return len(values[i]) > len(values[j])
		}
		return values[i] < values[j]
	})
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, marker(v))
	}
	r.rep = strings.NewReplacer(pairs...)
	return r
}

// marker is what a secret value is printed as: "[redacted sha256:…]", one
// per line of a multi-line value, so that line numbers still hold.
func marker(v string) string {
	parts := strings.Split(v, "\n")
	for i, p := range parts {
		if p != "" {
			parts[i] = "[redacted " + ShortHash([]byte(p)) + "]"
		}
	}
	return strings.Join(parts, "\n")
}

// holdsSecret reports whether s contains a known secret value.
func (r *redactor) holdsSecret(s string) bool {
	return len(r.known) > 0 && r.rep.Replace(s) != s
}

// text returns s with every known secret value replaced by its marker.
func (r *redactor) text(s string) string {
	if len(r.known) == 0 {
		return s
	}
	return r.rep.Replace(s)
}

// secretIn reports whether any scalar of a YAML value holds a known secret.
func (r *redactor) secretIn(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for _, c := range t {
			if r.secretIn(c) {
				return true
			}
		}
	case []any:
		for _, c := range t {
			if r.secretIn(c) {
				return true
			}
		}
	case nil:
	default:
		return r.holdsSecret(fmt.Sprint(t))
	}
	return false
}

// show returns a YAML value as printed: a scalar that is a secret value as
// its short hash; otherwise as JSON with every secret value in it replaced
// by its marker.
func (r *redactor) show(v any) string {
	if s, ok := v.(string); ok && r.known[s] {
		return ShortHash([]byte(s))
	}
	return valueText(r.value(v))
}

// value returns a copy of a YAML value with every secret value in its
// scalars replaced by its marker.
func (r *redactor) value(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, c := range t {
			out[k] = r.value(c)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = r.value(c)
		}
		return out
	case string:
		return r.text(t)
	case nil:
		return nil
	default:
		if s := fmt.Sprint(t); r.holdsSecret(s) {
			return r.text(s)
		}
		return t
	}
}

// unlocatedNote is the one line diff and inspect print when a side holds
// secret files whose secrets are not located: they are hidden whole.
func unlocatedNote(label string) string {
	return label + ": secret files without recorded secret spans (written by an older version) are shown as hashes only"
}

// hasUnlocated reports whether a side holds a secret file whose spans are not
// recorded.
func hasUnlocated(s *Side) bool {
	for _, n := range s.Nodes {
		for _, files := range [][]payload.File{n.Files, n.Seed} {
			for _, f := range files {
				if !f.SecretsLocated() {
					return true
				}
			}
		}
	}
	return false
}

// RedactFile returns the content of f fit to print, for inspect: every
// secret value of side replaced by its marker, or, for a file that is secret
// whole (a private key, or a secret file of an older build that recorded no
// spans), one marker for all of it. note is a line to print beside it when
// the file is hidden whole for want of spans, empty otherwise.
func RedactFile(side *Side, f payload.File) (content []byte, note string) {
	if f.SecretWhole() {
		if !f.SecretsLocated() {
			note = unlocatedNote(side.Label)
		}
		return []byte("[redacted " + ShortHash(f.Content) + "]\n"), note
	}
	return []byte(newRedactor(side).text(string(f.Content))), ""
}
