package diff

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"
	"time"
)

// parseCertificate reads b as one PEM certificate; nil when it is not.
func parseCertificate(b []byte) *x509.Certificate {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// certificateChanges lists what a reader of a certificate cares about, field
// by field: who it names, who signed it, when it is valid. The base64 of two
// certificates says nothing a reviewer can use.
func certificateChanges(x, y *x509.Certificate) []KeyChange {
	fields := []struct {
		key  string
		show func(*x509.Certificate) string
	}{
		{"subject", func(c *x509.Certificate) string { return c.Subject.String() }},
		{"names", func(c *x509.Certificate) string { return certNames(c) }},
		{"issuer", func(c *x509.Certificate) string { return c.Issuer.String() }},
		{"serial", func(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }},
		{"not_before", func(c *x509.Certificate) string { return c.NotBefore.UTC().Format(time.RFC3339) }},
		{"not_after", func(c *x509.Certificate) string { return c.NotAfter.UTC().Format(time.RFC3339) }},
	}
	var out []KeyChange
	for _, f := range fields {
		if a, b := f.show(x), f.show(y); a != b {
			out = append(out, KeyChange{Key: f.key, Old: &a, New: &b})
		}
	}
	return out
}

// certNames is the DNS names and IP addresses a certificate is valid for.
func certNames(c *x509.Certificate) string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, net.IP(ip).String())
	}
	return strings.Join(names, " ")
}
