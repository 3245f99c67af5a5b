package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The reading path is written for hostile input: every size read from the
// file is checked against the limits below before anything is allocated, and
// every index entry is checked against the data store before it is used.
// go-rpmutils' own header reader trusts the index (an offset past the store
// panics, an entry count of 2^28 allocates 4 GiB), so it is not used here.

// Limits on header sizes, after rpm's own (hdrchkTags, hdrchkData and the
// signature header bounds in lib/header.c).
const (
	maxSigEntries  = 256
	maxSigData     = 16 << 20
	maxMainEntries = 0xffff
	maxMainData    = 32 << 20
)

const (
	leadSize    = 96
	headerMagic = 0x8eade801
)

var leadMagic = []byte{0xed, 0xab, 0xee, 0xdb}

// Header data types.
const (
	typeNull        = 0
	typeChar        = 1
	typeInt8        = 2
	typeInt16       = 3
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

// Signature header tags (numbers as in rpm's rpmtag.h: tags 1000–1008 are
// the legacy RPMSIGTAG_* values, the others are shared with the main header).
const (
	sigTagDSA    = 267 // OpenPGP DSA signature over the header
	sigTagRSA    = 268 // OpenPGP RSA/EdDSA signature over the header
	sigTagSHA1   = 269 // hex SHA1 of the header
	sigTagSHA256 = 273 // hex SHA256 of the header
	sigTagSize   = 1000
	sigTagPGP    = 1002 // OpenPGP RSA signature over header+payload
	sigTagMD5    = 1004 // binary MD5 of header+payload
	sigTagGPG    = 1005 // OpenPGP DSA signature over header+payload
)

// Main header tags used here.
const (
	tagName              = 1000
	tagVersion           = 1001
	tagRelease           = 1002
	tagEpoch             = 1003
	tagOS                = 1021
	tagArch              = 1022
	tagOldFilenames      = 1027
	tagFileModes         = 1030
	tagSourceRPM         = 1044
	tagProvideName       = 1047
	tagRequireFlags      = 1048
	tagRequireName       = 1049
	tagRequireVersion    = 1050
	tagProvideFlags      = 1112
	tagProvideVersion    = 1113
	tagDirIndexes        = 1116
	tagBasenames         = 1117
	tagDirNames          = 1118
	tagPayloadDigest     = 5092
	tagPayloadDigestAlgo = 5093
)

// header is one parsed header structure (the signature header or the main
// header). Entries point into the data store, which is kept whole.
type header struct {
	entries map[int]entry
}

type entry struct {
	typ   uint32
	count int
	data  []byte // exactly the bytes of the value
}

// ErrNotRPM is returned when the input does not start with an RPM lead.
var ErrNotRPM = errors.New("not an RPM package (bad lead magic)")

// readLead reads and checks the 96-byte lead.
func readLead(r io.Reader) error {
	var lead [leadSize]byte
	if _, err := io.ReadFull(r, lead[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: file shorter than the lead", ErrNotRPM)
		}
		return fmt.Errorf("read lead: %w", err)
	}
	if !bytes.Equal(lead[:4], leadMagic) {
		return ErrNotRPM
	}
	if major := lead[4]; major != 3 && major != 4 {
		return fmt.Errorf("unsupported RPM format version %d", major)
	}
	return nil
}

// readHeaderBytes reads one header structure (intro, index, store) and
// returns its raw bytes, refusing sizes above the limits before allocating.
// pad rounds the store up to 8 bytes, as the signature header is padded.
func readHeaderBytes(r io.Reader, maxEntries, maxData uint32, pad bool) ([]byte, error) {
	var intro [16]byte
	if _, err := io.ReadFull(r, intro[:]); err != nil {
		return nil, fmt.Errorf("read header intro: %w", eofToUnexpected(err))
	}
	if binary.BigEndian.Uint32(intro[0:4]) != headerMagic {
		return nil, errors.New("bad header magic")
	}
	il := binary.BigEndian.Uint32(intro[8:12])
	dl := binary.BigEndian.Uint32(intro[12:16])
	if il == 0 || il > maxEntries {
		return nil, fmt.Errorf("header has %d index entries (limit %d)", il, maxEntries)
	}
	if dl > maxData {
		return nil, fmt.Errorf("header data is %d bytes (limit %d)", dl, maxData)
	}
	n := int64(il)*16 + int64(dl)
	var buf bytes.Buffer
	// Grow with the data actually read, never by the declared size alone: a
	// short hostile file costs no more memory than its own length.
	buf.Grow(16 + int(min(n, 64<<10)))
	buf.Write(intro[:])
	if _, err := io.CopyN(&buf, r, n); err != nil {
		return nil, fmt.Errorf("read header: %w", eofToUnexpected(err))
	}
	if pad {
		if p := (8 - dl%8) % 8; p != 0 {
			var z [8]byte
			if _, err := io.ReadFull(r, z[:p]); err != nil {
				return nil, fmt.Errorf("read signature padding: %w", eofToUnexpected(err))
			}
		}
	}
	return buf.Bytes(), nil
}

func eofToUnexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

var fixedSize = map[uint32]int{
	typeNull: 0, typeChar: 1, typeInt8: 1, typeInt16: 2, typeInt32: 4, typeInt64: 8, typeBin: 1,
}

// parseHeader checks every index entry of raw (as returned by
// readHeaderBytes) against the data store and indexes them by tag.
func parseHeader(raw []byte) (*header, error) {
	il := int(binary.BigEndian.Uint32(raw[8:12]))
	dl := int(binary.BigEndian.Uint32(raw[12:16]))
	index := raw[16 : 16+il*16]
	store := raw[16+il*16 : 16+il*16+dl]
	h := &header{entries: make(map[int]entry, il)}
	for i := 0; i < il; i++ {
		e := index[i*16 : i*16+16]
		tag := int(int32(binary.BigEndian.Uint32(e[0:4])))
		typ := binary.BigEndian.Uint32(e[4:8])
		off := int64(int32(binary.BigEndian.Uint32(e[8:12])))
		count := int64(binary.BigEndian.Uint32(e[12:16]))
		if off < 0 || off > int64(dl) {
			return nil, fmt.Errorf("header tag %d: offset %d outside the %d-byte data store", tag, off, dl)
		}
		if count == 0 || count > int64(dl)+1 {
			return nil, fmt.Errorf("header tag %d: bad count %d", tag, count)
		}
		var end int64
		switch typ {
		case typeString, typeStringArray, typeI18NString:
			if typ == typeString && count != 1 {
				return nil, fmt.Errorf("header tag %d: string with count %d", tag, count)
			}
			end = off
			for j := int64(0); j < count; j++ {
				k := bytes.IndexByte(store[end:], 0)
				if k < 0 {
					return nil, fmt.Errorf("header tag %d: unterminated string", tag)
				}
				end += int64(k) + 1
			}
		default:
			size, ok := fixedSize[typ]
			if !ok {
				return nil, fmt.Errorf("header tag %d: unknown data type %d", tag, typ)
			}
			if size > 1 && off%int64(size) != 0 {
				return nil, fmt.Errorf("header tag %d: misaligned offset %d", tag, off)
			}
			end = off + count*int64(size)
			if end > int64(dl) {
				return nil, fmt.Errorf("header tag %d: value runs past the data store", tag)
			}
		}
		if _, dup := h.entries[tag]; dup {
			return nil, fmt.Errorf("header tag %d appears twice", tag)
		}
		h.entries[tag] = entry{typ: typ, count: int(count), data: store[off:end]}
	}
	return h, nil
}

func (h *header) has(tag int) bool { _, ok := h.entries[tag]; return ok }

// strings returns a string, string array or i18n string tag (nil if absent).
func (h *header) strings(tag int) ([]string, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, nil
	}
	switch e.typ {
	case typeString, typeStringArray, typeI18NString:
	default:
		return nil, fmt.Errorf("header tag %d: type %d is not a string", tag, e.typ)
	}
	out := make([]string, 0, e.count)
	d := e.data
	for i := 0; i < e.count; i++ {
		k := bytes.IndexByte(d, 0)
		out = append(out, string(d[:k]))
		d = d[k+1:]
	}
	return out, nil
}

// str returns the first string of tag, or "" when absent.
func (h *header) str(tag int) (string, error) {
	s, err := h.strings(tag)
	if err != nil || len(s) == 0 {
		return "", err
	}
	return s[0], nil
}

// uints returns an integer array tag of any width as uint64 (nil if absent).
func (h *header) uints(tag int) ([]uint64, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, nil
	}
	out := make([]uint64, e.count)
	for i := range out {
		switch e.typ {
		case typeChar, typeInt8:
			out[i] = uint64(e.data[i])
		case typeInt16:
			out[i] = uint64(binary.BigEndian.Uint16(e.data[2*i:]))
		case typeInt32:
			out[i] = uint64(binary.BigEndian.Uint32(e.data[4*i:]))
		case typeInt64:
			out[i] = binary.BigEndian.Uint64(e.data[8*i:])
		default:
			return nil, fmt.Errorf("header tag %d: type %d is not an integer", tag, e.typ)
		}
	}
	return out, nil
}

// bin returns a binary tag (nil if absent).
func (h *header) bin(tag int) ([]byte, error) {
	e, ok := h.entries[tag]
	if !ok {
		return nil, nil
	}
	if e.typ != typeBin {
		return nil, fmt.Errorf("header tag %d: type %d is not binary", tag, e.typ)
	}
	return e.data, nil
}
