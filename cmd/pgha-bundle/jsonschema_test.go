package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The --format json documents are checked against docs/cli-json.schema.json
// by the small validator below: it knows the keywords that schema uses
// (type, const, enum, required, properties, additionalProperties false,
// items, $ref to #/$defs, minimum, pattern) and refuses any other, so the
// schema cannot grow a rule that is silently not checked.

const schemaPath = "../../docs/cli-json.schema.json"

type schema map[string]any

func loadSchema(t testing.TB) schema {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	return s
}

// checkJSON validates doc (one JSON document) against $defs/def of root.
func checkJSON(root schema, def string, doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON document")
	}
	defs, _ := root["$defs"].(map[string]any)
	s, ok := defs[def].(map[string]any)
	if !ok {
		return fmt.Errorf("schema has no $defs/%s", def)
	}
	var errs []string
	validate(root, s, v, "$", &errs)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

var schemaKeywords = map[string]bool{
	"type": true, "const": true, "enum": true, "required": true, "properties": true,
	"additionalProperties": true, "items": true, "$ref": true, "minimum": true, "pattern": true,
	"description": true, "title": true,
}

func validate(root schema, s map[string]any, v any, at string, errs *[]string) {
	bad := func(format string, args ...any) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}
	for k := range s {
		if !schemaKeywords[k] {
			bad("schema keyword %q is not supported by this validator", k)
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/$defs/")
		defs, _ := root["$defs"].(map[string]any)
		target, ok := defs[name].(map[string]any)
		if !found || !ok {
			bad("unresolved $ref %q", ref)
			return
		}
		validate(root, target, v, at, errs)
	}
	if c, ok := s["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		bad("want %v, got %v", c, v)
	}
	if e, ok := s["enum"].([]any); ok {
		found := false
		for _, x := range e {
			found = found || reflect.DeepEqual(x, v)
		}
		if !found {
			bad("%v is not one of %v", v, e)
		}
	}
	if ty, ok := s["type"].(string); ok && !hasType(v, ty) {
		bad("want %s, got %s", ty, typeOf(v))
		return
	}
	if m, ok := s["minimum"].(float64); ok {
		if n, isNum := v.(json.Number); isNum {
			if f, _ := n.Float64(); f < m {
				bad("%v is below the minimum %v", n, m)
			}
		}
	}
	if p, ok := s["pattern"].(string); ok {
		if str, isStr := v.(string); isStr && !regexp.MustCompile(p).MatchString(str) {
			bad("%q does not match %s", str, p)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := obj[r.(string)]; !ok {
					bad("lacks required member %q", r)
				}
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, set := s["additionalProperties"].(bool); set && !ap {
					bad("member %q is not in the schema", k)
				}
				continue
			}
			validate(root, ps, obj[k], at+"."+k, errs)
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				validate(root, items, x, fmt.Sprintf("%s[%d]", at, i), errs)
			}
		}
	}
}

func hasType(v any, ty string) bool {
	switch ty {
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	}
	return typeOf(v) == ty
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// TestSchemaValidatorFails shows the validator refusing what breaks each
// kind of rule, so a passing document check means something.
func TestSchemaValidatorFails(t *testing.T) {
	root := loadSchema(t)
	good := `{"format":1,"spec":"c.yaml","valid":true,"nodes":3,"errors":0,"warnings":0,"problems":[{"severity":"note","file":"c.yaml","line":1,"column":1,"path":"","message":"m"}]}`
	if err := checkJSON(root, "validate", []byte(good)); err != nil {
		t.Fatalf("a good document is refused: %v", err)
	}
	tests := []struct{ name, old, new, want string }{
		{"wrong type", `"valid":true`, `"valid":"yes"`, "$.valid: want boolean, got string"},
		{"missing member", `"nodes":3,`, ``, `lacks required member "nodes"`},
		{"extra member", `"nodes":3,`, `"nodes":3,"extra":1,`, `member "extra" is not in the schema`},
		{"enum", `"severity":"note"`, `"severity":"info"`, "is not one of"},
		{"const", `"format":1`, `"format":2`, "$.format: want 1, got 2"},
		{"minimum", `"errors":0`, `"errors":-1`, "below the minimum"},
		{"integer", `"line":1`, `"line":1.5`, "want integer"},
		{"null list", `"problems":[`, `"problems":null,"x":[`, "$.problems: want array, got null"},
		{"item", `"message":"m"`, `"message":7`, "$.problems[0].message: want string"},
		{"two documents", `}]}`, `}]} {}`, "more than one JSON document"},
	}
	for _, tc := range tests {
		doc := strings.Replace(good, tc.old, tc.new, 1)
		if doc == good {
			t.Fatalf("%s: the test's replacement does not apply", tc.name)
		}
		err := checkJSON(root, "validate", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if err := checkJSON(root, "inspect", []byte(`{"format":1,"path":"p","kind":"iso","nodes":[{"name":"n","files":[{"path":"/a","mode":"640","owner":"","group":"","size":1,"digest":"sha256:0011aabb","secret":false}],"seed":[],"packages":[]}]}`)); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a bad mode passes the pattern: %v", err)
	}
}
