package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// yamlNames are the seed files that are YAML without a YAML extension.
var yamlNames = map[string]bool{"user-data": true, "meta-data": true, "network-config": true, "vendor-data": true}

// isYAMLName reports whether a file shown as p is compared as YAML data.
func isYAMLName(p string) bool {
	base := path.Base(strings.TrimPrefix(p, seedPrefix))
	ext := path.Ext(base)
	return ext == ".yml" || ext == ".yaml" || yamlNames[base]
}

// parseYAML decodes every document of b into plain values (maps with string
// keys, slices, scalars). A single document is returned as is, several as a
// list. ok is false when b is not YAML, and the file is then compared as text.
func parseYAML(b []byte) (v any, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []any
	for {
		var d any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false
		}
		docs = append(docs, normalize(d))
	}
	switch len(docs) {
	case 0:
		return nil, true
	case 1:
		return docs[0], true
	}
	return any(docs), true
}

// normalize turns the maps yaml.v3 makes for non-string keys into maps with
// string keys, so that both sides have one shape.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			t[k] = normalize(c)
		}
		return t
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, c := range t {
			out[fmt.Sprint(k)] = normalize(c)
		}
		return out
	case []any:
		for i, c := range t {
			t[i] = normalize(c)
		}
		return t
	}
	return v
}

// KeyChange is one changed value of a YAML file, at a key path such as
// bootstrap.dcs.ttl or pg_hba[3].
type KeyChange struct {
	Key string `json:"key"`
	// Old and New are the values as JSON (absent when the key is added or
	// removed); a secret's are its short hash.
	Old *string `json:"old,omitempty"`
	New *string `json:"new,omitempty"`
	// Secret marks a value shown only as hashes.
	Secret bool `json:"secret,omitempty"`
	// Hunks is a line diff of a changed multi-line string.
	Hunks []Hunk `json:"hunks,omitempty"`
}

// rawChange is a difference go-cmp reported, before it is rendered.
type rawChange struct {
	path   string
	x, y   any
	hx, hy bool // whether each side has a value
}

// reporter collects go-cmp's differing leaves with their key paths.
type reporter struct {
	path    cmp.Path
	changes []rawChange
}

func (r *reporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }
func (r *reporter) PopStep()                 { r.path = r.path[:len(r.path)-1] }

func (r *reporter) Report(rs cmp.Result) {
	if rs.Equal() {
		return
	}
	var c rawChange
	var sb strings.Builder
	for _, ps := range r.path {
		switch s := ps.(type) {
		case cmp.MapIndex:
			k := fmt.Sprint(s.Key().Interface())
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(keyText(k))
		case cmp.SliceIndex:
			i := s.Key()
			if i < 0 {
				ix, iy := s.SplitKeys()
				i = max(ix, iy)
			}
			fmt.Fprintf(&sb, "[%d]", i)
		}
	}
	c.path = sb.String()
	vx, vy := r.path.Last().Values()
	if vx.IsValid() {
		c.x, c.hx = vx.Interface(), true
	}
	if vy.IsValid() {
		c.y, c.hy = vy.Interface(), true
	}
	r.changes = append(r.changes, c)
}

// keyText writes a map key in a key path, quoted when it would be ambiguous.
func keyText(k string) string {
	if k == "" || strings.ContainsAny(k, ".[] \t\n\"") {
		return strconv.Quote(k)
	}
	return k
}

// compareYAML returns the changed values between two decoded YAML files, in
// key path order, with every secret value r knows redacted: a value that is
// one shown as its short hash, one that holds one with the secret replaced.
func compareYAML(x, y any, r *redactor) []KeyChange {
	rep := &reporter{}
	cmp.Equal(x, y, cmp.Reporter(rep))
	raw := rep.changes
	// go-cmp reports a replaced list item as a removal and an insertion at
	// the same index: show it as one change.
	var merged []rawChange
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if i+1 < len(raw) && c.hx && !c.hy && !raw[i+1].hx && raw[i+1].hy && raw[i+1].path == c.path {
			c.y, c.hy = raw[i+1].y, true
			i++
		}
		merged = append(merged, c)
	}
	out := make([]KeyChange, 0, len(merged))
	for _, c := range merged {
		kc := KeyChange{Key: c.path, Secret: (c.hx && r.secretIn(c.x)) || (c.hy && r.secretIn(c.y))}
		sx, okx := c.x.(string)
		sy, oky := c.y.(string)
		if okx && oky && (strings.Contains(sx, "\n") || strings.Contains(sy, "\n")) {
			kc.Hunks = unified(r.text(sx), r.text(sy), 3, nil)
			kc.Old, kc.New = ptr("(text)"), ptr("(text)")
			out = append(out, kc)
			continue
		}
		if c.hx {
			kc.Old = ptr(r.show(c.x))
		}
		if c.hy {
			kc.New = ptr(r.show(c.y))
		}
		out = append(out, kc)
	}
	return out
}

func ptr(s string) *string { return &s }

// valueText writes a value as compact JSON: strings quoted, maps with sorted
// keys, so the output is deterministic and unambiguous.
func valueText(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprintf("%v", v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
