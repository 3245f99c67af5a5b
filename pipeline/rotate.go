package pipeline

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// Rotation is what `secrets rotate` asks: which passwords (names of
// secrets.Rotatable) and which nodes' certificates to make anew in the
// secrets file of a spec.
type Rotation struct {
	Spec        *cluster.Spec
	SecretsPath string
	Passwords   []string
	Nodes       []string
	// Rand is crypto/rand's reader unless a test sets it; Now is the time
	// a reissued certificate is valid from (time.Now when zero).
	Rand io.Reader
	Now  time.Time
}

// RotateSecrets makes anew what r names in the existing secrets file of
// r.Spec's cluster (secrets.Rotate: atomic, 0600, previous version kept). A
// node certificate is reissued from the cluster's CA with the names the
// spec gives the node. The running cluster takes the new values from the
// next build, through upgrade.sh on every member (docs/operations.md).
func RotateSecrets(r Rotation) (secrets.RotateReport, error) {
	if err := secrets.CheckRotatable(r.Passwords); err != nil {
		return secrets.RotateReport{}, err
	}
	ids := certIdentities(r.Spec)
	var nodes []secrets.Identity
	for _, name := range r.Nodes {
		i := slices.IndexFunc(ids, func(id secrets.Identity) bool { return id.Name == name })
		if i < 0 {
			return secrets.RotateReport{}, fmt.Errorf("--node-cert %s: the spec has no node %q", name, name)
		}
		nodes = append(nodes, ids[i])
	}
	rnd, now := randAndClock(r.Rand, r.Now)
	return secrets.Rotate(r.SecretsPath, rnd, secrets.Rotation{
		Cluster: r.Spec.Cluster.Name, Passwords: r.Passwords, Nodes: nodes, Now: now,
	})
}
