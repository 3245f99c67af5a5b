package rpm

import (
	"bytes"
	"crypto"
	"crypto/dsa" //nolint:staticcheck // old EL7-era package keys are DSA
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// sigPacket is one OpenPGP signature from a signature tag: a v4 packet
// (parsed and checked by go-crypto) or a v3 packet, which go-crypto does not
// read but CentOS 7's own packages and older vendor packages carry.
type sigPacket struct {
	v4 *packet.Signature
	v3 *sigV3
}

// sigV3 is an RFC 4880 §5.2.2 version 3 signature.
type sigV3 struct {
	sigType byte
	created [4]byte
	keyID   uint64
	pubAlgo packet.PublicKeyAlgorithm
	hash    crypto.Hash
	left16  [2]byte
	mpis    [][]byte
}

// parseSigPacket reads exactly one OpenPGP signature packet.
func parseSigPacket(blob []byte) (*sigPacket, error) {
	body, err := packetBody(blob)
	if err != nil {
		return nil, fmt.Errorf("signature packet: %w", err)
	}
	if len(body) > 0 && body[0] == 3 {
		v3, err := parseSigV3(body)
		if err != nil {
			return nil, fmt.Errorf("v3 signature packet: %w", err)
		}
		return &sigPacket{v3: v3}, nil
	}
	rd := bytes.NewReader(blob)
	p, err := packet.Read(rd)
	if err != nil {
		return nil, fmt.Errorf("signature packet: %w", err)
	}
	if rd.Len() > 0 {
		return nil, errors.New("signature packet: trailing data")
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("signature packet: unexpected packet %T", p)
	}
	if sig.IssuerKeyId == nil && len(sig.IssuerFingerprint) == 0 {
		return nil, errors.New("signature packet names no issuer")
	}
	return &sigPacket{v4: sig}, nil
}

// packetBody returns the body of the single signature packet (tag 2) that
// must fill blob, old or new header format, definite length only.
func packetBody(blob []byte) ([]byte, error) {
	if len(blob) < 2 || blob[0]&0x80 == 0 {
		return nil, errors.New("not an OpenPGP packet")
	}
	var tag byte
	var n, hl int
	if blob[0]&0x40 == 0 { // old format
		tag = (blob[0] >> 2) & 0x0f
		switch blob[0] & 3 {
		case 0:
			n, hl = int(blob[1]), 2
		case 1:
			if len(blob) < 3 {
				return nil, errors.New("short packet header")
			}
			n, hl = int(binary.BigEndian.Uint16(blob[1:])), 3
		case 2:
			if len(blob) < 5 {
				return nil, errors.New("short packet header")
			}
			n, hl = int(binary.BigEndian.Uint32(blob[1:])&0x7fffffff), 5
		default:
			return nil, errors.New("indeterminate packet length")
		}
	} else {
		tag = blob[0] & 0x3f
		switch l := int(blob[1]); {
		case l < 192:
			n, hl = l, 2
		case l < 224:
			if len(blob) < 3 {
				return nil, errors.New("short packet header")
			}
			n, hl = (l-192)<<8+int(blob[2])+192, 3
		case l == 255:
			if len(blob) < 6 {
				return nil, errors.New("short packet header")
			}
			n, hl = int(binary.BigEndian.Uint32(blob[2:])&0x7fffffff), 6
		default:
			return nil, errors.New("partial packet length")
		}
	}
	if tag != 2 {
		return nil, fmt.Errorf("packet tag %d is not a signature", tag)
	}
	if len(blob)-hl != n {
		return nil, fmt.Errorf("packet length %d, %d bytes present", n, len(blob)-hl)
	}
	return blob[hl:], nil
}

var openpgpHashes = map[byte]crypto.Hash{
	1: crypto.MD5, 2: crypto.SHA1, 8: crypto.SHA256, 9: crypto.SHA384, 10: crypto.SHA512, 11: crypto.SHA224,
}

func parseSigV3(b []byte) (*sigV3, error) {
	if len(b) < 19 || b[1] != 5 {
		return nil, errors.New("malformed header")
	}
	s := &sigV3{sigType: b[2], keyID: binary.BigEndian.Uint64(b[7:15]), pubAlgo: packet.PublicKeyAlgorithm(b[15])}
	copy(s.created[:], b[3:7])
	copy(s.left16[:], b[17:19])
	h, ok := openpgpHashes[b[16]]
	if !ok {
		return nil, fmt.Errorf("unsupported hash algorithm %d", b[16])
	}
	s.hash = h
	want := 0
	switch s.pubAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		want = 1
	case packet.PubKeyAlgoDSA:
		want = 2
	default:
		return nil, fmt.Errorf("unsupported public key algorithm %d", s.pubAlgo)
	}
	rest := b[19:]
	for i := 0; i < want; i++ {
		if len(rest) < 2 {
			return nil, errors.New("truncated MPI")
		}
		n := (int(binary.BigEndian.Uint16(rest)) + 7) / 8
		if len(rest) < 2+n {
			return nil, errors.New("truncated MPI")
		}
		s.mpis = append(s.mpis, rest[2:2+n])
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data")
	}
	return s, nil
}

func (p *sigPacket) hashAlgo() crypto.Hash {
	if p.v3 != nil {
		return p.v3.hash
	}
	return p.v4.Hash
}

func (p *sigPacket) keyID() string {
	switch {
	case p.v3 != nil:
		return fmt.Sprintf("%016x", p.v3.keyID)
	case p.v4.IssuerKeyId != nil:
		return fmt.Sprintf("%016x", *p.v4.IssuerKeyId)
	}
	return ""
}

func (p *sigPacket) fingerprint() string {
	if p.v4 != nil && len(p.v4.IssuerFingerprint) > 0 {
		return hex.EncodeToString(p.v4.IssuerFingerprint)
	}
	return ""
}

// algorithm names the signature the way rpm does: "V4 RSA/SHA256".
func (p *sigPacket) algorithm() string {
	algo, ver := packet.PublicKeyAlgorithm(0), "V4"
	if p.v3 != nil {
		algo, ver = p.v3.pubAlgo, "V3"
	} else {
		algo = p.v4.PubKeyAlgo
	}
	var a string
	switch algo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		a = "RSA"
	case packet.PubKeyAlgoDSA:
		a = "DSA"
	case packet.PubKeyAlgoECDSA:
		a = "ECDSA"
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoEd25519:
		a = "EdDSA"
	default:
		a = fmt.Sprintf("algo%d", algo)
	}
	return ver + " " + a + "/" + strings.ReplaceAll(p.hashAlgo().String(), "-", "")
}

// findKey finds the key (primary or subkey) that issued the signature.
func (p *sigPacket) findKey(el openpgp.EntityList) (*openpgp.Entity, *packet.PublicKey) {
	match := func(k *packet.PublicKey) bool {
		if p.v3 != nil {
			return k.KeyId == p.v3.keyID
		}
		return p.v4.CheckKeyIdOrFingerprint(k)
	}
	for _, e := range el {
		if match(e.PrimaryKey) {
			return e, e.PrimaryKey
		}
		for _, sub := range e.Subkeys {
			if match(sub.PublicKey) {
				return e, sub.PublicKey
			}
		}
	}
	return nil, nil
}

// verify checks the signature over what h has hashed so far.
func (p *sigPacket) verify(h hash.Hash, key *packet.PublicKey) error {
	if p.v4 != nil {
		return key.VerifySignature(h, p.v4)
	}
	s := p.v3
	h.Write([]byte{s.sigType})
	h.Write(s.created[:])
	digest := h.Sum(nil)
	if !bytes.Equal(digest[:2], s.left16[:]) {
		return errors.New("digest does not match the signature's left 16 bits")
	}
	switch pub := key.PublicKey.(type) {
	case *rsa.PublicKey:
		if s.pubAlgo != packet.PubKeyAlgoRSA && s.pubAlgo != packet.PubKeyAlgoRSASignOnly {
			return errors.New("key and signature algorithms differ")
		}
		sig := s.mpis[0]
		if k := (pub.N.BitLen() + 7) / 8; len(sig) < k {
			sig = append(make([]byte, k-len(sig)), sig...)
		}
		return rsa.VerifyPKCS1v15(pub, s.hash, digest, sig)
	case *dsa.PublicKey:
		if s.pubAlgo != packet.PubKeyAlgoDSA {
			return errors.New("key and signature algorithms differ")
		}
		if n := (pub.Q.BitLen() + 7) / 8; len(digest) > n {
			digest = digest[:n]
		}
		if !dsa.Verify(pub, digest, new(big.Int).SetBytes(s.mpis[0]), new(big.Int).SetBytes(s.mpis[1])) {
			return errors.New("DSA verification failure")
		}
		return nil
	}
	return fmt.Errorf("v3 signatures by %T keys are not supported", key.PublicKey)
}
