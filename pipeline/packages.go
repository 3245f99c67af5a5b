package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// scanPackages verifies the package directory (flags win over the spec) and
// derives the components; with no directory at all every component must be
// named as preinstalled in the spec.
func scanPackages(spec *cluster.Spec, opts *Options) (*rpm.Set, error) {
	pre := rpm.Preinstalled{
		PostgreSQLBinDir: spec.PostgreSQL.BinDir,
		PostgreSQLMajor:  spec.PostgreSQL.Major,
		PatroniBin:       spec.Patroni.Bin,
		PatroniCtl:       spec.Patroni.Ctl,
		EtcdBin:          spec.Etcd.Bin,
		EtcdCtl:          spec.Etcd.Ctl,
		HAProxyBin:       spec.HAProxy.Bin,
	}
	dir, keys := packageSources(spec, opts)
	if dir == "" {
		comps, err := rpm.FindComponents(nil, pre)
		if err != nil {
			return nil, fmt.Errorf("no packages directory (--packages or packages.dir), so every component must be preinstalled:\n%w", err)
		}
		return &rpm.Set{Components: comps, SignaturesChecked: true}, nil
	}
	var progress func(int64)
	if opts.Progress != nil {
		opts.progressStart("verify packages", rpmBytes(dir))
		progress = opts.progressAdd
	}
	set, err := rpm.Scan(dir, rpm.ScanOptions{
		Progress:      progress,
		Keys:          keys,
		AllowUnsigned: spec.Packages.AllowUnsigned,
		OS:            spec.Cluster.OS,
		Arch:          spec.Cluster.Arch,
		Preinstalled:  pre,
		BaseProvides:  opts.BaseProvides,
	})
	if err != nil {
		return nil, fmt.Errorf("packages in %s:\n%w", dir, err)
	}
	if !set.SignaturesChecked {
		opts.logf("warning: NO PACKAGE SIGNATURES WERE CHECKED (packages.allow_unsigned: true): only digests were verified")
	}
	for _, p := range set.Packages {
		opts.logf("    %s: %s, signature %s %s", p.Filename, p.NEVRA, p.Signature, p.KeyID)
	}
	for _, rep := range set.Reports {
		for _, w := range rep.Warnings {
			opts.logf("warning: %s: %s", filepath.Base(rep.Path), w)
		}
	}
	return set, nil
}

// rpmBytes is the size of the *.rpm files of dir, what Scan reads (0 when
// the directory cannot be listed: Scan says why).
func rpmBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".rpm") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// packageSources is the packages directory and the key files the build
// reads: the flags, else the spec's packages.dir and packages.keys.
func packageSources(spec *cluster.Spec, opts *Options) (dir string, keys []string) {
	dir = opts.PackagesDir
	if dir == "" {
		dir = spec.Path(spec.Packages.Dir)
	}
	keys = opts.Keys
	if len(keys) == 0 {
		for _, k := range spec.Packages.Keys {
			keys = append(keys, spec.Path(k))
		}
	}
	return dir, keys
}
