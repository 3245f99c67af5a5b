package cluster

import (
	"net"
	"strconv"
	"strings"
)

// NodeByName returns the node with that name, or nil.
func (s *Spec) NodeByName(name string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

// Members returns the cluster members in spec order. Every node is a member
// of all three services (etcd, Patroni, HAProxy).
func (s *Spec) Members() []Node { return s.Nodes }

// FQDN is the node's fully qualified name: <name>.<cluster.domain>, or the
// bare name without a domain.
func (s *Spec) FQDN(n Node) string {
	if s.Cluster.Domain == "" {
		return n.Name
	}
	return n.Name + "." + strings.TrimSuffix(s.Cluster.Domain, ".")
}

// HostPort joins a node's address and a port, bracketing IPv6 addresses.
func HostPort(n Node, port int) string { return net.JoinHostPort(n.Address, strconv.Itoa(port)) }

// EtcdClientURL is where Patroni and etcdctl reach the node's etcd (TLS,
// client certificates required).
func (s *Spec) EtcdClientURL(n Node) string {
	return "https://" + HostPort(n, s.Ports.EtcdClient)
}

// EtcdPeerURL is where the other etcd members reach the node's etcd.
func (s *Spec) EtcdPeerURL(n Node) string {
	return "https://" + HostPort(n, s.Ports.EtcdPeer)
}

// PatroniAPIURL is the node's Patroni REST API, which HAProxy checks.
func (s *Spec) PatroniAPIURL(n Node) string {
	return "https://" + HostPort(n, s.Ports.PatroniAPI)
}

// InitialCluster is etcd's initial-cluster value of the founding members
// (the nodes without joins), name=peer-url in spec order: identical on
// every founding member, and unchanged by members joining later, whose
// rows etcd ignores once it has data.
func (s *Spec) InitialCluster() string {
	var parts []string
	for _, n := range s.Nodes {
		if !n.Joins {
			parts = append(parts, n.Name+"="+s.EtcdPeerURL(n))
		}
	}
	return strings.Join(parts, ",")
}

// InitialMembers are the etcd members node n starts with: for a founding
// member the founders; for a joining member the members etcd has once its
// own `member add` ran, as install.sh adds them (one at a time, in spec
// order): the founders, the joining nodes listed before n, and n. etcd
// refuses a joining member whose initial-cluster differs from the
// cluster's membership.
func (s *Spec) InitialMembers(n Node) []Node {
	var out []Node
	reached := false
	for _, m := range s.Nodes {
		if !m.Joins || (n.Joins && !reached) {
			out = append(out, m)
		}
		reached = reached || m.Name == n.Name
	}
	return out
}

// InitialClusterOf is etcd's initial-cluster value of node n (the rows of
// InitialMembers), and InitialClusterState its initial-cluster-state:
// existing for a joining member, else etcd.initial_cluster_state.
func (s *Spec) InitialClusterOf(n Node) string {
	ms := s.InitialMembers(n)
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Name + "=" + s.EtcdPeerURL(m)
	}
	return strings.Join(parts, ",")
}

// InitialClusterState is etcd's initial-cluster-state of node n.
func (s *Spec) InitialClusterState(n Node) string {
	if n.Joins {
		return "existing"
	}
	return s.Etcd.InitialClusterState
}

// EtcdEndpoints is every member's etcd client URL, in spec order.
func (s *Spec) EtcdEndpoints() []string {
	out := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		out[i] = s.EtcdClientURL(n)
	}
	return out
}

// EtcdHosts is every member's etcd client address as host:port, in spec
// order: the form of Patroni's etcd3.hosts.
func (s *Spec) EtcdHosts() []string {
	out := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		out[i] = HostPort(n, s.Ports.EtcdClient)
	}
	return out
}
