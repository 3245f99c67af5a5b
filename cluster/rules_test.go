package cluster

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// testedElsewhere are the messages of errors.go that no spec can produce
// from Parse alone, with the test that covers each.
var testedElsewhere = map[string]string{
	"msgFailoverPrioPatroni": "build: needs the packages' Patroni version (CheckFailoverPriority)",
	"msgParamAdded":          "TestBadSpecs via postgresql.major; the build via the packages (CheckForMajor)",
	"msgInventoryBinary":     "TestFromAnsibleRefusesNonText",
	"msgInventoryNotUTF8":    "TestFromAnsibleRefusesNonText",
	"msgInventoryLarge":      "TestFromAnsibleRefusesNonText",
}

// messageConsts evaluates the string constants of errors.go (literals joined
// with +, and the constants they name) by name.
func messageConsts(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	exprs := map[string]ast.Expr{}
	for _, file := range []string{"errors.go", "spec.go", "vip.go", "backup.go", "bootstrap.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					exprs[n.Name] = vs.Values[i]
				}
			}
		}
	}
	var eval func(e ast.Expr) string
	eval = func(e ast.Expr) string {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			if err != nil {
				t.Fatalf("%s: %v", e.Value, err)
			}
			return s
		case *ast.BinaryExpr:
			return eval(e.X) + eval(e.Y)
		case *ast.Ident:
			return eval(exprs[e.Name])
		case *ast.ParenExpr:
			return eval(e.X)
		}
		t.Fatalf("cannot evaluate %T", e)
		return ""
	}
	out := map[string]string{}
	for name, e := range exprs {
		if strings.HasPrefix(name, "msg") {
			out[name] = eval(e)
		}
	}
	return out
}

// TestEveryRuleHasABadSpec: every message of errors.go is produced by at
// least one case of badSpecs (or listed in testedElsewhere), so a rule
// cannot be added without a bad spec showing it fires, where, and how.
func TestEveryRuleHasABadSpec(t *testing.T) {
	msgs := messageConsts(t)
	if len(msgs) < 100 {
		t.Fatalf("found only %d messages in errors.go", len(msgs))
	}
	var wants []string
	for _, c := range badSpecs {
		wants = append(wants, c.want...)
	}
	verb := regexp.MustCompile(`%[-+# 0-9.]*[sdqvU]`)
	for name, m := range msgs {
		if _, ok := testedElsewhere[name]; ok {
			continue
		}
		parts := verb.Split(strings.ReplaceAll(m, "%%", "%"), -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile(`^(warning: )?c\.yaml(:\d+:\d+)?: ` + strings.Join(parts, ".*") + `$`)
		found := false
		for _, w := range wants {
			if re.MatchString(w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s (%q) has no case in badSpecs", name, m)
		}
	}
}
