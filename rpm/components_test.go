package rpm_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// pkg builds an in-memory package with the given files (no RPM needed).
func pkg(nevra, version string, files ...string) rpm.Package {
	info := &rpm.Info{}
	for _, f := range files {
		mode := fs.FileMode(0o755)
		if strings.HasSuffix(f, "/") {
			f, mode = strings.TrimSuffix(f, "/"), fs.ModeDir|0o755
		}
		info.Files = append(info.Files, rpm.File{Path: f, Mode: mode})
	}
	return rpm.Package{Filename: nevra + ".rpm", NEVRA: nevra, Version: version, Info: info}
}

var (
	pgdg15 = pkg("postgresql15-server-15.4-1PGDG.rhel7.x86_64", "15.4",
		"/usr/pgsql-15/bin/postgres", "/usr/pgsql-15/bin/pg_ctl", "/usr/pgsql-15/bin/initdb", "/usr/pgsql-15/bin/pg_controldata")
	pgdg16 = pkg("postgresql16-server-16.1-1PGDG.rhel7.x86_64", "16.1",
		"/usr/pgsql-16/bin/postgres", "/usr/pgsql-16/bin/pg_ctl", "/usr/pgsql-16/bin/initdb", "/usr/pgsql-16/bin/pg_controldata")
	vmware = pkg("vmware-postgres-15.4-1.el7.x86_64", "15.4",
		"/opt/vmware/postgres/15/bin/postgres", "/opt/vmware/postgres/15/bin/pg_ctl",
		"/opt/vmware/postgres/15/bin/initdb", "/opt/vmware/postgres/15/bin/pg_controldata")
	// pg_controldata in another package than the server binaries.
	debServer = pkg("postgresql-15-15.4-1.el9.x86_64", "15.4",
		"/usr/lib/postgresql/15/bin/postgres", "/usr/lib/postgresql/15/bin/pg_ctl", "/usr/lib/postgresql/15/bin/initdb")
	debContrib = pkg("postgresql-contrib-15-15.4-1.el9.x86_64", "15.4", "/usr/lib/postgresql/15/bin/pg_controldata")
	// A server without pg_controldata anywhere.
	pgIncomplete = pkg("pg-partial-15.4-1.el7.x86_64", "15.4",
		"/usr/pgsql-15/bin/postgres", "/usr/pgsql-15/bin/pg_ctl", "/usr/pgsql-15/bin/initdb")
	patroni  = pkg("patroni-3.0.2-1.el7.noarch", "3.0.2", "/usr/bin/patroni", "/usr/bin/patronictl", "/usr/lib/python3.6/site-packages/patroni/")
	patroniV = pkg("patroni-venv-3.2.0-1.el7.x86_64", "3.2.0",
		"/opt/patroni/bin/patroni", "/opt/patroni/bin/patronictl", "/usr/bin/patroni", "/usr/bin/patronictl")
	patroniOpt = pkg("patroni-opt-3.2.0-1.el7.x86_64", "3.2.0", "/opt/patroni/bin/patroni", "/opt/patroni/bin/patronictl")
	etcd33     = pkg("etcd-3.3.11-2.el7.centos.x86_64", "3.3.11", "/usr/bin/etcd", "/usr/bin/etcdctl", "/var/lib/etcd/")
	etcd35     = pkg("etcd-server-bin-3.5.12-1.el9.x86_64", "3.5.12", "/usr/bin/etcd", "/usr/bin/etcdctl")
	// The same server files under another package name.
	pgdg15rebuild = pkg("postgresql15-server-custom-15.4-2.el7.x86_64", "15.4",
		"/usr/pgsql-15/bin/postgres", "/usr/pgsql-15/bin/pg_ctl", "/usr/pgsql-15/bin/initdb", "/usr/pgsql-15/bin/pg_controldata")
	haproxy15other = pkg("haproxy-lts-1.5.19-1.el7.x86_64", "1.5.19", "/usr/sbin/haproxy")
	etcdOnly       = pkg("etcd-server-3.5.9-1.el9.x86_64", "3.5.9", "/usr/bin/etcd")
	haproxy15      = pkg("haproxy-1.5.18-9.el7.x86_64", "1.5.18", "/usr/sbin/haproxy", "/etc/haproxy/", "/usr/share/haproxy/")
	haproxy26      = pkg("haproxy26-2.6.12-1.el7.x86_64", "2.6.12", "/opt/haproxy26/sbin/haproxy")
	// A directory named haproxy in a bin dir is not the command.
	haproxyDir = pkg("haproxy-doc-1.0-1.el7.noarch", "1.0", "/usr/share/haproxy/", "/usr/local/bin/haproxy/")
)

func TestFindComponents(t *testing.T) {
	cases := []struct {
		name    string
		pkgs    []rpm.Package
		pre     rpm.Preinstalled
		want    rpm.Components
		wantErr []string // substrings, all required
	}{
		{
			name: "EL7 PGDG layout",
			pkgs: []rpm.Package{pgdg15, patroni, etcd33, haproxy15},
			want: rpm.Components{
				PostgreSQL: rpm.PostgreSQLComponent{Package: pgdg15.NEVRA, Version: "15.4", Major: 15, BinDir: "/usr/pgsql-15/bin"},
				Patroni:    rpm.PatroniComponent{Package: patroni.NEVRA, Version: "3.0.2", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
				Etcd:       rpm.EtcdComponent{Package: etcd33.NEVRA, Version: "3.3.11", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
				HAProxy:    rpm.HAProxyComponent{Package: haproxy15.NEVRA, Version: "1.5.18", Bin: "/usr/sbin/haproxy"},
			},
		},
		{
			name: "VMware Postgres and /opt layouts",
			pkgs: []rpm.Package{vmware, patroniOpt, etcd33, haproxy26},
			want: rpm.Components{
				PostgreSQL: rpm.PostgreSQLComponent{Package: vmware.NEVRA, Version: "15.4", Major: 15, BinDir: "/opt/vmware/postgres/15/bin"},
				Patroni:    rpm.PatroniComponent{Package: patroniOpt.NEVRA, Version: "3.2.0", Bin: "/opt/patroni/bin/patroni", Ctl: "/opt/patroni/bin/patronictl"},
				Etcd:       rpm.EtcdComponent{Package: etcd33.NEVRA, Version: "3.3.11", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
				HAProxy:    rpm.HAProxyComponent{Package: haproxy26.NEVRA, Version: "2.6.12", Bin: "/opt/haproxy26/sbin/haproxy"},
			},
		},
		{
			name: "Debian layout with pg_controldata from a second package",
			pkgs: []rpm.Package{debServer, debContrib, patroniV, etcd33, haproxy15},
			want: rpm.Components{
				PostgreSQL: rpm.PostgreSQLComponent{Package: debServer.NEVRA, Version: "15.4", Major: 15, BinDir: "/usr/lib/postgresql/15/bin"},
				// one package installs the commands twice: the standard bin dir wins
				Patroni: rpm.PatroniComponent{Package: patroniV.NEVRA, Version: "3.2.0", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
				Etcd:    rpm.EtcdComponent{Package: etcd33.NEVRA, Version: "3.3.11", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
				HAProxy: rpm.HAProxyComponent{Package: haproxy15.NEVRA, Version: "1.5.18", Bin: "/usr/sbin/haproxy"},
			},
		},
		{
			name:    "two PostgreSQL servers and two Patronis are ambiguous, listing the candidates",
			pkgs:    []rpm.Package{pgdg15, pgdg16, patroni, patroniOpt, etcd33, haproxy15},
			wantErr: []string{"PostgreSQL server", "/usr/pgsql-15/bin (" + pgdg15.Filename + ")", "/usr/pgsql-16/bin (" + pgdg16.Filename + ")", "Patroni", "/opt/patroni/bin (" + patroniOpt.Filename + ")"},
		},
		{
			name: "the spec's bin_dir picks one of two servers",
			pkgs: []rpm.Package{pgdg15, pgdg16, patroni, etcd33, haproxy15},
			pre:  rpm.Preinstalled{PostgreSQLBinDir: "/usr/pgsql-16/bin"},
			want: rpm.Components{
				PostgreSQL: rpm.PostgreSQLComponent{Package: pgdg16.NEVRA, Version: "16.1", Major: 16, BinDir: "/usr/pgsql-16/bin"},
				Patroni:    rpm.PatroniComponent{Package: patroni.NEVRA, Version: "3.0.2", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
				Etcd:       rpm.EtcdComponent{Package: etcd33.NEVRA, Version: "3.3.11", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
				HAProxy:    rpm.HAProxyComponent{Package: haproxy15.NEVRA, Version: "1.5.18", Bin: "/usr/sbin/haproxy"},
			},
		},
		{
			name:    "missing components, each named; an incomplete server and a lone etcd do not count",
			pkgs:    []rpm.Package{pgIncomplete, etcdOnly, haproxyDir},
			wantErr: []string{"PostgreSQL server (postgres, pg_ctl, initdb, pg_controldata): no package installs it", "Patroni (patroni, patronictl): no package", "etcd (etcd, etcdctl): no package", "HAProxy (haproxy): no package"},
		},
		{
			name: "preinstalled components are taken from the spec, with no package",
			pkgs: []rpm.Package{patroni},
			pre: rpm.Preinstalled{
				PostgreSQLBinDir: "/usr/pgsql-14/bin", EtcdBin: "/usr/local/bin/etcd", EtcdCtl: "/usr/local/bin/etcdctl",
				HAProxyBin: "/usr/sbin/haproxy",
			},
			want: rpm.Components{
				PostgreSQL: rpm.PostgreSQLComponent{Major: 14, BinDir: "/usr/pgsql-14/bin"},
				Patroni:    rpm.PatroniComponent{Package: patroni.NEVRA, Version: "3.0.2", Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
				Etcd:       rpm.EtcdComponent{Bin: "/usr/local/bin/etcd", Ctl: "/usr/local/bin/etcdctl"},
				HAProxy:    rpm.HAProxyComponent{Bin: "/usr/sbin/haproxy"},
			},
		},
		{
			// Which one rpm installs last would win on the node: refused, as
			// two servers in two directories are.
			name: "two packages installing a component at the same path",
			pkgs: []rpm.Package{pgdg15, pgdg15rebuild, patroni, etcd33, etcd35, haproxy15, haproxy15other},
			wantErr: []string{
				"PostgreSQL server (postgres, pg_ctl, initdb, pg_controldata): installed at the same path by several packages, keep one: /usr/pgsql-15/bin (" + pgdg15.Filename + ", " + pgdg15rebuild.Filename + ")",
				"etcd (etcd, etcdctl): installed at the same path by several packages, keep one: /usr/bin (" + etcd33.Filename + ", " + etcd35.Filename + ")",
				"HAProxy (haproxy): installed at the same path by several packages, keep one: /usr/sbin (" + haproxy15.Filename + ", " + haproxy15other.Filename + ")",
			},
		},
		{
			name:    "the spec's bin_dir cannot choose between two packages at that path",
			pkgs:    []rpm.Package{pgdg15, pgdg15rebuild, pgdg16, patroni, etcd33, haproxy15},
			pre:     rpm.Preinstalled{PostgreSQLBinDir: "/usr/pgsql-15/bin"},
			wantErr: []string{"PostgreSQL server (postgres, pg_ctl, initdb, pg_controldata): installed at the same path by several packages"},
		},
		{
			name:    "a preinstalled etcd needs both commands",
			pkgs:    []rpm.Package{pgdg15, patroni, haproxy15},
			pre:     rpm.Preinstalled{EtcdBin: "/usr/local/bin/etcd"},
			wantErr: []string{"etcd (etcd, etcdctl): name both commands"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rpm.FindComponents(tc.pkgs, tc.pre)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestVersionDependentSettings: the versions that change what we render.
func TestVersionDependentSettings(t *testing.T) {
	for _, tc := range []struct {
		version string
		gateway bool
	}{
		{"3.3.11", true}, // EL7
		{"3.4.23", true}, // Debian 12
		{"3.5.0", false},
		{"3.5.9", false},
		{"3.10.1", false}, // numeric, not lexical, comparison
		{"", true},        // unknown (preinstalled): the setting is harmless on 3.5+
	} {
		if got := (rpm.EtcdComponent{Version: tc.version}).NeedsGRPCGateway(); got != tc.gateway {
			t.Errorf("etcd %q: NeedsGRPCGateway = %v, want %v", tc.version, got, tc.gateway)
		}
	}
	for _, tc := range []struct {
		version  string
		flag     string
		priority bool
		rewrites bool
	}{
		{"2.1.7", "--master", false, true}, // EL7's PGDG Patroni 2
		{"3.0.2", "--leader", false, true}, // Debian 12
		{"3.0.3", "--leader", false, false},
		{"3.0.10", "--leader", false, false}, // numeric, not lexical
		{"3.1.2", "--leader", false, false},
		{"3.2.0", "--leader", true, false},
		{"4.0.4", "--leader", true, false},
		{"10.0", "--leader", true, false},
		{"", "--leader", true, false}, // unknown (preinstalled)
	} {
		p := rpm.PatroniComponent{Version: tc.version}
		if got := p.LeaderFlag(); got != tc.flag {
			t.Errorf("patroni %q: LeaderFlag = %q, want %q", tc.version, got, tc.flag)
		}
		if got := p.HasFailoverPriority(); got != tc.priority {
			t.Errorf("patroni %q: HasFailoverPriority = %v, want %v", tc.version, got, tc.priority)
		}
		if got := p.RewritesLeaderKey(); got != tc.rewrites {
			t.Errorf("patroni %q: RewritesLeaderKey = %v, want %v", tc.version, got, tc.rewrites)
		}
	}
	for _, tc := range []struct {
		version string
		wrapper bool
	}{
		{"1.5.18", true}, // EL7's HAProxy
		{"1.7.14", true},
		{"1.8", false},
		{"1.8.27", false}, // EL8
		{"1.10.0", false}, // numeric, not lexical, comparison
		{"2.4.22", false}, // EL9
		{"", false},       // unknown (preinstalled): the renderer decides from the OS
	} {
		if got := (rpm.HAProxyComponent{Version: tc.version}).NeedsSystemdWrapper(); got != tc.wrapper {
			t.Errorf("haproxy %q: NeedsSystemdWrapper = %v, want %v", tc.version, got, tc.wrapper)
		}
	}
}

// TestVersionBefore: rpm's order (rpmvercmp), the one every gate uses.
func TestVersionBefore(t *testing.T) {
	for _, tc := range []struct {
		version, than string
		want          bool
	}{
		{"1.5", "1.8", true},
		{"1.8", "1.8", false},
		{"1.8.0", "1.8", false}, // more segments sort later
		{"1.10", "1.8", false},  // 10 > 8: numbers, not text
		{"3.0.0rc1", "3.0.0", false},
		{"3.0~rc1", "3.0", true}, // a tilde sorts before the release
		{"2.4.22", "2.10", true},
		{"", "1.0", false}, // unknown is before nothing
	} {
		if got := rpm.VersionBefore(tc.version, tc.than); got != tc.want {
			t.Errorf("VersionBefore(%q, %q) = %v, want %v", tc.version, tc.than, got, tc.want)
		}
	}
}

// TestComponentsJSON: the build manifest writes components with lowercase
// snake_case keys, the package and version left out when preinstalled.
func TestComponentsJSON(t *testing.T) {
	c := rpm.Components{
		PostgreSQL: rpm.PostgreSQLComponent{Package: "postgresql15-server-15.4-1.el9.x86_64", Version: "15.4", Major: 15, BinDir: "/usr/pgsql-15/bin"},
		Patroni:    rpm.PatroniComponent{Bin: "/usr/bin/patroni", Ctl: "/usr/bin/patronictl"},
		Etcd:       rpm.EtcdComponent{Package: "etcd-3.5.17-1.el9.x86_64", Version: "3.5.17", Bin: "/usr/bin/etcd", Ctl: "/usr/bin/etcdctl"},
		HAProxy:    rpm.HAProxyComponent{Version: "2.4.22", Bin: "/usr/sbin/haproxy"},
	}
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"postgresql":{"package":"postgresql15-server-15.4-1.el9.x86_64","version":"15.4","major":15,"bin_dir":"/usr/pgsql-15/bin"},` +
		`"patroni":{"bin":"/usr/bin/patroni","ctl":"/usr/bin/patronictl"},` +
		`"etcd":{"package":"etcd-3.5.17-1.el9.x86_64","version":"3.5.17","bin":"/usr/bin/etcd","ctl":"/usr/bin/etcdctl"},` +
		`"haproxy":{"version":"2.4.22","bin":"/usr/sbin/haproxy"}}`
	if string(got) != want {
		t.Errorf("components JSON\n got %s\nwant %s", got, want)
	}
	var back rpm.Components
	if err := json.Unmarshal(got, &back); err != nil || back != c {
		t.Errorf("components do not read back: %+v, %v", back, err)
	}
}
