package templates

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
)

const (
	patroniPath = layout.PatroniConfig
	etcdPath    = layout.EtcdConfig
	haproxyPath = layout.HAProxyConfig
)

// parsed is what the cross-check reads back from one node's rendered files.
type parsed struct {
	node string

	etcdName, etcdPeerURL, etcdClientURL, etcdToken, etcdState string
	etcdInitial                                                map[string]string // name -> peer URL

	patroniScope, patroniName, patroniPG, patroniAPI string
	patroniEtcdHosts                                 []string

	haproxy []haproxyServer

	// TLS: the files each consumer names, by the key that names them.
	etcdTLS, patroniTLS map[string]string
	etcd3Protocol       string
}

type haproxyServer struct {
	listen, name, addr, checkPort        string
	checkSSL, verify, caFile, verifyHost string
}

// CrossCheck parses every node's rendered files back and checks that they
// agree with each other: every etcd name and peer URL is in every
// initial-cluster, Patroni's etcd3 hosts are the etcd client URLs, HAProxy's
// servers are the Patroni members and its check port is their REST port. A
// mismatch names both files.
func CrossCheck(rendered []payload.Node) error {
	var all []parsed
	var errs []error
	// The backup host runs none of the members' daemons: it must trust
	// their CA, and nothing else here concerns it.
	var nodes, hosts []payload.Node
	for _, n := range rendered {
		if _, ok := n.Lookup(layout.BackupHostKey); ok {
			hosts = append(hosts, n)
		} else {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) > 0 {
		ca, _ := nodes[0].Lookup(pki.CA)
		for _, h := range hosts {
			if hc, ok := h.Lookup(pki.CA); !ok || !bytes.Equal(hc.Content, ca.Content) {
				errs = append(errs, fmt.Errorf("nodes/%s%s: not the CA of nodes/%s", h.Name, pki.CA, nodes[0].Name))
			}
		}
	}
	for _, n := range nodes {
		p, err := parseNode(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, p)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Every node must trust the same CA: the first node's.
	if len(nodes) > 0 {
		ca, _ := nodes[0].Lookup(pki.CA)
		for i, n := range nodes {
			errs = append(errs, checkTLS(n, all[i], ca.Content)...)
		}
	}
	loc := func(node, file string) string { return "nodes/" + node + file }

	clientHosts := map[string]string{} // host:port -> node
	for _, p := range all {
		u, err := url.Parse(p.etcdClientURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: advertise-client-urls %q: %w", loc(p.node, etcdPath), p.etcdClientURL, err))
			continue
		}
		clientHosts[u.Host] = p.node
	}
	members := map[string]parsed{}
	for _, p := range all {
		members[p.patroniName] = p
	}

	byEtcdName := map[string]parsed{}
	for _, p := range all {
		byEtcdName[p.etcdName] = p
	}
	for _, p := range all {
		// A founding member (initial-cluster-state new) lists every founder;
		// a joining one (existing) every founder and itself; every entry is
		// a member with the peer URL it advertises.
		for name, got := range p.etcdInitial {
			if q, ok := byEtcdName[name]; !ok {
				errs = append(errs, fmt.Errorf("%s: initial-cluster names %s, which no node's %s is", loc(p.node, etcdPath), name, etcdPath))
			} else if got != q.etcdPeerURL {
				errs = append(errs, fmt.Errorf("%s: initial-cluster has %s=%q but %s advertises peer URL %q",
					loc(p.node, etcdPath), q.etcdName, got, loc(q.node, etcdPath), q.etcdPeerURL))
			}
		}
		if _, ok := p.etcdInitial[p.etcdName]; !ok {
			errs = append(errs, fmt.Errorf("%s: initial-cluster does not name the member itself (%s)", loc(p.node, etcdPath), p.etcdName))
		}
		for _, q := range all {
			if _, ok := p.etcdInitial[q.etcdName]; !ok && q.etcdState != "existing" {
				errs = append(errs, fmt.Errorf("%s: initial-cluster lacks the founding member %s of %s",
					loc(p.node, etcdPath), q.etcdName, loc(q.node, etcdPath)))
			}
			if p.etcdToken != q.etcdToken {
				errs = append(errs, fmt.Errorf("%s: initial-cluster-token %q differs from %q in %s",
					loc(p.node, etcdPath), p.etcdToken, q.etcdToken, loc(q.node, etcdPath)))
			}
			if p.patroniScope != q.patroniScope {
				errs = append(errs, fmt.Errorf("%s: scope %q differs from %q in %s",
					loc(p.node, patroniPath), p.patroniScope, q.patroniScope, loc(q.node, patroniPath)))
			}
		}
		if p.etcdState != "existing" {
			for name := range p.etcdInitial {
				if q, ok := byEtcdName[name]; ok && q.etcdState == "existing" {
					errs = append(errs, fmt.Errorf("%s: initial-cluster of a founding member names %s, which joins (%s)",
						loc(p.node, etcdPath), name, loc(q.node, etcdPath)))
				}
			}
		}

		hosts := append([]string(nil), p.patroniEtcdHosts...)
		sort.Strings(hosts)
		var want []string
		for h := range clientHosts {
			want = append(want, h)
		}
		sort.Strings(want)
		if strings.Join(hosts, ",") != strings.Join(want, ",") {
			errs = append(errs, fmt.Errorf("%s: etcd3 hosts %v are not the etcd client URLs %v of the %s files",
				loc(p.node, patroniPath), hosts, want, etcdPath))
		}

		seen := map[string]map[string]bool{}
		for _, s := range p.haproxy {
			m, ok := members[s.name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: server %s in listen %s is not a Patroni member (no %s names it)",
					loc(p.node, haproxyPath), s.name, s.listen, patroniPath))
				continue
			case s.addr != m.patroniPG:
				errs = append(errs, fmt.Errorf("%s: server %s points at %s but %s has postgresql.connect_address %s",
					loc(p.node, haproxyPath), s.name, s.addr, loc(m.node, patroniPath), m.patroniPG))
			}
			if _, apiPort, _ := net.SplitHostPort(m.patroniAPI); s.checkPort != apiPort {
				errs = append(errs, fmt.Errorf("%s: server %s checks port %s but %s has the REST API on %s",
					loc(p.node, haproxyPath), s.name, s.checkPort, loc(m.node, patroniPath), m.patroniAPI))
			}
			if seen[s.listen] == nil {
				seen[s.listen] = map[string]bool{}
			}
			seen[s.listen][s.name] = true
		}
		for _, l := range []string{"primary", "replicas"} {
			if len(seen[l]) != len(members) {
				errs = append(errs, fmt.Errorf("%s: listen %s has %d servers, the cluster has %d Patroni members",
					loc(p.node, haproxyPath), l, len(seen[l]), len(members)))
			}
		}
	}
	return errors.Join(errs...)
}

func parseNode(n payload.Node) (parsed, error) {
	p := parsed{node: n.Name}
	get := func(path string) ([]byte, error) {
		f, ok := n.Lookup(path)
		if !ok {
			return nil, fmt.Errorf("nodes/%s%s: missing from the payload", n.Name, path)
		}
		return f.Content, nil
	}

	raw, err := get(etcdPath)
	if err != nil {
		return p, err
	}
	type transport struct {
		Cert       string `yaml:"cert-file"`
		Key        string `yaml:"key-file"`
		CA         string `yaml:"trusted-ca-file"`
		ClientAuth bool   `yaml:"client-cert-auth"`
	}
	var etcd struct {
		Name    string    `yaml:"name"`
		Peer    string    `yaml:"initial-advertise-peer-urls"`
		Client  string    `yaml:"advertise-client-urls"`
		Initial string    `yaml:"initial-cluster"`
		Token   string    `yaml:"initial-cluster-token"`
		State   string    `yaml:"initial-cluster-state"`
		ClientT transport `yaml:"client-transport-security"`
		PeerT   transport `yaml:"peer-transport-security"`
	}
	if err := yaml.Unmarshal(raw, &etcd); err != nil {
		return p, fmt.Errorf("nodes/%s%s: %w", n.Name, etcdPath, err)
	}
	p.etcdName, p.etcdPeerURL, p.etcdClientURL, p.etcdToken, p.etcdState = etcd.Name, etcd.Peer, etcd.Client, etcd.Token, etcd.State
	p.etcdTLS = map[string]string{
		"client-transport-security.cert-file": etcd.ClientT.Cert, "client-transport-security.key-file": etcd.ClientT.Key,
		"client-transport-security.trusted-ca-file": etcd.ClientT.CA,
		"peer-transport-security.cert-file":         etcd.PeerT.Cert, "peer-transport-security.key-file": etcd.PeerT.Key,
		"peer-transport-security.trusted-ca-file": etcd.PeerT.CA,
	}
	if !etcd.ClientT.ClientAuth || !etcd.PeerT.ClientAuth {
		p.etcdTLS["client-cert-auth"] = "" // reported as unset
	}
	p.etcdInitial = map[string]string{}
	for _, kv := range strings.Split(etcd.Initial, ",") {
		name, u, _ := strings.Cut(kv, "=")
		p.etcdInitial[name] = u
	}

	raw, err = get(patroniPath)
	if err != nil {
		return p, err
	}
	var pat struct {
		Scope   string `yaml:"scope"`
		Name    string `yaml:"name"`
		RestAPI struct {
			Connect string `yaml:"connect_address"`
			Cert    string `yaml:"certfile"`
			Key     string `yaml:"keyfile"`
			CA      string `yaml:"cafile"`
		} `yaml:"restapi"`
		Ctl struct {
			CA string `yaml:"cacert"`
		} `yaml:"ctl"`
		Etcd3 struct {
			Hosts    []string `yaml:"hosts"`
			Protocol string   `yaml:"protocol"`
			CA       string   `yaml:"cacert"`
			Cert     string   `yaml:"cert"`
			Key      string   `yaml:"key"`
		} `yaml:"etcd3"`
		PostgreSQL struct {
			Connect    string                 `yaml:"connect_address"`
			Parameters map[string]interface{} `yaml:"parameters"`
		} `yaml:"postgresql"`
	}
	if err := yaml.Unmarshal(raw, &pat); err != nil {
		return p, fmt.Errorf("nodes/%s%s: %w", n.Name, patroniPath, err)
	}
	p.patroniScope, p.patroniName = pat.Scope, pat.Name
	p.patroniAPI, p.patroniPG, p.patroniEtcdHosts = pat.RestAPI.Connect, pat.PostgreSQL.Connect, pat.Etcd3.Hosts
	p.etcd3Protocol = pat.Etcd3.Protocol
	p.patroniTLS = map[string]string{
		"restapi.certfile": pat.RestAPI.Cert, "restapi.keyfile": pat.RestAPI.Key, "restapi.cafile": pat.RestAPI.CA,
		"ctl.cacert": pat.Ctl.CA, "etcd3.cacert": pat.Etcd3.CA, "etcd3.cert": pat.Etcd3.Cert, "etcd3.key": pat.Etcd3.Key,
	}
	// PostgreSQL's own TLS files, when the node sets them (local parameters).
	for _, k := range []string{"ssl_cert_file", "ssl_key_file"} {
		if v, ok := pat.PostgreSQL.Parameters[k]; ok {
			p.patroniTLS["postgresql.parameters."+k] = fmt.Sprint(v)
		}
	}

	raw, err = get(haproxyPath)
	if err != nil {
		return p, err
	}
	p.haproxy = parseHAProxyServers(raw)
	return p, nil
}

// parseHAProxyServers reads the server lines of each listen section.
func parseHAProxyServers(cfg []byte) []haproxyServer {
	var out []haproxyServer
	listen := ""
	sc := bufio.NewScanner(bytes.NewReader(cfg))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "listen", "frontend", "backend", "global", "defaults":
			listen = ""
			if len(f) > 1 {
				listen = f[1]
			}
		case "server":
			if len(f) < 3 {
				continue
			}
			s := haproxyServer{listen: listen, name: f[1], addr: f[2]}
			for i := 3; i < len(f); i++ {
				next := ""
				if i+1 < len(f) {
					next = f[i+1]
				}
				switch f[i] {
				case "port":
					s.checkPort = next
				case "check-ssl":
					s.checkSSL = "check-ssl"
				case "verify":
					s.verify = next
				case "ca-file":
					s.caFile = next
				case "verifyhost":
					s.verifyHost = next
				}
			}
			out = append(out, s)
		}
	}
	return out
}
