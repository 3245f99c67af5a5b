//go:build e2e

package e2ecluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
)

// debianVersion returns the upstream version of an installed Debian package
// ("3.4.23-4+b4" → "3.4.23", "15.20-0+deb12u1" → "15.20").
func debianVersion(ctx context.Context, pkg string) (string, error) {
	out, err := runCmd(ctx, nil, "dpkg-query", "-W", "-f", "${Version}", pkg)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(out))
	if i := strings.Index(v, ":"); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		v = v[:i]
	}
	return v, nil
}

// writeDebianLayoutRPMs writes signed fixture RPMs whose file lists are the
// paths of the Debian binaries installed on this machine, with their
// versions, so that component discovery (not a hand-written path) puts
// /usr/lib/postgresql/15/bin and /usr/bin/patroni into the configs. The
// packages are never installed (install.sh runs with --no-packages); they are
// verified with rpm -K like real ones. It returns the public key's path.
func writeDebianLayoutRPMs(ctx context.Context, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	key, err := fixture.NewKey("pgha-bundle e2e cluster")
	if err != nil {
		return "", err
	}
	keyPath := filepath.Join(dir, "RPM-GPG-KEY-e2e")
	if err := os.WriteFile(keyPath, key.ArmoredPublic(), 0o644); err != nil {
		return "", err
	}
	ver := map[string]string{}
	for _, p := range []string{"postgresql-15", "patroni", "etcd-server", "haproxy"} {
		v, err := debianVersion(ctx, p)
		if err != nil {
			return "", fmt.Errorf("fixture versions: %w", err)
		}
		ver[p] = v
	}
	var missing []string
	bin := func(paths ...string) []fixture.File {
		var fs []fixture.File
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				missing = append(missing, p)
			}
			fs = append(fs, fixture.File{Path: p, Mode: 0o755, Body: []byte("#!/bin/sh\n# fixture of " + p + "\n")})
		}
		return fs
	}
	const pgbin = "/usr/lib/postgresql/15/bin/"
	pkgs := []fixture.Package{
		{Name: "postgresql15-server", Version: ver["postgresql-15"], Release: "1.el9", Arch: "x86_64",
			Files: bin(pgbin+"postgres", pgbin+"pg_ctl", pgbin+"initdb", pgbin+"pg_controldata", pgbin+"pg_rewind", pgbin+"pg_basebackup")},
		{Name: "postgresql15", Version: ver["postgresql-15"], Release: "1.el9", Arch: "x86_64",
			Files: bin("/usr/bin/psql")},
		{Name: "patroni", Version: ver["patroni"], Release: "1.el9", Arch: "noarch",
			Files: bin("/usr/bin/patroni", "/usr/bin/patronictl")},
		{Name: "etcd", Version: ver["etcd-server"], Release: "1.el9", Arch: "x86_64",
			Files: bin("/usr/bin/etcd", "/usr/bin/etcdctl")},
		{Name: "haproxy", Version: ver["haproxy"], Release: "1.el9", Arch: "x86_64",
			Files: bin("/usr/sbin/haproxy")},
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("fixture: the Debian binaries %v are not installed here", missing)
	}
	for _, p := range pkgs {
		if _, err := fixture.WriteRPM(dir, p, key); err != nil {
			return "", fmt.Errorf("fixture %s: %w", p.Name, err)
		}
	}
	return keyPath, nil
}
