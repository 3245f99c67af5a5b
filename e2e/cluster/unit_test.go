package e2ecluster

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

func TestParseUnit(t *testing.T) {
	tests := []struct {
		name    string
		unit    string
		files   map[string]string
		want    []string // expanded ExecStart
		user    string
		pre     [][]string
		wantErr string
	}{
		{
			name: "debian haproxy unit",
			unit: `[Unit]
Description=HAProxy
[Service]
EnvironmentFile=-/etc/default/haproxy
Environment="CONFIG=/etc/haproxy/haproxy.cfg" "PIDFILE=/run/haproxy.pid" "EXTRAOPTS=-S /run/haproxy-master.sock"
ExecStart=/usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE $EXTRAOPTS
Type=notify
`,
			want: []string{"/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid", "-S", "/run/haproxy-master.sock"},
		},
		{
			name: "environment file overrides, empty variable vanishes, braces stay one word",
			unit: `[Service]
Environment=DAEMON_ARGS=--x ETCD_NAME=%H
EnvironmentFile=-/etc/default/%p
User=etcd
ExecStart=/usr/bin/etcd $DAEMON_ARGS --name=${ETCD_NAME}
`,
			files: map[string]string{"/etc/default/etcd": "# comment\nDAEMON_ARGS=\n"},
			want:  []string{"/usr/bin/etcd", "--name=node1"},
			user:  "etcd",
		},
		{
			name: "prefixes, continuation and quotes",
			unit: `[Service]
User=postgres
Group=postgres
ExecStartPre=+/bin/mkdir -p /run/postgresql
ExecStart=-/usr/bin/patroni \
  "/etc/patroni/patroni.yml"
`,
			want: []string{"/usr/bin/patroni", "/etc/patroni/patroni.yml"},
			user: "postgres",
			pre:  [][]string{{"/bin/mkdir", "-p", "/run/postgresql"}},
		},
		{
			name:    "ExecStart outside [Service] does not count",
			unit:    "[Unit]\nExecStart=/bin/true\n",
			wantErr: "no ExecStart",
		},
		{
			name:    "relative command",
			unit:    "[Service]\nExecStart=patroni /etc/patroni/patroni.yml\n",
			wantErr: "not an absolute path",
		},
		{
			name:    "missing required environment file",
			unit:    "[Service]\nEnvironmentFile=/etc/default/x\nExecStart=/bin/x\n",
			wantErr: "environment file /etc/default/x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseUnit(strings.NewReader(tt.unit), "etcd.service", "node1")
			var env map[string]string
			if err == nil {
				env, err = u.Env(func(p string) ([]byte, error) {
					if s, ok := tt.files[p]; ok {
						return []byte(s), nil
					}
					return nil, fs.ErrNotExist
				})
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := Command(u.ExecStart, env); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("command = %q, want %q", got, tt.want)
			}
			if u.User != tt.user {
				t.Errorf("user = %q, want %q", u.User, tt.user)
			}
			if !reflect.DeepEqual(u.ExecStartPre, tt.pre) {
				t.Errorf("ExecStartPre = %q, want %q", u.ExecStartPre, tt.pre)
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{
			name: "shell-quoted values",
			in:   "# generated\nPGHA_NODE='pg1'\nPGHA_MEMBERS='pg1=127.0.0.11 pg2=127.0.0.12'\nexport X=\"a\\\"b\"\nEMPTY=\n",
			want: map[string]string{"PGHA_NODE": "pg1", "PGHA_MEMBERS": "pg1=127.0.0.11 pg2=127.0.0.12", "X": `a"b`, "EMPTY": ""},
		},
		{name: "command substitution refused", in: "A=$(id)\n", wantErr: true},
		{name: "unquoted space refused", in: "A=b c\n", wantErr: true},
		{name: "not an assignment", in: "echo hi\n", wantErr: true},
		{name: "unterminated quote", in: "A='x\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEnvFile(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnvMissingOptionalFileIsSkipped(t *testing.T) {
	u := &Unit{EnvironmentFiles: []EnvFile{{Path: "/nope", Optional: true}}, Environment: []string{"A=1"}}
	env, err := u.Env(func(string) ([]byte, error) { return nil, fs.ErrNotExist })
	if err != nil || env["A"] != "1" {
		t.Fatalf("env = %v, err = %v", env, err)
	}
	_, err = u.Env(func(string) ([]byte, error) { return nil, errors.New("permission denied") })
	if err == nil {
		t.Fatal("an unreadable optional file must be an error, not skipped")
	}
}
