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

// InitialCluster is etcd's initial-cluster value, name=peer-url for every
// member in spec order; it must be identical on every member.
func (s *Spec) InitialCluster() string {
	parts := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		parts[i] = n.Name + "=" + s.EtcdPeerURL(n)
	}
	return strings.Join(parts, ",")
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
