package secrets

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: any bytes are a secrets file or a reason, never a panic; a file
// that is accepted reads back the same once written again.
func FuzzParse(f *testing.F) {
	good := goodFileFuzz(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(""))
	f.Add([]byte("---\n"))
	f.Add([]byte("cluster: &a pg\nsuperuser_password: *a\n"))
	f.Add([]byte("tls: {nodes: {n1: [x]}}\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, line, reason := parse(data)
		if reason == "" && s == nil {
			t.Fatal("no secrets and no reason")
		}
		if reason != "" {
			if s != nil || line < 0 {
				t.Fatalf("reason %q with secrets or line %d", reason, line)
			}
			return
		}
		body, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, _, reason := parse(append([]byte(header), body...))
		if reason != "" {
			t.Fatalf("an accepted file does not read back: %s", reason)
		}
		if again.Cluster != s.Cluster || again.TLS.CACert != s.TLS.CACert || again.SuperuserPassword != s.SuperuserPassword {
			t.Fatal("an accepted file reads back otherwise")
		}
	})
}

func goodFileFuzz(f *testing.F) []byte {
	s, err := New(seeded(300))
	if err != nil {
		f.Fatal(err)
	}
	s.Cluster = "pg"
	if _, err := s.EnsureTLS(seeded(301), want.Now, "pg", want.Nodes[:1]); err != nil {
		f.Fatal(err)
	}
	body, err := yaml.Marshal(s)
	if err != nil {
		f.Fatal(err)
	}
	return append([]byte(header), body...)
}
