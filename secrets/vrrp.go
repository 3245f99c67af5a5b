package secrets

import (
	"fmt"
	"io"
)

// VRRPAuthLength is how many characters of a VRRP password keepalived uses
// (RFC 3768's authentication data is 8 octets): the rest is ignored, so
// keepalived.conf gets exactly these.
const VRRPAuthLength = 8

// VRRPAuthPass is the VRRP password as keepalived.conf carries it: the
// first VRRPAuthLength characters of vrrp_password. VRRP's simple password
// travels in clear in every advertisement: it keeps another VRRP router on
// the segment from joining by mistake, it is no defence against an attacker
// there (firewalld's rules keep VRRP to the members).
func (s *Secrets) VRRPAuthPass() string {
	if len(s.VRRPPassword) < VRRPAuthLength {
		return s.VRRPPassword
	}
	return s.VRRPPassword[:VRRPAuthLength]
}

// fillVRRP generates vrrp_password when a cluster with a virtual IP needs
// it and the file has none (a cluster that gained a vip section, or a file
// older than the key). Clusters without a VIP never get one, so their files
// stay as they are.
func (s *Secrets) fillVRRP(rnd io.Reader, want Want, rep *Report) error {
	if !want.VRRP || s.VRRPPassword != "" {
		return nil
	}
	p, err := password(rnd)
	if err != nil {
		return fmt.Errorf("vrrp_password: %w", err)
	}
	s.VRRPPassword = p
	rep.Filled = append(rep.Filled, "vrrp_password")
	return nil
}

// WithVIP extends the certificate-name policy to a cluster with a virtual
// IP: every node's certificate also names the address, since any member
// may hold it and clients that connect through it check the server's
// certificate against it (sslmode=verify-full). An empty vip changes
// nothing.
func WithVIP(ids []Identity, vip string) []Identity {
	if vip == "" {
		return ids
	}
	out := make([]Identity, len(ids))
	for i, id := range ids {
		id.IPs = append(append([]string{}, id.IPs...), vip)
		out[i] = id
	}
	return out
}
