package cluster

import (
	"bytes"
	"testing"
)

// FuzzParse checks that no input panics, that an error comes exactly with
// error problems, and that every position lies inside the document.
func FuzzParse(f *testing.F) {
	f.Add(Example())
	f.Add([]byte(base))
	f.Add([]byte(base + "patroni:\n  synchronus_mode: true\n  ttl: x\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("postgresql:\n  parameters: {a: {b: c}, port: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, ps, err := Parse("f.yaml", data)
		if (err != nil) != (len(ps.Errors()) > 0) {
			t.Fatalf("err = %v with %d errors", err, len(ps.Errors()))
		}
		// YAML breaks lines at \n, \r\n, \r, NEL, LS and PS.
		norm := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		lines := 1 + bytes.Count(norm, []byte("\n")) + bytes.Count(norm, []byte("\r")) +
			bytes.Count(norm, []byte("\u0085")) + bytes.Count(norm, []byte("\u2028")) + bytes.Count(norm, []byte("\u2029"))
		for _, p := range ps {
			if p.File != "f.yaml" || p.Line < 0 || p.Line > lines || p.Message == "" {
				t.Fatalf("bad problem %+v (document has %d lines)", p, lines)
			}
		}
		if s != nil {
			_ = s.CheckForMajor(16)
			_ = s.InitialCluster()
		}
	})
}
