package cluster

import (
	"net"
	"strconv"
	"strings"
)

// ClientConnection is one way for clients to reach the cluster: a libpq
// connection URI and what it reaches.
type ClientConnection struct {
	Name string // read-write, read-only, vip-read-write, vip-read-only
	URI  string
}

// connectTimeout makes libpq give up on an unreachable host and try the
// next one within seconds (its default waits as long as the OS does).
const connectTimeout = "3"

// ClientConnections are the cluster's client connection strings, in the
// order people need them:
//
//   - read-write: every member's PostgreSQL port with
//     target_session_attrs=read-write (libpq 10 or later): libpq tries the
//     hosts in turn and keeps the one that accepts writes, the primary,
//     wherever it is;
//   - read-only: every member's HAProxy read-only port, which reaches only
//     replicas (any libpq; a host that is down is skipped);
//   - with a vip, the same through the virtual IP: its HAProxy read-write
//     port (mode haproxy) or PostgreSQL itself (mode leader), and HAProxy's
//     read-only port.
func (s *Spec) ClientConnections() []ClientConnection {
	uri := func(port int, attrs string, hosts ...string) string {
		hp := make([]string, len(hosts))
		for i, h := range hosts {
			hp[i] = net.JoinHostPort(h, strconv.Itoa(port))
		}
		q := attrs + "connect_timeout=" + connectTimeout
		return "postgresql://" + strings.Join(hp, ",") + "/postgres?" + q
	}
	addrs := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		addrs[i] = n.Address
	}
	out := []ClientConnection{
		{"read-write", uri(s.Ports.PostgreSQL, "target_session_attrs=read-write&", addrs...)},
		{"read-only", uri(s.Ports.HAProxyRO, "", addrs...)},
	}
	if s.VIP != nil {
		rw := s.Ports.HAProxyRW
		if s.VIP.Mode == VIPModeLeader {
			rw = s.Ports.PostgreSQL
		}
		out = append(out,
			ClientConnection{"vip-read-write", uri(rw, "", s.VIP.Address)},
			ClientConnection{"vip-read-only", uri(s.Ports.HAProxyRO, "", s.VIP.Address)})
	}
	return out
}

// ConnectText is the connection strings as the build writes them
// (connect.txt) and `pgha-bundle connect` prints them.
func (s *Spec) ConnectText() string {
	var b strings.Builder
	b.WriteString("# Client connection strings of cluster " + s.Cluster.Name + " (pgha-bundle; docs/cli.md, \"connect\").\n")
	b.WriteString("# libpq 10 or later. To check the servers' certificates add\n")
	b.WriteString("# &sslmode=verify-full&sslrootcert=<the cluster's CA: nodes/<node>/etc/pgha-bundle/pki/ca.crt>.\n")
	b.WriteString("# Give the user and database of your application in place of postgres.\n")
	for _, c := range s.ClientConnections() {
		b.WriteString(c.Name + " " + c.URI + "\n")
	}
	return b.String()
}
