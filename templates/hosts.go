package templates

import (
	"bytes"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/layout"
)

// HostsBlock is the cluster's block of /etc/hosts, its marker lines
// included: one line "ADDRESS [FQDN] NAME" a member, and
// the backup host's. It is rendered here
// only: the payload carries it (layout.HostsBlock) for install.sh and
// upgrade.sh, and the seed script writes the same bytes before the bundle
// is unpacked, so the members appear once and a re-run changes nothing.
func HostsBlock(spec *cluster.Spec) []byte {
	var b bytes.Buffer
	b.WriteString(layout.HostsBegin(spec.Cluster.Name) + "\n")
	nodes := spec.Nodes
	if spec.Backup != nil && spec.Backup.Host != nil {
		nodes = append(append([]cluster.Node(nil), nodes...), spec.BackupHostNode())
	}
	for _, n := range nodes {
		b.WriteString(n.Address + " ")
		if fqdn := spec.FQDN(n); fqdn != n.Name {
			b.WriteString(fqdn + " ")
		}
		b.WriteString(n.Name + "\n")
	}
	b.WriteString(layout.HostsEnd(spec.Cluster.Name) + "\n")
	return b.Bytes()
}
