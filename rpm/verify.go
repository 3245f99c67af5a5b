package rpm

import (
	"bytes"
	"crypto/md5"  //nolint:gosec // rpm's legacy header+payload digest
	"crypto/sha1" //nolint:gosec // rpm's legacy header digest
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Signature status values reported in Result.SignatureStatus.
const (
	SigVerified   = "verified"    // every signature checked against a given key
	SigUnsigned   = "unsigned"    // no OpenPGP signature in the package
	SigNotChecked = "not checked" // no keys given: signatures were not checked
	SigUnknownKey = "unknown key" // signed, but by none of the given keys
	SigBad        = "bad"         // a signature does not verify
)

// Digest is one integrity digest found in a package and its verdict.
type Digest struct {
	Name string // e.g. "header SHA256", "payload SHA256", "header+payload MD5"
	OK   bool
}

// Signature is one OpenPGP signature found in a package.
type Signature struct {
	HeaderOnly  bool   // covers the header alone (RSA/DSA tags) or header+payload (PGP/GPG tags)
	Algorithm   string // e.g. "RSA/SHA256"
	KeyID       string // 16 hex digits
	Fingerprint string // hex; empty when neither the packet nor a given key provides it
	Signer      string // primary identity of the matching key, if any
	Status      string // one of the Sig* values
	Err         error  // why it failed
}

// Result is the outcome of verifying one package.
type Result struct {
	Size   int64  // bytes read (the whole file when it is complete)
	SHA256 string // hex sha256 of every byte read, for the build manifest

	Info *Info // package metadata; nil when the headers could not be read

	Digests         []Digest
	DigestsOK       bool // every digest present matches, and the payload is covered by one
	Signatures      []Signature
	SignatureStatus string // Sig* value summarising Signatures

	// Err is the first reason the package is not verified (nil when it is).
	Err error
	// Stamp is the file's state when it was verified (VerifyFile only):
	// a copy made later checks it instead of hashing the bytes again.
	Stamp Stamp
}

// Verified reports whether the package passed: digests, and signatures
// unless they were not checked.
func (r *Result) Verified() bool { return r.Err == nil }

// KeyRing is the set of public keys packages are verified against.
type KeyRing struct {
	entities openpgp.EntityList
	files    []KeyFile
}

// KeyFile is one public key file as given, to ship in bundles.
type KeyFile struct {
	Name string // base name of the file
	Data []byte // its bytes, unchanged
}

// Files returns the key files the ring was loaded from.
func (k *KeyRing) Files() []KeyFile { return k.files }

// Len is the number of OpenPGP keys (entities) in the ring.
func (k *KeyRing) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entities)
}

// ErrNotKey is a key file that holds no OpenPGP public key.
var ErrNotKey = errors.New("not an OpenPGP public key")

// keyFileHint says what a key file should hold.
const keyFileHint = `a key file holds an armored key ("-----BEGIN PGP PUBLIC KEY BLOCK-----", ` +
	"as RPM-GPG-KEY-* files do) or a binary key, e.g. exported with `gpg --export KEYID > FILE`"

// armorBegin is the start of every armored OpenPGP block.
const armorBegin = "-----BEGIN PGP "

// ParseKeys reads one key file's bytes: armored or binary, one or several
// public keys. Anything else (text, a signature, a private key, a damaged
// key) is an error naming the file, wrapping ErrNotKey, and saying what a key
// file holds.
func ParseKeys(name string, data []byte) (openpgp.EntityList, error) {
	var (
		el  openpgp.EntityList
		err error
	)
	switch {
	case bytes.Contains(data, []byte(armorBegin)):
		el, err = readArmoredBlocks(data)
	case len(data) == 0:
		err = errors.New("the file is empty")
	case data[0]&0x80 == 0:
		// Every OpenPGP packet starts with a byte whose high bit is set
		// (RFC 4880 4.2): this is text or another format.
		err = errors.New("neither an armored block nor a binary OpenPGP packet")
	default:
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			err = fmt.Errorf("binary OpenPGP data that does not parse as a public key (%v)", err)
		}
	}
	if err == nil && len(el) == 0 {
		err = errors.New("no public key in it")
	}
	if err == nil {
		for _, e := range el {
			if e.PrivateKey != nil {
				err = errors.New("it holds a private key, which must never be given or shipped to nodes: export the public key (gpg --export --armor KEYID)")
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w: %v; %s", name, ErrNotKey, err, keyFileHint)
	}
	return el, nil
}

// readArmoredBlocks reads every armored public key block in data
// (RPM-GPG-KEY files sometimes concatenate several). Other armored blocks
// are refused by their type.
func readArmoredBlocks(data []byte) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	const begin = armorBegin + "PUBLIC KEY BLOCK-----"
	s := string(data)
	for {
		i := strings.Index(s, begin)
		if i < 0 {
			break
		}
		s = s[i:]
		next := strings.Index(s[len(begin):], begin)
		block := s
		if next >= 0 {
			block = s[:len(begin)+next]
		}
		el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("a damaged armored public key block (%v)", err)
		}
		all = append(all, el...)
		if next < 0 {
			break
		}
		s = s[len(begin)+next:]
	}
	if len(all) == 0 {
		kind, _, _ := strings.Cut(s[strings.Index(s, armorBegin)+len(armorBegin):], "-----")
		if len(kind) > 40 || strings.ContainsAny(kind, "\r\n") {
			kind = "?"
		}
		if strings.Contains(kind, "PRIVATE KEY") {
			return nil, errors.New("it holds a private key, which must never be given or shipped to nodes: export the public key (gpg --export --armor KEYID)")
		}
		return nil, fmt.Errorf("an armored %q block, not a public key block", "PGP "+kind)
	}
	return all, nil
}

// LoadKeys reads public key files (armored or binary, several keys per file
// allowed). No paths gives a nil ring: signatures are then not checked.
func LoadKeys(paths []string) (*KeyRing, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	k := &KeyRing{}
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("key: %w", err))
			continue
		}
		el, err := ParseKeys(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k.entities = append(k.entities, el...)
		k.files = append(k.files, KeyFile{Name: baseName(p), Data: data})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// NewKeyRing builds a ring from key files already in memory.
func NewKeyRing(files ...KeyFile) (*KeyRing, error) {
	k := &KeyRing{}
	for _, f := range files {
		el, err := ParseKeys(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		k.entities = append(k.entities, el...)
		k.files = append(k.files, f)
	}
	return k, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// VerifyFile opens and verifies one package file. The error is for what
// stops it from being read at all (missing, not a regular file); every
// verdict on its content is in the Result.
func VerifyFile(path string, keys *KeyRing) (*Result, error) {
	return verifyFile(path, keys, nil)
}

func verifyFile(path string, keys *KeyRing, progress func(int64)) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	before, err := StampOf(f, time.Now())
	if err != nil {
		return nil, err
	}
	var r io.Reader = f
	if progress != nil {
		r = &progressReader{r: f, progress: progress}
	}
	res := Verify(r, keys)
	after, err := StampOf(f, time.Now())
	if err != nil {
		return nil, err
	}
	if !before.Same(after) && res.Err == nil {
		res.Err = fmt.Errorf("%s changed while it was verified: verify it again once nothing writes to it", path)
	}
	res.Stamp = before
	return res, nil
}

// progressReader reports the size of each read.
type progressReader struct {
	r        io.Reader
	progress func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.progress(int64(n))
	}
	return n, err
}

// Verify reads one package from r exactly once, streaming: the headers are
// held in memory (bounded), the payload never is. It checks every digest rpm
// checks (header SHA256 and SHA1, payload digest, header+payload MD5) and,
// with keys, every OpenPGP signature (header-only and header+payload). Without
// keys (nil or empty ring) signatures are reported as not checked. The
// whole-file sha256 and size are computed in the same pass. I/O errors
// other than a short file are reported in Err like any other failure.
func Verify(r io.Reader, keys *KeyRing) *Result {
	res := &Result{}
	payloadRead := false
	fileHash := sha256.New()
	// The headers go through the tee into the file hash; the payload is
	// hashed beside the other payload hashes by hashCopy.
	raw := &countingReader{r: r}
	cr := io.TeeReader(raw, fileHash)
	defer func() {
		// Drain what is left so SHA256/Size describe the whole input even
		// when verification stopped early (the manifest never uses a failed
		// package, but the verify output shows the file's digest).
		if res.Err != nil && !payloadRead {
			_, _ = io.CopyBuffer(io.Discard, cr, make([]byte, 32<<10))
		}
		res.Size = raw.n
		res.SHA256 = hex.EncodeToString(fileHash.Sum(nil))
	}()

	if err := readLead(cr); err != nil {
		res.Err = err
		return res
	}
	sigRaw, err := readHeaderBytes(cr, maxSigEntries, maxSigData, true)
	if err != nil {
		res.Err = fmt.Errorf("signature header: %w", err)
		return res
	}
	sigHdr, err := parseHeader(sigRaw)
	if err != nil {
		res.Err = fmt.Errorf("signature header: %w", err)
		return res
	}
	mainRaw, err := readHeaderBytes(cr, maxMainEntries, maxMainData, false)
	if err != nil {
		res.Err = fmt.Errorf("header: %w", err)
		return res
	}
	// Header digests are checked before the header is interpreted, as rpm does.
	var fail []error
	digestBad := false
	headerDigests := []struct {
		tag  int
		name string
		h    func() hash.Hash
	}{
		{sigTagSHA256, "header SHA256", sha256.New},
		{sigTagSHA1, "header SHA1", sha1.New},
	}
	for _, d := range headerDigests {
		want, err := sigHdr.str(d.tag)
		if err != nil {
			fail = append(fail, fmt.Errorf("%s: %w", d.name, err))
			continue
		}
		if !sigHdr.has(d.tag) {
			continue
		}
		h := d.h()
		h.Write(mainRaw)
		ok := hex.EncodeToString(h.Sum(nil)) == strings.ToLower(want)
		res.Digests = append(res.Digests, Digest{Name: d.name, OK: ok})
		if !ok {
			digestBad = true
			fail = append(fail, fmt.Errorf("%s mismatch", d.name))
		}
	}
	mainHdr, err := parseHeader(mainRaw)
	if err != nil {
		res.Err = errors.Join(append(fail, fmt.Errorf("header: %w", err))...)
		return res
	}
	if len(fail) == 0 {
		// Metadata of a header whose digest failed is not trusted.
		info, err := readInfo(mainHdr)
		if err != nil {
			fail = append(fail, err)
		}
		res.Info = info
	}

	// Everything that covers the payload is fed in one copy.
	writers := []hash.Hash{fileHash}
	var payloadHash hash.Hash
	var payloadWant, payloadName string
	if want, _ := mainHdr.str(tagPayloadDigest); want != "" {
		algo, _ := mainHdr.uints(tagPayloadDigestAlgo)
		if len(algo) == 0 {
			algo = []uint64{8}
		}
		nh, name := hashByRPMAlgo(algo[0])
		if nh == nil {
			fail = append(fail, fmt.Errorf("unsupported payload digest algorithm %d", algo[0]))
		} else {
			payloadHash, payloadWant, payloadName = nh(), strings.ToLower(want), "payload "+name
			writers = append(writers, payloadHash)
		}
	}
	md5Want, err := sigHdr.bin(sigTagMD5)
	if err != nil {
		fail = append(fail, err)
	}
	var md5Hash hash.Hash
	if len(md5Want) > 0 {
		md5Hash = md5.New() //nolint:gosec
		md5Hash.Write(mainRaw)
		writers = append(writers, md5Hash)
	}

	checkSigs := keys.Len() > 0
	type pending struct {
		sig  *sigPacket
		h    hash.Hash
		slot int
	}
	var sigs []pending
	for _, tag := range []int{sigTagRSA, sigTagDSA, sigTagPGP, sigTagGPG} {
		blob, err := sigHdr.bin(tag)
		if err != nil {
			fail = append(fail, err)
			continue
		}
		if blob == nil {
			continue
		}
		s := Signature{HeaderOnly: tag == sigTagRSA || tag == sigTagDSA}
		pkt, err := parseSigPacket(blob)
		if err != nil {
			s.Status, s.Err = SigBad, err
			res.Signatures = append(res.Signatures, s)
			continue
		}
		s.Algorithm, s.KeyID, s.Fingerprint = pkt.algorithm(), pkt.keyID(), pkt.fingerprint()
		if !checkSigs {
			s.Status = SigNotChecked
			res.Signatures = append(res.Signatures, s)
			continue
		}
		if !pkt.hashAlgo().Available() {
			s.Status, s.Err = SigBad, fmt.Errorf("unsupported signature hash %v", pkt.hashAlgo())
			res.Signatures = append(res.Signatures, s)
			continue
		}
		h := pkt.hashAlgo().New()
		h.Write(mainRaw)
		if !s.HeaderOnly {
			writers = append(writers, h)
		}
		res.Signatures = append(res.Signatures, s)
		sigs = append(sigs, pending{sig: pkt, h: h, slot: len(res.Signatures) - 1})
	}

	payloadRead = true
	if _, err := hashCopy(raw, writers); err != nil {
		res.Err = errors.Join(append(fail, fmt.Errorf("read payload: %w", err))...)
		return res
	}

	covered := false
	if payloadHash != nil {
		ok := hex.EncodeToString(payloadHash.Sum(nil)) == payloadWant
		res.Digests = append(res.Digests, Digest{Name: payloadName, OK: ok})
		if !ok {
			digestBad = true
			fail = append(fail, fmt.Errorf("%s mismatch", payloadName))
		}
		covered = true
	}
	if md5Hash != nil {
		ok := bytes.Equal(md5Hash.Sum(nil), md5Want)
		res.Digests = append(res.Digests, Digest{Name: "header+payload MD5", OK: ok})
		if !ok {
			digestBad = true
			fail = append(fail, errors.New("header+payload MD5 mismatch"))
		}
		covered = true
	}
	res.DigestsOK = !digestBad
	if !sigHdr.has(sigTagSHA256) && !sigHdr.has(sigTagSHA1) {
		res.DigestsOK = false
		fail = append(fail, errors.New("no header digest"))
	}

	for _, p := range sigs {
		s := &res.Signatures[p.slot]
		entity, key := p.sig.findKey(keys.entities)
		if key == nil {
			s.Status = SigUnknownKey
			s.Err = fmt.Errorf("signed with key %s, not among the given keys", s.KeyID)
			continue
		}
		s.Fingerprint = hex.EncodeToString(key.Fingerprint)
		if s.KeyID == "" {
			s.KeyID = fmt.Sprintf("%016x", key.KeyId)
		}
		if id := entity.PrimaryIdentity(); id != nil {
			s.Signer = id.Name
		}
		if err := p.sig.verify(p.h, key); err != nil {
			s.Status, s.Err = SigBad, fmt.Errorf("signature by %s does not verify: %w", s.KeyID, err)
			continue
		}
		s.Status = SigVerified
		if !s.HeaderOnly {
			covered = true
		}
	}
	if !covered {
		res.DigestsOK = false
		fail = append(fail, errors.New("payload not covered by any digest or checked signature"))
	}
	res.SignatureStatus = summarise(res.Signatures, checkSigs)
	switch res.SignatureStatus {
	case SigVerified, SigNotChecked:
	case SigUnsigned:
		if checkSigs {
			fail = append(fail, errors.New("package is not signed"))
		}
	default:
		for _, s := range res.Signatures {
			if s.Err != nil {
				fail = append(fail, s.Err)
				break
			}
		}
	}
	res.Err = errors.Join(fail...)
	return res
}

// summarise reduces the per-signature verdicts to one, worst first.
func summarise(sigs []Signature, checked bool) string {
	if len(sigs) == 0 {
		return SigUnsigned
	}
	if !checked {
		for _, s := range sigs {
			if s.Status == SigBad {
				return SigBad
			}
		}
		return SigNotChecked
	}
	status := SigVerified
	for _, s := range sigs {
		switch s.Status {
		case SigBad:
			return SigBad
		case SigUnknownKey:
			status = SigUnknownKey
		}
	}
	return status
}

// hashByRPMAlgo maps rpm's PGPHASHALGO_* numbers to hashes.
func hashByRPMAlgo(a uint64) (func() hash.Hash, string) {
	switch a {
	case 1:
		return md5.New, "MD5" //nolint:gosec
	case 2:
		return sha1.New, "SHA1" //nolint:gosec
	case 8:
		return sha256.New, "SHA256"
	case 9:
		return sha512.New384, "SHA384"
	case 10:
		return sha512.New, "SHA512"
	case 11:
		return sha256.New224, "SHA224"
	}
	return nil, ""
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
