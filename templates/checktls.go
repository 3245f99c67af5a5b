package templates

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

// checkTLS checks one node's TLS wiring: every file a config names is in the
// payload, private keys are 0600 and owned by the daemon that reads them, the
// node certificate is signed by the CA every config trusts, matches its key,
// serves and authenticates clients, and names every address the node
// advertises; etcd, Patroni and HAProxy's checks all speak TLS.
func checkTLS(n payload.Node, p parsed, ca []byte) []error {
	var errs []error
	at := func(file string) string { return "nodes/" + n.Name + file }
	bad := func(file, format string, args ...interface{}) {
		errs = append(errs, fmt.Errorf("%s: %s", at(file), fmt.Sprintf(format, args...)))
	}

	type use struct{ file, key, path, owner string }
	var uses []use
	for _, k := range sortedKeys(p.etcdTLS) {
		if k == "client-cert-auth" {
			bad(etcdPath, "client-cert-auth must be true on both transports: without it etcd accepts any client")
			continue
		}
		uses = append(uses, use{etcdPath, k, p.etcdTLS[k], "etcd"})
	}
	for _, k := range sortedKeys(p.patroniTLS) {
		uses = append(uses, use{patroniPath, k, p.patroniTLS[k], "postgres"})
	}
	for _, s := range p.haproxy {
		if s.checkSSL == "" || s.verify != "required" {
			bad(haproxyPath, "server %s in listen %s must check with check-ssl and verify required: Patroni's REST API speaks HTTPS", s.name, s.listen)
		}
		if s.verifyHost != s.name {
			bad(haproxyPath, "server %s in listen %s must check with verifyhost %s (got %q): any member's certificate would pass otherwise", s.name, s.listen, s.name, s.verifyHost)
		}
		uses = append(uses, use{haproxyPath, "ca-file of server " + s.name, s.caFile, "haproxy"})
	}

	certs := map[string][]byte{} // path -> PEM
	keys := map[string][]byte{}  // path -> PEM
	for _, u := range uses {
		if u.path == "" {
			bad(u.file, "%s is not set", u.key)
			continue
		}
		f, ok := n.Lookup(u.path)
		if !ok {
			bad(u.file, "%s names %s, which the payload does not hold", u.key, u.path)
			continue
		}
		switch {
		case bytes.Contains(f.Content, []byte("PRIVATE KEY")):
			if f.Mode.Perm() != 0o600 || f.Owner != u.owner || !f.Secret {
				bad(u.file, "%s names %s, which is %04o %s (secret %v); the key must be 0600, owned by %s, secret",
					u.key, u.path, f.Mode.Perm(), f.Owner, f.Secret, u.owner)
			}
			keys[u.path] = f.Content
		case isCAPath(u.key):
			if !bytes.Equal(f.Content, ca) {
				bad(u.file, "%s names %s, which is not the cluster's CA (%s)", u.key, u.path, pki.CA)
			}
		default:
			certs[u.path] = f.Content
		}
	}
	if len(errs) > 0 {
		return errs
	}

	caCert, err := secrets.ParseCertificate(string(ca))
	if err != nil {
		return []error{fmt.Errorf("%s: CA certificate: %w", at(pki.CA), err)}
	}
	for _, certPath := range sortedKeys(certs) {
		cert, err := secrets.ParseCertificate(string(certs[certPath]))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at(certPath), err))
			continue
		}
		errs = append(errs, checkNodeCert(at(certPath), cert, caCert, keys, p, at)...)
	}
	for what, raw := range map[string]string{"initial-advertise-peer-urls": p.etcdPeerURL, "advertise-client-urls": p.etcdClientURL} {
		if u, err := url.Parse(raw); err != nil || u.Scheme != "https" {
			errs = append(errs, fmt.Errorf("%s: %s %q must be https", at(etcdPath), what, raw))
		}
	}
	if p.etcd3Protocol != "https" {
		errs = append(errs, fmt.Errorf("%s: etcd3.protocol %q must be https: etcd serves TLS only", at(patroniPath), p.etcd3Protocol))
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// checkNodeCert checks one certificate a config names: signed by the CA,
// matching every key the node holds, usable as server and client, naming
// every address the node advertises.
func checkNodeCert(where string, cert, caCert *x509.Certificate, keys map[string][]byte, p parsed, at func(string) string) []error {
	var errs []error
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		errs = append(errs, fmt.Errorf("%s is not signed by the CA in %s: %w", where, at(pki.CA), err))
	}
	for _, path := range sortedKeys(keys) {
		key, err := secrets.ParsePrivateKey(string(keys[path]))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", at(path), err))
		case !secrets.SamePublicKey(cert.PublicKey, key.Public()):
			errs = append(errs, fmt.Errorf("%s does not match the key in %s", where, at(path)))
		}
	}
	for _, eku := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if !slices.Contains(cert.ExtKeyUsage, eku) {
			errs = append(errs, fmt.Errorf("%s lacks extended key usage %v: it serves etcd and the REST API and is etcd's client certificate", where, eku))
		}
	}
	for what, host := range map[string]string{"etcd peer URL": hostOfURL(p.etcdPeerURL),
		"etcd client URL": hostOfURL(p.etcdClientURL), "REST API": hostOfURL("//" + p.patroniAPI), "node name": p.node} {
		if err := cert.VerifyHostname(host); err != nil {
			errs = append(errs, fmt.Errorf("%s does not name %s, the node's %s: %w", where, host, what, err))
		}
	}
	return errs
}

func isCAPath(key string) bool {
	switch key {
	case "client-transport-security.trusted-ca-file", "peer-transport-security.trusted-ca-file",
		"restapi.cafile", "ctl.cacert", "etcd3.cacert":
		return true
	}
	return strings.HasPrefix(key, "ca-file ")
}

// hostOfURL is the host of a URL or of a //host:port, without brackets.
func hostOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if h, _, err := net.SplitHostPort(u.Host); err == nil {
		return h
	}
	return u.Host
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
