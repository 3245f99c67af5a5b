package secrets

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"slices"
	"sort"
	"time"
)

// TLS is the cluster's private certificate authority and one certificate per
// node. etcd (peers and clients), Patroni's REST API and HAProxy's health
// checks trust only this CA. Everything is PEM, generated once and reused, so
// rebuilds give the same files.
type TLS struct {
	CACert string              `yaml:"ca_cert,omitempty"`
	CAKey  string              `yaml:"ca_key,omitempty"`
	Nodes  map[string]NodeCert `yaml:"nodes,omitempty"`
}

// NodeCert is a node's certificate and private key. The one certificate
// serves etcd's peer and client ports and Patroni's REST API, and is the
// client certificate of etcd peers, etcdctl and Patroni (etcd requires client
// certificates once it has a trusted CA).
type NodeCert struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Identity is what a node's certificate must name: the node name first,
// then every DNS name and IP address clients use to reach it.
type Identity struct {
	Name     string
	DNSNames []string
	IPs      []string
}

// Member is a node as its certificate's names are decided from it.
type Member struct {
	Name string
	// FQDN is the name under the network's domain; the name itself when the
	// network has no domain.
	FQDN    string
	Address string
}

// NodeIdentities is the certificate-name policy: what each member's
// certificate names. That is its name, its FQDN when it differs from the
// name, and its address: etcd checks that a peer's certificate names the
// address its connection comes from.
//
// testOnlySharedLoopback widens this for test clusters only (the spec's
// cluster.allow_loopback, which validation refuses otherwise): members
// sharing one host's loopback connect from 127.0.0.1 or from the address
// they dial, so every certificate also names 127.0.0.1 and every other
// member's address. A real cluster never sets it.
func NodeIdentities(members []Member, testOnlySharedLoopback bool) []Identity {
	ids := make([]Identity, 0, len(members))
	for _, n := range members {
		id := Identity{Name: n.Name, IPs: []string{n.Address}}
		if testOnlySharedLoopback {
			id.IPs = append(id.IPs, "127.0.0.1")
			for _, m := range members {
				if m.Address != n.Address {
					id.IPs = append(id.IPs, m.Address)
				}
			}
		}
		if n.FQDN != "" && n.FQDN != n.Name {
			id.DNSNames = append(id.DNSNames, n.FQDN)
		}
		ids = append(ids, id)
	}
	return ids
}

const (
	caValidity   = 20 * 365 * 24 * time.Hour
	nodeValidity = 10 * 365 * 24 * time.Hour
	// renewBefore reissues a node certificate this long before it expires.
	renewBefore = 365 * 24 * time.Hour
	// backdate keeps a certificate valid on a node whose clock lags the
	// build host's.
	backdate = time.Hour
)

// EnsureTLS creates the CA when there is none and issues a certificate for
// every identity that has none, whose names differ from the identity, that
// the CA did not sign, or that expires within a year. Certificates of nodes
// no longer listed are dropped. A CA that expires within a year is an error.
// It reports whether anything changed. A secrets file that exists always has
// a CA (Load refuses one without): only a new cluster's secrets get one here.
func (s *Secrets) EnsureTLS(rnd io.Reader, now time.Time, cluster string, ids []Identity) (bool, error) {
	c, err := s.ensureTLS(rnd, now, cluster, ids)
	return c.changed(), err
}

// tlsChanges is what ensureTLS changed: nodes named, never keys.
type tlsChanges struct {
	newCA   bool
	issued  []string
	dropped []string
}

func (c tlsChanges) changed() bool { return c.newCA || len(c.issued) > 0 || len(c.dropped) > 0 }

func (s *Secrets) ensureTLS(rnd io.Reader, now time.Time, cluster string, ids []Identity) (tlsChanges, error) {
	var c tlsChanges
	ca, caKey, err := s.TLS.ca()
	if err != nil {
		return c, err
	}
	if ca != nil && now.Add(renewBefore).After(ca.NotAfter) {
		// A new CA is a rolling change of trust on every member (old and
		// new CA side by side), which a build alone cannot make safely.
		return c, fmt.Errorf("the cluster's CA expires on %s: plan its rotation, a rolling change of trust on every member that a build cannot make; no build makes a new CA for an existing cluster",
			ca.NotAfter.Format("2006-01-02"))
	}
	if ca == nil {
		if ca, caKey, err = s.newCA(rnd, now, cluster); err != nil {
			return c, err
		}
		c.newCA = true
	}
	keep := map[string]NodeCert{}
	for _, id := range ids {
		nc, ok := s.TLS.Nodes[id.Name]
		if ok && nc.valid(ca, id, now) {
			keep[id.Name] = nc
			continue
		}
		if nc, err = issue(rnd, now, ca, caKey, id); err != nil {
			return c, fmt.Errorf("certificate of %s: %w", id.Name, err)
		}
		keep[id.Name] = nc
		c.issued = append(c.issued, id.Name)
	}
	for _, name := range sorted(slices.Collect(maps.Keys(s.TLS.Nodes))) {
		if _, ok := keep[name]; !ok {
			c.dropped = append(c.dropped, name)
		}
	}
	s.TLS.Nodes = keep
	return c, nil
}

// caPrefix starts the common name of every CA pgha-bundle makes; the
// cluster's name follows. Files without a cluster field are recognised by it.
const caPrefix = "pgha-bundle CA "

// ca parses the CA; a TLS section without one yields nils.
func (t TLS) ca() (*x509.Certificate, crypto.Signer, error) {
	if t.CACert == "" && t.CAKey == "" {
		return nil, nil, nil
	}
	cert, err := ParseCertificate(t.CACert)
	if err != nil {
		return nil, nil, errors.New("tls.ca_cert is not a PEM certificate that parses")
	}
	key, err := ParsePrivateKey(t.CAKey)
	if err != nil {
		return nil, nil, errors.New("tls.ca_key is not a PEM PKCS #8 private key that parses")
	}
	if !cert.IsCA {
		return nil, nil, errors.New("tls.ca_cert is not a CA certificate")
	}
	if !SamePublicKey(cert.PublicKey, key.Public()) {
		return nil, nil, errors.New("tls.ca_key is not the key of tls.ca_cert")
	}
	return cert, key, nil
}

func (s *Secrets) newCA(rnd io.Reader, now time.Time, cluster string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber(rnd)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: caPrefix + cluster},
		NotBefore:             now.Add(-backdate).UTC(),
		NotAfter:              now.Add(caValidity).UTC(),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	// A new CA invalidates every node certificate: they are reissued.
	s.TLS = TLS{CACert: encodeCert(der), CAKey: keyPEM}
	return cert, key, nil
}

func issue(rnd io.Reader, now time.Time, ca *x509.Certificate, caKey crypto.Signer, id Identity) (NodeCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return NodeCert{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := serialNumber(rnd)
	if err != nil {
		return NodeCert{}, err
	}
	notAfter := now.Add(nodeValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id.Name},
		NotBefore:    now.Add(-backdate).UTC(),
		NotAfter:     notAfter.UTC(),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     id.dnsNames(),
	}
	for _, a := range id.IPs {
		ip := net.ParseIP(a)
		if ip == nil {
			return NodeCert{}, fmt.Errorf("address %q is not an IP address", a)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
	}
	der, err := x509.CreateCertificate(rnd, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return NodeCert{}, fmt.Errorf("create certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return NodeCert{}, err
	}
	return NodeCert{Cert: encodeCert(der), Key: keyPEM}, nil
}

// valid reports whether nc is signed by ca, matches its key, names exactly
// id's names and addresses, and stays valid for more than renewBefore.
func (nc NodeCert) valid(ca *x509.Certificate, id Identity, now time.Time) bool {
	cert, err := ParseCertificate(nc.Cert)
	if err != nil {
		return false
	}
	key, err := ParsePrivateKey(nc.Key)
	if err != nil || !SamePublicKey(cert.PublicKey, key.Public()) {
		return false
	}
	if cert.CheckSignatureFrom(ca) != nil || now.Add(renewBefore).After(cert.NotAfter) {
		return false
	}
	if !slices.Equal(sorted(cert.DNSNames), sorted(id.dnsNames())) {
		return false
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	var want []string
	for _, a := range id.IPs {
		if ip := net.ParseIP(a); ip != nil {
			want = append(want, ip.String())
		}
	}
	return slices.Equal(sorted(ips), sorted(want))
}

// NodeCertificate returns the PEM certificate and key issued to node.
func (s *Secrets) NodeCertificate(node string) (NodeCert, bool) {
	nc, ok := s.TLS.Nodes[node]
	return nc, ok && nc.Cert != "" && nc.Key != ""
}

func (id Identity) dnsNames() []string {
	names := []string{id.Name}
	for _, n := range id.DNSNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func serialNumber(rnd io.Reader) (*big.Int, error) {
	n, err := randInt(rnd, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// randInt is a uniform integer in [0, max) read from rnd.
func randInt(rnd io.Reader, max *big.Int) (*big.Int, error) {
	b := make([]byte, (max.BitLen()+7)/8)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, err
	}
	return new(big.Int).Mod(new(big.Int).SetBytes(b), max), nil
}

func encodeCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func encodeKey(key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("encode key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// ParseCertificate reads one PEM certificate.
func ParseCertificate(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// ParsePrivateKey reads one PEM PKCS #8 private key that can sign.
func ParsePrivateKey(s string) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PKCS #8 private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return signer, nil
}

// SamePublicKey reports whether two public keys are the same key.
func SamePublicKey(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}
