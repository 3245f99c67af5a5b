// Package pipeline runs `pgha-bundle build`: spec and packages in, per-node config
// trees, install bundles and seed ISOs out, written beside the target and
// renamed into place so a failed build never leaves half an output nor loses
// the previous one. Its other entry point, Preview, renders the same nodes in
// memory with no side effect (diff's spec side, a future plan).
package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pgha-bundle/pgha-bundle/bundle"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// DefaultEpoch is the timestamp of every output when SOURCE_DATE_EPOCH is not
// set: a fixed date, so that builds are reproducible by default.
var DefaultEpoch = time.Unix(1577836800, 0).UTC() // 2020-01-01

// Options are the inputs of a build besides what the spec says.
type Options struct {
	// SpecPath is the cluster spec.
	SpecPath string
	// SpecData, when not nil, is the spec itself (read from standard
	// input): SpecPath then only names it in problems and the manifest,
	// its relative paths are relative to the working directory, and
	// SecretsPath must be set.
	SpecData []byte
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
	// PackagesMedia is where the packages go: per-node (the default, also
	// "") into every node's bundle and seed, or shared into one packages
	// media (media/<cluster>-packages.iso and .tar) that every node's
	// bundle and seed name by digest.
	PackagesMedia string
	// InstallArgs are passed by the seed to install.sh (e.g. an OS-check
	// override on test images). Flags only: they are logged by cloud-init.
	InstallArgs []string
	// Version is the tool's version, recorded in the manifest.
	Version string
	// Epoch stamps every output; zero means SOURCE_DATE_EPOCH or DefaultEpoch.
	Epoch time.Time
	// Log receives one line per step; nil discards.
	Log io.Writer
	// Progress, when not nil, is told the bytes of the long steps as they
	// go: the packages verified, each bundle and seed written.
	Progress Progress
	// Rand generates missing secrets; nil means crypto/rand.
	Rand io.Reader
	// Now is the time certificates are checked and issued at; zero means
	// the clock.
	Now time.Time
	// Context stops the build when done (the CLI ends it on SIGINT and
	// SIGTERM): the temporary directory is removed and Run returns an
	// *InterruptedError. Nil means never.
	Context context.Context
	// Wait makes a build wait for another one running into the same
	// OUT/<cluster>, instead of failing at once.
	Wait bool

	// prepare runs once the spec is loaded, before any other work: Run
	// takes the output there.
	prepare func(*cluster.Spec) error
	// step is called at each named step of Run (tests kill builds there).
	step func(name string)
	// LockWait bounds how long a build waits for another build of the same
	// secrets file; zero means secrets.DefaultLockWait.
	LockWait time.Duration

	// afterSecretsRead, set by tests only, runs between reading the secrets
	// file and writing it.
	afterSecretsRead func()
}

// The values of Options.PackagesMedia.
const (
	MediaPerNode = "per-node"
	MediaShared  = "shared"
)

// shared reports a build that writes one packages media for every node.
func (o *Options) shared() bool { return o.PackagesMedia == MediaShared }

// checkPackagesMedia refuses a PackagesMedia value or combination the
// build does not know.
func (o *Options) checkPackagesMedia() error {
	switch o.PackagesMedia {
	case "", MediaPerNode:
	case MediaShared:
		if o.SeedWithoutPackages {
			return fmt.Errorf("--seed-without-packages and --packages-media %s do not go together: no seed of a shared-media build carries packages", MediaShared)
		}
	default:
		return fmt.Errorf("--packages-media %q: want %s (the packages in every bundle and seed) or %s (one packages ISO and tarball for every node)", o.PackagesMedia, MediaPerNode, MediaShared)
	}
	return nil
}

// Progress follows the long steps of a build: Start begins one (total is
// 0 when not known beforehand), Add counts bytes done.
type Progress interface {
	Start(label string, total int64)
	Add(n int64)
}

func (o *Options) progressStart(label string, total int64) {
	if o.Progress != nil {
		o.Progress.Start(label, total)
	}
}

func (o *Options) progressAdd(n int64) {
	if o.Progress != nil {
		o.Progress.Add(n)
	}
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

	// secretsFile is the locked secrets file of a build: held until its
	// output is in place (release).
	secretsFile *secrets.File
	// want is what the secrets must hold for the spec, rnd what is missing
	// is generated from: set by load.
	want secrets.Want
	rnd  io.Reader
}

// release unlocks the secrets file. Run calls it once the output is in place.
func (r *Rendered) release() {
	if r != nil {
		r.secretsFile.Close()
		r.secretsFile = nil
	}
}

// logMu serialises the log: nodes are written in parallel.
var logMu sync.Mutex

func (o *Options) logf(format string, args ...interface{}) {
	if o.Log != nil {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// stepMu serialises the step hook: nodes are written in parallel.
var stepMu sync.Mutex

func (o *Options) stepf(name string) {
	if o.step != nil {
		stepMu.Lock()
		defer stepMu.Unlock()
		o.step(name)
	}
}

func (o *Options) ctx() context.Context {
	if o.Context == nil {
		return context.Background()
	}
	return o.Context
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

// msgPatroniLeaderKey warns of a Patroni before 3.0.3 (version, package).
const msgPatroniLeaderKey = "the packages carry Patroni %s (%s), older than 3.0.3: a leader cut off from etcd past its ttl may write its name back over the leader key a new leader took (patroni/patroni#2689), two primaries at once that can lose acknowledged writes; put Patroni 3.0.3 or later in packages.dir and roll it out with upgrade.sh"

// load is what Preview and render share before the secrets: the spec (the
// prepare hook runs on it), the packages checked against it, the secrets
// path and what the secrets must hold (want, rnd).
func load(opts Options) (*Rendered, error) {
	// A seed would run install.sh with them: refuse what it does not take
	// before any work, instead of nodes that boot uninstalled.
	if err := bundle.CheckInstallArgs(opts.InstallArgs); err != nil {
		return nil, err
	}
	if err := opts.checkPackagesMedia(); err != nil {
		return nil, err
	}
	opts.logf("==> load spec %s", opts.SpecPath)
	spec, probs, err := loadSpec(&opts)
	if err != nil {
		// A *cluster.SpecError carries every problem, warnings included.
		return nil, err
	}
	r := &Rendered{Spec: spec, Warnings: probs.Warnings()}
	if opts.prepare != nil {
		if err := opts.prepare(spec); err != nil {
			return nil, err
		}
	}

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
	// The backups need pgBackRest among the packages: say so before the
	// secrets are read (validate --packages says it too).
	if spec.Backup != nil && set.Components.PgBackRest == nil {
		return nil, &cluster.SpecError{Problems: append(probs.Errors(), spec.ProblemAt("backup", false, "%s", rpm.NeedPgBackRest()))}
	}
	if b := spec.Backup; b != nil && b.Host != nil {
		if err := set.Components.PgBackRest.CheckTLSRepo(); err != nil {
			return nil, &cluster.SpecError{Problems: append(probs.Errors(), spec.ProblemAt("backup.host", false, "%s", err))}
		}
	}
	if p := set.Components.Patroni; p.RewritesLeaderKey() {
		r.Warnings = append(r.Warnings, spec.ProblemAt("packages.dir", true, msgPatroniLeaderKey, p.Version, p.Package))
	}
	if spec.PostgreSQL.Major == 0 {
		more := spec.CheckForMajor(major)
		if len(more.Errors()) > 0 {
			return nil, &cluster.SpecError{Problems: append(probs, more...)}
		}
		r.Warnings = append(r.Warnings, more.Warnings()...)
	}

	r.SecretsPath = opts.SecretsPath
	if r.SecretsPath == "" && opts.SpecData == nil {
		r.SecretsPath = DefaultSecretsPath(opts.SpecPath)
	}
	rnd, now := randAndClock(opts.Rand, opts.Now)
	r.want = secretsWant(spec, now)
	r.rnd = rnd
	return r, nil
}

// CheckPackages is what build checks before it reads the secrets: the spec,
// then the packages verified and checked against it (PostgreSQL major,
// the components' paths, the Patroni version gates), the same code build
// runs. It writes, creates and locks nothing: validate --packages. The
// secrets of the result are not loaded; its SecretsPath is empty for a
// spec read from SpecData without one.
func CheckPackages(opts Options) (*Rendered, error) {
	return load(opts)
}

// errNoSecretsPath refuses to render a spec read from SpecData without a
// secrets file named: none lies beside it.
func errNoSecretsPath(opts *Options) error {
	return fmt.Errorf("spec %s: a spec that is not a file has no secrets file beside it: name one with --secrets", opts.SpecPath)
}

// loadSpec loads the spec from SpecData, or else from the file SpecPath.
func loadSpec(opts *Options) (*cluster.Spec, cluster.Problems, error) {
	if opts.SpecData != nil {
		return cluster.Parse(opts.SpecPath, opts.SpecData)
	}
	return cluster.Load(opts.SpecPath)
}

// loadSecrets locks the secrets file (the lock stays in r), loads it or makes
// a new cluster's, and writes what changed, saying what that was.
func (r *Rendered) loadSecrets(opts *Options, rnd io.Reader, want secrets.Want) error {
	wait := opts.LockWait
	if wait == 0 {
		wait = secrets.DefaultLockWait
	}
	f, err := secrets.Lock(r.SecretsPath, wait, opts.logf)
	if err != nil {
		return err
	}
	r.secretsFile = f
	s, rep, err := f.Load(rnd, want)
	if err != nil {
		return err
	}
	if opts.afterSecretsRead != nil {
		opts.afterSecretsRead()
	}
	if rep.Changed() {
		if err := f.Save(s); err != nil {
			return err
		}
	}
	path := f.Path()
	switch {
	case rep.New:
		opts.logf("==> new cluster: generated its passwords, CA and node certificates into %s (mode 0600): keep it private and backed up; every later build reuses it", path)
	case rep.Changed():
		if len(rep.Filled) > 0 {
			opts.logf("==> secrets %s: filled in what this older file lacked: %s", path, strings.Join(rep.Filled, ", "))
		}
		if len(rep.Issued) > 0 {
			opts.logf("==> secrets %s: issued certificates for %s under the cluster's CA", path, strings.Join(rep.Issued, ", "))
		}
		if len(rep.Dropped) > 0 {
			opts.logf("==> secrets %s: removed the certificates of %s, no longer in the spec", path, strings.Join(rep.Dropped, ", "))
		}
		opts.logf("==> secrets %s updated; its previous version is kept at %s", path, secrets.PrevPath(path))
	}
	if want.Backup && (rep.New || slices.Contains(rep.Filled, "backup_cipher_pass")) {
		opts.logf("==> secrets %s now holds backup_cipher_pass, the only key to the encrypted backups: keep a copy of the file apart from the backup repository", path)
	}
	r.Secrets = s
	return nil
}

// certIdentities gives secrets.NodeIdentities, the certificate-name policy,
// the plain facts of the spec's nodes.
func certIdentities(spec *cluster.Spec) []secrets.Identity {
	members := make([]secrets.Member, 0, len(spec.Nodes))
	for _, n := range spec.Nodes {
		members = append(members, secrets.Member{Name: n.Name, FQDN: spec.FQDN(n), Address: n.Address})
	}
	// The backup host's certificate is the cluster CA's like the members'.
	if b := spec.Backup; b != nil && b.Host != nil {
		h := spec.BackupHostNode()
		members = append(members, secrets.Member{Name: h.Name, FQDN: spec.FQDN(h), Address: h.Address})
	}
	// Test-only widening: cluster.allow_loopback is accepted for clusters
	// sharing one host's loopback (the end-to-end tests), never a real one.
	ids := secrets.NodeIdentities(members, spec.Cluster.AllowLoopback)
	if spec.VIP != nil {
		ids = secrets.WithVIP(ids, spec.VIP.Address)
	}
	return ids
}

// randAndClock gives the randomness and the time secrets are made with:
// the caller's (tests), else crypto/rand and the clock.
// secretsWant is what a build of spec needs in its secrets file.
func secretsWant(spec *cluster.Spec, now time.Time) secrets.Want {
	return secrets.Want{Cluster: spec.Cluster.Name, Nodes: certIdentities(spec), Now: now, VRRP: spec.VIP != nil, Backup: spec.Backup.Encrypted()}
}

func randAndClock(rnd io.Reader, now time.Time) (io.Reader, time.Time) {
	if rnd == nil {
		rnd = secrets.Reader
	}
	if now.IsZero() {
		now = time.Now()
	}
	return rnd, now
}
