package diff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/layout"
)

// ConsequenceKind names a change that needs an action beyond new files.
type ConsequenceKind string

// The consequences diff calls out.
const (
	// EtcdMembership: a node added or removed; etcd does not learn it from
	// a config file once the cluster runs.
	EtcdMembership ConsequenceKind = "etcd-membership"
	// PatroniDCS: bootstrap.dcs changed; Patroni reads it only when the
	// cluster is first initialised.
	PatroniDCS ConsequenceKind = "patroni-dcs"
	// FirstBoot: the seed's instance-id changed; cloud-init runs the first
	// boot again (users, write_files, runcmd) on a live node.
	FirstBoot ConsequenceKind = "first-boot"
	// PackageVersion: an RPM is added, removed or at another version.
	PackageVersion ConsequenceKind = "package"
	// TrustChange: the cluster's CA changed; members trust only one CA.
	TrustChange ConsequenceKind = "ca"
)

// Consequence is one action a change needs, on the nodes listed.
type Consequence struct {
	Kind    ConsequenceKind `json:"kind"`
	Nodes   []string        `json:"nodes"`
	Path    string          `json:"path,omitempty"`
	Message string          `json:"message"`
}

const (
	patroniYML  = layout.PatroniConfig
	dcsYML      = layout.DCSConfig
	etcdConfYML = layout.EtcdConfig
	metaData    = seedPrefix + "meta-data"
	caCrt       = layout.CA
)

var kindOrder = map[ConsequenceKind]int{TrustChange: 0, EtcdMembership: 1, PatroniDCS: 2, FirstBoot: 3, PackageVersion: 4}

// consequences reads them off a result; nodes of the same consequence are
// listed together.
func consequences(res *Result, an, bn map[string]*Node) []Consequence {
	type key struct {
		kind          ConsequenceKind
		path, message string
	}
	groups := map[key][]string{}
	add := func(k ConsequenceKind, node, path, msg string) {
		kk := key{k, path, msg}
		groups[kk] = append(groups[kk], node)
	}
	for _, nd := range res.Nodes {
		switch nd.Status {
		case Added:
			if joins(bn[nd.Name]) {
				add(EtcdMembership, nd.Name, "", fmt.Sprintf(
					"node joins: run upgrade.sh of this build on the running members first (their pg_hba, firewall and HAProxy then admit it), "+
						"then install.sh on %s, which runs the etcd member add itself (one member at a time, in the spec's order; "+
						"by hand: on a running member `%s member add %s --peer-urls=%s` before the node first starts)",
					nd.Name, etcdctlOnMember, nd.Name, peerURLs(bn[nd.Name])))
			} else {
				add(EtcdMembership, nd.Name, "", fmt.Sprintf(
					"node added without nodes[].joins: its etcd would found a new cluster; mark it joins: true, or on a running member run `%s member add %s --peer-urls=%s` and set etcd.initial_cluster_state: existing before the node first starts",
					etcdctlOnMember, nd.Name, peerURLs(bn[nd.Name])))
			}
			continue
		case Removed:
			add(EtcdMembership, nd.Name, "", fmt.Sprintf(
				"node removed: run uninstall.sh on %s first, which removes it from etcd (refusing when the others would lose the quorum), "+
					"then upgrade.sh of this build on the remaining members (by hand: on a running member `%s member remove <ID>`, the ID of %s in `member list`)",
				nd.Name, etcdctlOnMember, nd.Name))
			continue
		}
		for _, fd := range nd.Files {
			switch {
			case fd.Path == dcsYML && fd.Status == Changed && fd.Content != "":
				add(PatroniDCS, nd.Name, fd.Path, dcsMessage)
			case fd.Path == patroniYML && anyKey(fd.Keys, "bootstrap.dcs"):
				add(PatroniDCS, nd.Name, fd.Path, dcsMessage)
			case fd.Path == caCrt && fd.Status == Changed:
				add(TrustChange, nd.Name, fd.Path, caMessage)
			case fd.Path == caCrt && fd.Status == Added:
				add(TrustChange, nd.Name, fd.Path, tlsOnMessage)
			case fd.Path == metaData && anyKey(fd.Keys, "instance-id"):
				add(FirstBoot, nd.Name, fd.Path,
					"instance-id changed: cloud-init will run the node's first boot again (users, write_files, runcmd) when it boots with the new seed")
			}
		}
		for _, p := range nd.Packages {
			add(PackageVersion, nd.Name, "", fmt.Sprintf(
				"package %s %s → %s: upgrade.sh applies it one node at a time (replicas first, the leader after a switchover)",
				p.Name, orNone(p.Old), orNone(p.New)))
		}
	}
	out := make([]Consequence, 0, len(groups))
	for k, nodes := range groups {
		sort.Strings(nodes)
		out = append(out, Consequence{Kind: k.kind, Nodes: nodes, Path: k.path, Message: k.message})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if a.Message != b.Message {
			return a.Message < b.Message
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return strings.Join(a.Nodes, ",") < strings.Join(b.Nodes, ",")
	})
	return out
}

const caMessage = "the cluster's CA changed (a new secrets file?): a member trusts only one CA, so members " +
	"upgraded one by one refuse the others (etcd peers, HAProxy checks); install the new bundles on every " +
	"node together, or build with the previous secrets file"

const tlsOnMessage = "TLS between the members turned on: a running cluster cannot switch one node at a time " +
	"(etcd keeps its http:// peer URLs), and upgrade.sh refuses it; see 'Moving a cluster to TLS' in docs/layout.md"

// etcdctlOnMember is etcdctl as a member runs it (as root): the endpoints
// its facts list, the cluster's CA and its client certificate.
const etcdctlOnMember = `ETCDCTL_API=3 etcdctl --endpoints="$(awk '$1 == "etcd_endpoints" { print $2 }' ` + layout.NodeFacts + `)" ` +
	`--cacert ` + layout.CA + ` --cert ` + layout.Cert + ` --key ` + layout.EtcdKey

const dcsMessage = "bootstrap.dcs changed: Patroni reads it only when the cluster is first initialised; " +
	"on a running cluster apply it with upgrade.sh (patronictl edit-config)"

func anyKey(keys []KeyChange, prefix string) bool {
	for _, k := range keys {
		if hasKeyPrefix(k.Key, prefix) {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// peerURLs reads the new node's advertised peer URLs from its etcd config,
// so the member add command can be run as printed.
// joins reports whether the node's etcd joins a running cluster
// (initial-cluster-state existing: nodes[].joins).
func joins(n *Node) bool {
	if n != nil {
		for _, f := range n.Files {
			if f.Path != etcdConfYML {
				continue
			}
			if v, ok := parseYAML(f.Content); ok {
				if m, ok := v.(map[string]any); ok {
					return m["initial-cluster-state"] == "existing"
				}
			}
		}
	}
	return false
}

func peerURLs(n *Node) string {
	if n != nil {
		for _, f := range n.Files {
			if f.Path != etcdConfYML {
				continue
			}
			if v, ok := parseYAML(f.Content); ok {
				if m, ok := v.(map[string]any); ok {
					if u, ok := m["initial-advertise-peer-urls"].(string); ok && u != "" {
						return u
					}
				}
			}
		}
	}
	return "<its peer URL>"
}
