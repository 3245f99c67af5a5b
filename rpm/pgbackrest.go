package rpm

import (
	"fmt"
	"strings"
)

// PgBackRestComponent is pgBackRest, which takes the cluster's backups and
// archives its WAL. It is optional: only clusters with a backup section
// need it, and the renderer says so when it is missing.
type PgBackRestComponent struct {
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	Bin     string `json:"bin"`
}

// MinPgBackRestTLS is the first pgBackRest with its TLS server
// (repo1-host-type=tls, pg1-host-type=tls): a repository on a backup host
// reached without SSH needs it.
const MinPgBackRestTLS = "2.37"

// CheckTLSRepo refuses a pgBackRest too old to reach a repository over its
// TLS server. An unknown version (a preinstalled one) passes: the node's
// `pgbackrest check` then says. A repository on a POSIX path needs no
// gate: every supported release serves it.
func (p PgBackRestComponent) CheckTLSRepo() error {
	if VersionBefore(p.Version, MinPgBackRestTLS) {
		return fmt.Errorf("backup: pgBackRest %s (%s) has no TLS server, which a repository on a backup host needs: ship pgbackrest %s or later", p.Version, p.Package, MinPgBackRestTLS)
	}
	return nil
}

// findPgBackRest finds the package installing pgbackrest in a bin
// directory: nil when no package does, an error when several do.
func findPgBackRest(owner map[string][]*Package) (*PgBackRestComponent, error) {
	cands := binDirsOnly(dirsWith(owner, "pgbackrest"))
	if len(cands) == 0 {
		return nil, nil
	}
	cand, _, err := pick("pgBackRest (pgbackrest)", cands, "")
	if err != nil {
		return nil, err
	}
	return &PgBackRestComponent{Package: cand.pkg.NEVRA, Version: cand.pkg.Version, Bin: cand.dir + "/pgbackrest"}, nil
}

// NeedPgBackRest is the error of a cluster with a backup section whose
// packages hold no pgBackRest.
func NeedPgBackRest() error {
	return fmt.Errorf("backup: no package installs pgbackrest, which takes the backups and archives the WAL: add the pgbackrest RPM (PostgreSQL's PGDG repository, %s or later) and the libraries it requires to the packages directory, or remove the backup section", "2.37")
}

// PgBackRestPackages is what a backup host installs from the set:
// pgBackRest's package and, transitively, every package of the set that
// provides one of its requirements (PGDG's pgbackrest needs libpq, which
// the set's PostgreSQL libraries may carry). Requirements no package of the
// set provides are the base OS's, as for the members. Set order is kept;
// nil when the set has no pgBackRest.
func PgBackRestPackages(set *Set) []Package {
	c := set.Components.PgBackRest
	if c == nil || c.Package == "" {
		return nil
	}
	want := map[int]bool{}
	var queue []int
	for i, p := range set.Packages {
		if p.NEVRA == c.Package {
			want[i] = true
			queue = append(queue, i)
		}
	}
	for len(queue) > 0 {
		p := set.Packages[queue[0]]
		queue = queue[1:]
		if p.Info == nil {
			continue
		}
		for _, r := range p.Info.Requires {
			if r.Flags&senseRPMLib != 0 || strings.HasPrefix(r.Name, "rpmlib(") {
				continue
			}
			for j, q := range set.Packages {
				if want[j] || q.Info == nil || !provides(q.Info, r) {
					continue
				}
				want[j] = true
				queue = append(queue, j)
			}
		}
	}
	var out []Package
	for i, p := range set.Packages {
		if want[i] {
			out = append(out, p)
		}
	}
	return out
}

// provides reports whether a package satisfies a requirement: by a
// capability, or by a file it installs.
func provides(i *Info, r Capability) bool {
	if strings.HasPrefix(r.Name, "/") {
		for _, f := range i.Files {
			if f.Path == r.Name {
				return true
			}
		}
	}
	var caps []Capability
	for _, c := range i.Provides {
		if c.Name == r.Name {
			caps = append(caps, c)
		}
	}
	return satisfied(r, caps)
}
