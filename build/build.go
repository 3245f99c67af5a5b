// Package build runs `pgha-bundle build`: spec and packages in, per-node config
// trees, install bundles and seed ISOs out, written beside the target and
// renamed into place so a failed build never leaves half an output nor loses
// the previous one.
package build

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgha-bundle/pgha-bundle/bundle"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// DefaultEpoch is the timestamp of every output when SOURCE_DATE_EPOCH is not
// set: a fixed date, so that builds are reproducible by default.
var DefaultEpoch = time.Unix(1577836800, 0).UTC() // 2020-01-01

// Options are the inputs of a build besides what the spec says.
type Options struct {
	// SpecPath is the cluster spec.
	SpecPath string
	// OutDir holds one directory per cluster: OutDir/<cluster>/.
	OutDir string
	// SecretsPath defaults to <spec without extension>.secrets.yaml beside the spec.
	SecretsPath string
	// PackagesDir and Keys override packages.dir and packages.keys of the spec.
	PackagesDir string
	Keys        []string
	// BaseProvides is `rpm -qa --provides` of the target image: the package
	// set's requires must be covered by it.
	BaseProvides string
	// SeedWithoutPackages leaves the RPMs out of the bundle a seed carries,
	// for images that already have them.
	SeedWithoutPackages bool
	// InstallArgs are passed by the seed to install.sh (e.g. an OS-check
	// override on test images). Flags only: they are logged by cloud-init.
	InstallArgs []string
	// Version is the tool's version, recorded in the manifest.
	Version string
	// Epoch stamps every output; zero means SOURCE_DATE_EPOCH or DefaultEpoch.
	Epoch time.Time
	// Log receives one line per step; nil discards.
	Log io.Writer
	// Rand generates missing secrets; nil means crypto/rand.
	Rand io.Reader
	// Now is the time certificates are checked and issued at; zero means
	// the clock.
	Now time.Time
}

// Rendered is a build before anything is written: the loaded spec, the
// verified packages and every node's payload.
type Rendered struct {
	Spec        *cluster.Spec
	Warnings    cluster.Problems
	Packages    *rpm.Set
	Secrets     *secrets.Secrets
	SecretsPath string
	Nodes       []payload.Node
}

func (o *Options) logf(format string, args ...interface{}) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// epoch is the time every output is stamped with.
func (o *Options) epoch() (time.Time, error) {
	if !o.Epoch.IsZero() {
		return o.Epoch.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil || sec < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return DefaultEpoch, nil
}

// DefaultSecretsPath is where the secrets of a spec live unless told otherwise:
// cluster.yaml -> cluster.secrets.yaml beside it.
func DefaultSecretsPath(specPath string) string {
	ext := filepath.Ext(specPath)
	return strings.TrimSuffix(specPath, ext) + ".secrets.yaml"
}

// Render loads and checks the spec, verifies the packages, loads (or, unless
// readOnly, creates) the secrets and renders every node. Nothing else is
// written: diff uses it to preview a spec.
func Render(opts Options, readOnly bool) (*Rendered, error) {
	// A seed would run install.sh with them: refuse what it does not take
	// before any work, instead of nodes that boot uninstalled.
	if err := bundle.CheckInstallArgs(opts.InstallArgs); err != nil {
		return nil, err
	}
	opts.logf("==> load spec %s", opts.SpecPath)
	spec, probs, err := cluster.Load(opts.SpecPath)
	if err != nil {
		// A *cluster.SpecError carries every problem, warnings included.
		return nil, err
	}
	r := &Rendered{Spec: spec, Warnings: probs.Warnings()}

	opts.logf("==> verify packages")
	set, err := scanPackages(spec, &opts)
	if err != nil {
		return nil, err
	}
	r.Packages = set

	major := set.Components.PostgreSQL.Major
	if spec.PostgreSQL.Major != 0 && major != 0 && spec.PostgreSQL.Major != major {
		return nil, &cluster.SpecError{Problems: append(probs, spec.ProblemAt("postgresql.major", false,
			"postgresql.major is %d but the packages carry PostgreSQL %d (%s): fix one of them",
			spec.PostgreSQL.Major, major, set.Components.PostgreSQL.Package))}
	}
	if p := set.Components.Patroni; !p.HasFailoverPriority() {
		if more := spec.CheckFailoverPriority(p.Version); len(more) > 0 {
			return nil, &cluster.SpecError{Problems: append(probs, more...)}
		}
	}
	if spec.PostgreSQL.Major == 0 {
		more := spec.CheckForMajor(major)
		if len(more.Errors()) > 0 {
			return nil, &cluster.SpecError{Problems: append(probs, more...)}
		}
		r.Warnings = append(r.Warnings, more.Warnings()...)
	}

	r.SecretsPath = opts.SecretsPath
	if r.SecretsPath == "" {
		r.SecretsPath = DefaultSecretsPath(opts.SpecPath)
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = secrets.Reader
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	want := secrets.Want{Cluster: spec.Cluster.Name, Nodes: certIdentities(spec), Now: now}
	if readOnly {
		// A preview issues what the next build would (a new node's or a
		// moved node's certificate) in memory only.
		if r.Secrets, err = secrets.Load(r.SecretsPath); err == nil {
			_, err = r.Secrets.EnsureTLS(rnd, want.Now, want.Cluster, want.Nodes)
		}
	} else {
		var created bool
		r.Secrets, created, err = secrets.LoadOrCreate(r.SecretsPath, rnd, want)
		if created {
			opts.logf("==> secrets (passwords, CA, node certificates) written to %s (mode 0600): keep it private and backed up", r.SecretsPath)
		}
	}
	if err != nil {
		return nil, err
	}

	opts.logf("==> render %d nodes", len(spec.Nodes))
	r.Nodes, err = templates.RenderAll(spec, set.Components, r.Secrets)
	if err != nil {
		return nil, err
	}
	if err := templates.CrossCheck(r.Nodes); err != nil {
		return nil, fmt.Errorf("self-check of the rendered files failed:\n%w", err)
	}
	return r, nil
}

// certIdentities lists what each node's certificate must name: its name, its
// FQDN when the network has a domain, and its address. etcd checks that a
// peer's certificate names the address its connection comes from; members
// sharing one host's loopback (cluster.allow_loopback, for tests) connect
// from 127.0.0.1 or from the address they dial, so there every certificate
// also names 127.0.0.1 and every member's address.
func certIdentities(spec *cluster.Spec) []secrets.Identity {
	ids := make([]secrets.Identity, 0, len(spec.Nodes))
	for _, n := range spec.Nodes {
		id := secrets.Identity{Name: n.Name, IPs: []string{n.Address}}
		if spec.Cluster.AllowLoopback {
			id.IPs = append(id.IPs, "127.0.0.1")
			for _, m := range spec.Nodes {
				if m.Address != n.Address {
					id.IPs = append(id.IPs, m.Address)
				}
			}
		}
		if fqdn := spec.FQDN(n); fqdn != n.Name {
			id.DNSNames = append(id.DNSNames, fqdn)
		}
		ids = append(ids, id)
	}
	return ids
}
