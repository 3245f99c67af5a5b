package bundle

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// elFileContexts stands for the targeted policy's file_contexts as far as
// the data directories go: /var/lib/pgsql(/.*)? is postgresql_db_t in EL's
// policy, /var/lib/etcd(/.*)? container_var_lib_t with container-selinux.
const elFileContexts = `/.*	system_u:object_r:default_t:s0
/var/lib(/.*)?	system_u:object_r:var_lib_t:s0
/var/lib/pgsql(/.*)?	system_u:object_r:postgresql_db_t:s0
/var/lib/etcd(/.*)?	system_u:object_r:container_var_lib_t:s0
`

// selinuxStandIns replaces semanage and adds matchpathcon and restorecon:
// semanage fcontext keeps local rules in STUB_STATE/file_contexts.local after
// the real semanage has parsed the same command line (without a policy
// store it then stops with "SELinux policy is not managed"; a usage error
// fails the stand-in); matchpathcon is the real one and restorecon the real
// setfiles, both reading the base contexts plus the local rules, so the
// directories get real security.selinux attributes.
func selinuxStandIns(t *testing.T, h *host) {
	t.Helper()
	testutil.NeedTool(t, "semanage", "policycoreutils-python-utils")
	testutil.NeedTool(t, "setfiles", "policycoreutils")
	testutil.NeedTool(t, "matchpathcon", "selinux-utils")
	writeFile(t, h.state+"/file_contexts.base", elFileContexts)
	writeFile(t, h.state+"/file_contexts.local", "")
	writeFile(t, h.state+"/enforcing", "")
	const contexts = `cat "$STUB_STATE/file_contexts.base" "$STUB_STATE/file_contexts.local" >"$STUB_STATE/file_contexts"
`
	scripts := map[string]string{
		"semanage": `#!/bin/bash
printf 'semanage %s\n' "$*" >>"$STUB_LOG"
S=$STUB_STATE
if [ "$1" = port ]; then
	[ "$2" = -l ] && printf 'postgresql_port_t              tcp      5432, 9898\n'
	exit 0
fi
err=$(/usr/sbin/semanage "$@" 2>&1)
case $err in *"SELinux policy is not managed"*) ;; *)
	echo "the real semanage rejects: semanage $*: $err" >&2
	exit 2
	;;
esac
op= type= spec=
for a in "$@"; do
	case $prev in -t) type=$a ;; esac
	case $a in -a | -d | -m) op=$a ;; esac
	prev=$a
done
spec=${*: -1}
case $op in
-a)
	if awk -v s="$spec" '$1 == s { f = 1 } END { exit !f }' "$S/file_contexts.local"; then
		echo "ValueError: File context for $spec already defined" >&2
		exit 1
	fi
	printf '%s\tsystem_u:object_r:%s:s0\n' "$spec" "$type" >>"$S/file_contexts.local"
	;;
-d)
	awk -v s="$spec" '$1 != s' "$S/file_contexts.local" >"$S/fc.new"
	cmp -s "$S/fc.new" "$S/file_contexts.local" && { echo "ValueError: File context for $spec is not defined" >&2; exit 1; }
	mv "$S/fc.new" "$S/file_contexts.local"
	;;
esac
`,
		"matchpathcon": "#!/bin/bash\nprintf 'matchpathcon %s\\n' \"$*\" >>\"$STUB_LOG\"\n" + contexts +
			"exec /usr/sbin/matchpathcon -f \"$STUB_STATE/file_contexts\" \"$@\"\n",
		"restorecon": "#!/bin/bash\nprintf 'restorecon %s\\n' \"$*\" >>\"$STUB_LOG\"\n" + contexts +
			"exec /usr/sbin/setfiles -r \"$PGHA_ROOT\" \"$STUB_STATE/file_contexts\" \"${*: -1}\"\n",
	}
	for name, body := range scripts {
		_ = os.Remove(h.bin + "/" + name)
		writeFile(t, h.bin+"/"+name, body)
		must(t, os.Chmod(h.bin+"/"+name, 0o755))
	}
}

// label is the security.selinux attribute of p ("" when it has none).
func label(t *testing.T, p string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(p, "security.selinux", buf)
	if err == syscall.ENODATA {
		return ""
	}
	must(t, err)
	return strings.TrimRight(string(buf[:n]), "\x00")
}

// TestSELinuxFileContexts: with SELinux enforcing, the data directories the
// spec moves away from EL's defaults get a file context rule of the type
// the policy gives the default path (postgresql_db_t for PGDATA and the WAL
// archive, /var/lib/etcd's type for etcd's data), restorecon labels them,
// the receipt records the rules, a second run adds none and uninstall.sh
// deletes exactly those. Directories at the default paths get no rule.
// The semanage command lines pass the real semanage's parser, the rules'
// regexes are matched by the real matchpathcon and applied by the real
// setfiles (restorecon's engine) as security.selinux attributes. What this
// cannot show, with no SELinux policy loaded in this kernel: that the policy
// store accepts the rules (the type exists, no conflicting local rule), that
// the labels are enforced, and that postgres, Patroni and etcd then run
// under them without denials.
func TestSELinuxFileContexts(t *testing.T) {
	t.Parallel()
	moved := func(s *cluster.Spec) {
		s.PostgreSQL.DataDir = "/data/pg/16/data"
		s.Etcd.DataDir = "/data/etcd"
		s.Archive.Enabled, s.Archive.Directory = true, "/data/wal_archive"
	}
	t.Run("moved", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		selinuxStandIns(t, h)
		writeFile(t, h.state+"/file_contexts.local", "/srv/other(/.*)?\tsystem_u:object_r:httpd_sys_content_t:s0\n")
		in := newer(t, h, testInput(t, h.dir), "selinux", func(n *Input) {
			setFacts(t, n, h.dir, moved)
		})
		h.extract(in)
		// A WAL segment already in the archive is relabelled with it.
		writeFile(t, h.root+"/data/wal_archive/000000010000000000000001", "wal\n")
		out, code := h.run("install.sh")
		if code != 0 {
			t.Fatalf("install exit %d\n%s", code, out)
		}
		calls := h.calls()
		for _, want := range []string{
			"semanage fcontext -a -t postgresql_db_t /data/pg/16/data(/.*)?",
			"semanage fcontext -a -t postgresql_db_t /data/wal_archive(/.*)?",
			"semanage fcontext -a -t container_var_lib_t /data/etcd(/.*)?",
			"restorecon -R " + h.root + "/data/pg/16/data",
			"restorecon -R " + h.root + "/data/etcd",
			"restorecon -R " + h.root + "/data/wal_archive",
		} {
			if index(calls, want) < 0 {
				t.Errorf("no %q:\n%s", want, strings.Join(calls, "\n"))
			}
		}
		if i, j := index(calls, "semanage fcontext -a -t postgresql_db_t /data/pg"), index(calls, "restorecon -R "+h.root+"/data/pg"); j < i {
			t.Errorf("restorecon (%d) before the rule (%d)", j, i)
		}
		for p, want := range map[string]string{
			"/data/pg/16/data":  "system_u:object_r:postgresql_db_t:s0",
			"/data/etcd":        "system_u:object_r:container_var_lib_t:s0",
			"/data/wal_archive": "system_u:object_r:postgresql_db_t:s0",
			"/data/wal_archive/000000010000000000000001": "system_u:object_r:postgresql_db_t:s0",
			"/data/pg/16": "", // not ours to label
		} {
			if got := label(t, h.root+p); got != want {
				t.Errorf("%s labelled %q, want %q", p, got, want)
			}
		}
		if got := fcontexts(t, h); got != "/data/pg/16/data postgresql_db_t,/data/wal_archive postgresql_db_t,/data/etcd container_var_lib_t" {
			t.Errorf("receipt selinux_fcontexts: %s", got)
		}

		out, code = h.run("install.sh")
		if code != 0 || index(h.calls(), "semanage fcontext") >= 0 || index(h.calls(), "restorecon") >= 0 {
			t.Errorf("second install: exit %d, calls\n%s\n%s", code, strings.Join(h.calls(), "\n"), out)
		}

		out, code = h.run("uninstall.sh")
		if code != 0 {
			t.Fatalf("uninstall exit %d\n%s", code, out)
		}
		for _, want := range []string{
			"semanage fcontext -d -t postgresql_db_t /data/pg/16/data(/.*)?",
			"semanage fcontext -d -t postgresql_db_t /data/wal_archive(/.*)?",
			"semanage fcontext -d -t container_var_lib_t /data/etcd(/.*)?",
		} {
			if index(h.calls(), want) < 0 {
				t.Errorf("uninstall: no %q:\n%s", want, strings.Join(h.calls(), "\n"))
			}
		}
		if got := readFile(t, h.state+"/file_contexts.local"); got != "/srv/other(/.*)?\tsystem_u:object_r:httpd_sys_content_t:s0\n" {
			t.Errorf("local rules after uninstall: %q, want only the one we did not add", got)
		}
	})
	t.Run("default paths", func(t *testing.T) {
		t.Parallel()
		h := newHost(t)
		selinuxStandIns(t, h)
		h.extract(testInput(t, h.dir))
		out, code := h.run("install.sh")
		if code != 0 {
			t.Fatalf("install exit %d\n%s", code, out)
		}
		if i := index(h.calls(), "semanage fcontext"); i >= 0 {
			t.Errorf("a default path got a rule: %s", h.calls()[i])
		}
		if got := fcontexts(t, h); got != "" {
			t.Errorf("receipt selinux_fcontexts: %s", got)
		}
	})
}

// fcontexts is the receipt's selinux_fcontext entries as "path type"
// joined by commas.
func fcontexts(t *testing.T, h *host) string {
	t.Helper()
	r, _ := h.receipt()
	var out []string
	for _, f := range r.Contexts {
		out = append(out, f.Path+" "+f.Type)
	}
	return strings.Join(out, ",")
}
