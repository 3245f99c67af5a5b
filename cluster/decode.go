package cluster

import (
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// position is where a spec element was written (1-based).
type position struct{ line, col int }

// decoder fills a typed value from a yaml.v3 node tree strictly: every
// unknown or duplicated key and every wrongly typed value becomes a Problem
// with its position, and decoding goes on so that one run reports them all.
type decoder struct {
	file  string
	pos   map[string]position // every path met, null values included
	set   map[string]bool     // paths given a non-null value of the right type
	bad   map[string]bool     // paths whose value could not be decoded
	probs Problems
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, pos: map[string]position{}, set: map[string]bool{}, bad: map[string]bool{}}
}

// fail reports a value that cannot be decoded. The path then counts as not
// set (its default applies) and validation stays quiet about it, so one
// mistake gives one problem.
func (d *decoder) fail(path string, at position, msg string) {
	delete(d.set, path)
	d.bad[path] = true
	d.problem(path, at, false, msg)
}

// failed reports whether path or one of its parents could not be decoded.
func (d *decoder) failed(path string) bool {
	for q := path; q != ""; q = parentPath(q) {
		if d.bad[q] {
			return true
		}
	}
	return false
}

func (d *decoder) problem(path string, p position, warning bool, msg string) {
	d.probs = append(d.probs, Problem{File: d.file, Line: p.line, Column: p.col, Path: path, Message: msg, Warning: warning})
}

func nodePos(n *yaml.Node) position { return position{n.Line, n.Column} }

// describe names what a node holds, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported value"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// decode fills v (settable) from n. key is the mapping key n was found under,
// nil for list items and the document root; collections are located at their
// key, scalars at their value.
func (d *decoder) decode(path string, key, n *yaml.Node, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	at := nodePos(n)
	if key != nil && n.Kind != yaml.ScalarNode {
		at = nodePos(key)
	}
	d.pos[path] = at
	if isNull(n) {
		return // an empty value is the same as an absent key: defaults apply
	}
	d.set[path] = true

	switch v.Kind() {
	case reflect.Ptr:
		e := reflect.New(v.Type().Elem())
		d.decode(path, key, n, e.Elem())
		v.Set(e)
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, at, fmtWantList(path, describe(n)))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(path+"["+strconv.Itoa(i)+"]", nil, item, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		d.decodeParams(path, n, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" {
			d.fail(path, at, fmtWantString(path, describe(n)))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil ||
			(v.Kind() == reflect.Int && (i > math.MaxInt32 || i < math.MinInt32)) {
			d.fail(path, at, fmtWantInt(path, describe(n)))
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(path, at, fmtWantBool(path, describe(n)))
			return
		}
		v.SetBool(b)
	default:
		panic("cluster: no decoder for " + v.Type().String())
	}
}

// mapping checks that n is a mapping with unique scalar keys and calls f for
// every key/value pair in document order.
func (d *decoder) mapping(path string, n *yaml.Node, f func(k, val *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		at, ok := d.pos[path]
		if !ok {
			at = nodePos(n)
		}
		d.fail(path, at, fmtWantMapping(orDocument(path), describe(n)))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.problem(path, nodePos(k), false, msgKeyNotScalar)
			continue
		}
		if k.Value == "<<" {
			d.problem(path, nodePos(k), false, msgMergeKey)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(join(path, k.Value), nodePos(k), false, fmtDuplicateKey(k.Value, first))
			continue
		}
		seen[k.Value] = k.Line
		f(k, val)
	}
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	fields := fieldsOf(v.Type())
	d.mapping(path, n, func(k, val *yaml.Node) {
		idx, ok := fields.index[k.Value]
		if !ok {
			d.problem(join(path, k.Value), nodePos(k), false, unknownKey(path, k.Value, fields.names))
			return
		}
		d.decode(join(path, k.Value), k, val, v.Field(idx))
	})
}

// decodeParams fills a map[string]interface{} of scalars, keeping each value's
// YAML type (string, int, float, bool) as written.
func (d *decoder) decodeParams(path string, n *yaml.Node, v reflect.Value) {
	m := reflect.MakeMap(v.Type())
	d.mapping(path, n, func(k, val *yaml.Node) {
		p := join(path, k.Value)
		for val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		d.pos[p] = nodePos(val)
		if val.Kind != yaml.ScalarNode || isNull(val) {
			d.pos[p] = nodePos(k)
			d.fail(p, nodePos(k), fmtParamNotScalar(k.Value, describe(val)))
			return
		}
		var x interface{}
		if err := val.Decode(&x); err != nil {
			d.fail(p, nodePos(val), fmtParamNotScalar(k.Value, describe(val)))
			return
		}
		d.set[p] = true
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(x))
	})
	v.Set(m)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orDocument(path string) string {
	if path == "" {
		return "the spec"
	}
	return path
}

// structFields is the yaml keys of one struct type.
type structFields struct {
	index map[string]int // yaml key -> field index
	names []string       // yaml keys in declaration order
}

var fieldCache sync.Map // reflect.Type -> structFields

func fieldsOf(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	f := structFields{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := yamlKey(sf)
		if name == "" {
			continue
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	fieldCache.Store(t, f)
	return f
}

// yamlKey is a field's key in the spec, "" for fields that are not in it.
func yamlKey(sf reflect.StructField) string {
	if !sf.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// SpecKeys returns the path of every key a spec can hold, with [] for list
// items (nodes[].tags.nofailover), sorted.
func SpecKeys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for t.Kind() == reflect.Ptr || t.Kind() == reflect.Slice {
			if t.Kind() == reflect.Slice {
				prefix += "[]"
			}
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for _, name := range fieldsOf(t).names {
			p := join(prefix, name)
			out = append(out, p)
			walk(p, t.Field(fieldsOf(t).index[name]).Type)
		}
	}
	walk("", reflect.TypeOf(Spec{}))
	sort.Strings(out)
	return out
}

// unknownKey words the problem of an unknown key, suggesting a close sibling
// key or, failing that, the same key in another section.
func unknownKey(parent, key string, siblings []string) string {
	if s := closest(key, siblings); s != "" {
		return fmtUnknownKeySuggest(key, s)
	}
	for _, p := range SpecKeys() {
		if strings.HasSuffix(p, "."+key) || p == key {
			where := strings.TrimSuffix(p, "."+key)
			if p == key {
				where = "the top level"
			}
			return fmtUnknownKeyElsewhere(key, orDocument(parent), where)
		}
	}
	return fmtUnknownKey(key, orDocument(parent))
}

// closest returns the candidate nearest to s by edit distance, if it is close
// enough to be a likely typo.
func closest(s string, candidates []string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := EditDistance(strings.ToLower(s), c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) >= 10 {
		limit = 3
	}
	if len(s) <= 3 {
		limit = 1
	}
	if bestD <= limit {
		return best
	}
	return ""
}

// EditDistance is the Levenshtein distance between a and b, in bytes: the
// spec's key suggestions and the CLI's command suggestions both use it.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
