package cluster

import (
	"strings"
	"testing"
)

func TestClientConnections(t *testing.T) {
	for _, tt := range []struct {
		name, extra string
		want        []string
	}{
		{"without vip", "", []string{
			"read-write postgresql://10.0.0.1:5432,10.0.0.2:5432,10.0.0.3:5432/postgres?target_session_attrs=read-write&connect_timeout=3",
			"read-only postgresql://10.0.0.1:5001,10.0.0.2:5001,10.0.0.3:5001/postgres?connect_timeout=3",
		}},
		{"vip haproxy", "vip:\n  address: 10.0.0.10\n", []string{
			"read-write postgresql://10.0.0.1:5432,10.0.0.2:5432,10.0.0.3:5432/postgres?target_session_attrs=read-write&connect_timeout=3",
			"read-only postgresql://10.0.0.1:5001,10.0.0.2:5001,10.0.0.3:5001/postgres?connect_timeout=3",
			"vip-read-write postgresql://10.0.0.10:5000/postgres?connect_timeout=3",
			"vip-read-only postgresql://10.0.0.10:5001/postgres?connect_timeout=3",
		}},
		{"vip leader", "network:\n  clients: [10.1.0.0/16]\nvip:\n  address: 10.0.0.10\n  mode: leader\n", []string{
			"read-write postgresql://10.0.0.1:5432,10.0.0.2:5432,10.0.0.3:5432/postgres?target_session_attrs=read-write&connect_timeout=3",
			"read-only postgresql://10.0.0.1:5001,10.0.0.2:5001,10.0.0.3:5001/postgres?connect_timeout=3",
			"vip-read-write postgresql://10.0.0.10:5432/postgres?connect_timeout=3",
			"vip-read-only postgresql://10.0.0.10:5001/postgres?connect_timeout=3",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ps, err := Parse("c.yaml", []byte(base+tt.extra))
			if err != nil {
				t.Fatalf("%v\n%s", err, ps)
			}
			var got []string
			for _, c := range s.ClientConnections() {
				got = append(got, c.Name+" "+c.URI)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			text := s.ConnectText()
			if !strings.HasSuffix(text, strings.Join(tt.want, "\n")+"\n") || !strings.HasPrefix(text, "# ") {
				t.Errorf("ConnectText:\n%s", text)
			}
		})
	}
	s, _, err := Parse("c.yaml", []byte(strings.NewReplacer("10.0.0.1", "fd00::1", "10.0.0.2", "fd00::2", "10.0.0.3", "fd00::3").Replace(base)))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ClientConnections()[0].URI; got != "postgresql://[fd00::1]:5432,[fd00::2]:5432,[fd00::3]:5432/postgres?target_session_attrs=read-write&connect_timeout=3" {
		t.Errorf("IPv6: %s", got)
	}
}
