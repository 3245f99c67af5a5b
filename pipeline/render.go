package pipeline

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
	"github.com/pgha-bundle/pgha-bundle/templates"
)

// Preview loads and checks the spec, verifies the packages, loads the
// existing secrets file and renders every node, issuing in memory what a
// build would (a new or moved node's certificate). It has no side effect: it
// writes, creates and locks nothing, so diff's spec side can call it on a
// cluster that is being built. A missing secrets file is an error, since
// only a build creates one.
func Preview(opts Options) (*Rendered, error) {
	r, err := load(opts)
	if err != nil {
		return nil, err
	}
	if r.SecretsPath == "" {
		return nil, errNoSecretsPath(&opts)
	}
	r.Secrets, _, err = secrets.Preview(r.SecretsPath, r.rnd, r.want)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no secrets file %s: a spec is previewed with its cluster's secrets file, which only build creates; name it with --secrets, or build the spec once", r.SecretsPath)
	}
	if err != nil {
		return nil, err
	}
	if err := r.renderNodes(&opts); err != nil {
		return nil, err
	}
	return r, nil
}

// render is the build's rendering: as Preview, but the secrets file is
// locked, created or completed on disk, and stays locked in the result until
// its release, so that Run holds it until the output is in place.
func render(opts Options) (*Rendered, error) {
	r, err := load(opts)
	if err != nil {
		return nil, err
	}
	if r.SecretsPath == "" {
		return nil, errNoSecretsPath(&opts)
	}
	if err := r.loadSecrets(&opts, r.rnd, r.want); err != nil {
		r.release()
		return nil, err
	}
	if err := r.renderNodes(&opts); err != nil {
		r.release()
		return nil, err
	}
	return r, nil
}

// renderNodes renders every node of r with its secrets and checks the result.
func (r *Rendered) renderNodes(opts *Options) error {
	if b := r.Spec.Backup; b != nil && b.Host != nil {
		opts.logf("==> render %d nodes and the backup host", len(r.Spec.Nodes))
	} else {
		opts.logf("==> render %d nodes", len(r.Spec.Nodes))
	}
	var err error
	r.Nodes, err = templates.RenderAll(r.Spec, r.Packages.Components, r.Secrets)
	if err != nil {
		return err
	}
	if err := templates.CrossCheck(r.Nodes); err != nil {
		return fmt.Errorf("self-check of the rendered files failed:\n%w", err)
	}
	return nil
}

// PackagesOf is what a node's bundle carries and install.sh installs: the
// whole set on a member; on the backup host pgBackRest's package and what
// it requires of the set.
func (r *Rendered) PackagesOf(node string) []rpm.Package {
	if b := r.Spec.Backup; b != nil && b.Host != nil && node == b.Host.Name {
		return rpm.PgBackRestPackages(r.Packages)
	}
	return r.Packages.Packages
}
