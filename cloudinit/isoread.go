package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"unicode/utf8"
)

// The seed ISO reader reads the few ISO 9660 structures a seed needs (the
// volume descriptor set, the primary volume descriptor, directory records
// and Rock Ridge names) itself: inspect and diff are given files from
// anywhere, and every number in them is checked against the file's real
// size before it is used, so a damaged image is an error, never a panic or
// an allocation larger than the file.

var (
	// ErrNotISO is a file that is not, or not entirely, an ISO 9660 image:
	// too short, no volume descriptor at sector 16, or shorter than the
	// volume it describes.
	ErrNotISO = errors.New("not a complete ISO 9660 image (truncated? not an ISO?)")
	// ErrDamagedISO is an ISO 9660 image whose structures contradict
	// themselves or the file's size.
	ErrDamagedISO = errors.New("damaged ISO 9660 image")
)

// Limits of what a seed ISO holds; a handful of files in practice.
const (
	maxDescriptors = 32   // volume descriptors before the set terminator
	maxDirDepth    = 8    // ECMA-119 6.8.2.1
	maxEntries     = 4096 // files and directories in the whole image
	maxContinues   = 16   // SUSP continuation areas per directory record
	firstVDSector  = 16   // the system area comes first
	minRecordLen   = 34   // a directory record with a one-byte identifier
)

// File is one regular file of an ISO image.
type File struct {
	// Name is the slash-separated path in the image as Linux presents it:
	// the Rock Ridge name when there is one, otherwise the ISO 9660
	// identifier without its ";1" version.
	Name string
	Size int64
	iso  string
	off  int64
}

type sectionFile struct {
	*io.SectionReader
	f *os.File
}

func (s sectionFile) Close() error { return s.f.Close() }

// Open returns the file's content; the caller closes it.
func (f File) Open() (io.ReadCloser, error) {
	osf, err := os.Open(f.iso)
	if err != nil {
		return nil, fmt.Errorf("iso %s: %w", f.iso, err)
	}
	return sectionFile{io.NewSectionReader(osf, f.off, f.Size), osf}, nil
}

// ReadAll returns the file's content; meant for small files. Its size was
// checked against the image's when it was listed.
func (f File) ReadAll() ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, f.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, f.readErr(err)
	}
	return b, nil
}

// SHA256 returns the hex sha256 of the file's content, read in a stream.
func (f File) SHA256() (string, error) {
	r, err := f.Open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err == nil && n != f.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return "", f.readErr(err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (f File) readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("iso %s: %s: the file ends inside it (it changed since it was opened?): %w", f.iso, f.Name, ErrNotISO)
	}
	return fmt.Errorf("iso %s: %s: %w", f.iso, f.Name, err)
}

// ReadISO lists the regular files of an ISO 9660 image, sorted by name.
// Contents are read later through File.Open. A file that is not a complete
// ISO 9660 image gives an error wrapping ErrNotISO, a damaged one
// ErrDamagedISO.
func ReadISO(isoPath string) ([]File, error) {
	f, size, err := openSized(isoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	_, files, err := readImage(f, size, isoPath, true)
	return files, err
}

// Label returns the volume label of an ISO 9660 image.
func Label(isoPath string) (string, error) {
	f, size, err := openSized(isoPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	label, _, err := readImage(f, size, isoPath, false)
	return label, err
}

func openSized(isoPath string) (*os.File, int64, error) {
	f, err := os.Open(isoPath)
	if err != nil {
		return nil, 0, fmt.Errorf("iso %s: %w", isoPath, err)
	}
	// Seek, not Stat: a block device (/dev/sr0) has a size only this way.
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("iso %s: %w", isoPath, err)
	}
	return f, size, nil
}

// readImage reads the label and, with withFiles, the regular files of the
// size-byte image in ra; files are opened later by isoPath.
func readImage(ra io.ReaderAt, size int64, isoPath string, withFiles bool) (string, []File, error) {
	img := &image{path: isoPath, f: ra, size: size, budget: size, seen: map[int64]bool{}}
	if err := img.readVolume(); err != nil {
		return "", nil, fmt.Errorf("iso %s: %w", isoPath, err)
	}
	if !withFiles {
		return img.label, nil, nil
	}
	files, err := img.files()
	if err != nil {
		return "", nil, fmt.Errorf("iso %s: %w", isoPath, err)
	}
	return img.label, files, nil
}

// image is an ISO 9660 image being read.
type image struct {
	path    string
	f       io.ReaderAt
	size    int64 // the file's real size: every extent lies within it
	label   string
	root    record
	budget  int64 // directory bytes still to be read: at most the file's size
	entries int
	seen    map[int64]bool // directory extents read, against loops
	susp    bool           // SUSP (Rock Ridge) entries follow the identifiers
	skip    int            // bytes skipped at the start of each System Use field
}

// readVolume reads the volume descriptor set and the primary volume
// descriptor (ECMA-119 8): the label and the root directory record.
func (img *image) readVolume() error {
	if minSize := int64(firstVDSector+2) * sectorSize; img.size < minSize {
		return fmt.Errorf("%w: the file has %d bytes, fewer than the %d of an image's system area, first volume descriptor and terminator", ErrNotISO, img.size, minSize)
	}
	var pvd []byte
	sector := make([]byte, sectorSize)
	for n := 0; ; n++ {
		s := int64(firstVDSector + n)
		if n == maxDescriptors {
			return fmt.Errorf("%w: more than %d volume descriptors", ErrDamagedISO, maxDescriptors)
		}
		if (s+1)*sectorSize > img.size {
			return fmt.Errorf("%w: the file ends at byte %d, inside the volume descriptor set", ErrNotISO, img.size)
		}
		if _, err := img.f.ReadAt(sector, s*sectorSize); err != nil {
			return img.ioErr(err)
		}
		if string(sector[1:6]) != "CD001" || sector[6] != 1 {
			if n == 0 {
				return fmt.Errorf("%w: no volume descriptor at byte %d", ErrNotISO, s*sectorSize)
			}
			return fmt.Errorf("%w: sector %d is not a volume descriptor, and no terminator came before it", ErrDamagedISO, s)
		}
		if sector[0] == 255 { // the set terminator
			break
		}
		if sector[0] == 1 && pvd == nil {
			pvd = bytes.Clone(sector)
		}
	}
	if pvd == nil {
		return fmt.Errorf("%w: no primary volume descriptor", ErrDamagedISO)
	}
	blockSize, err := both16(pvd[128:132])
	if err != nil {
		return fmt.Errorf("%w: logical block size: %v", ErrDamagedISO, err)
	}
	if blockSize != sectorSize {
		return fmt.Errorf("%w: logical block size %d, only %d is read", ErrDamagedISO, blockSize, sectorSize)
	}
	blocks, err := both32(pvd[80:88])
	if err != nil {
		return fmt.Errorf("%w: volume space size: %v", ErrDamagedISO, err)
	}
	if want := int64(blocks) * sectorSize; want > img.size {
		return fmt.Errorf("%w: the volume holds %d bytes, the file only %d", ErrNotISO, want, img.size)
	}
	img.label = strings.TrimRight(string(pvd[40:72]), " ")
	if !utf8.ValidString(img.label) {
		return fmt.Errorf("%w: the volume label is not text", ErrDamagedISO)
	}
	root, _, err := img.parseRecord(pvd[pvdRootDir : pvdRootDir+minRecordLen])
	if err != nil {
		return fmt.Errorf("%w: root directory record: %v", ErrDamagedISO, err)
	}
	if !root.dir {
		return fmt.Errorf("%w: the root directory record is not a directory", ErrDamagedISO)
	}
	img.root = root
	return nil
}

// ioErr says what a short read means: the file changed under the reader.
func (img *image) ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file is shorter than when it was opened", ErrNotISO)
	}
	return err
}

// record is a parsed directory record (ECMA-119 9.1).
type record struct {
	id      []byte // file identifier: 0x00 is ".", 0x01 ".."
	off     int64  // byte offset of the extent
	size    int64
	dir     bool
	assoc   bool   // an associated file (ECMA-119 9.1.6), not a file of its own
	system  []byte // System Use field
	special bool   // "." or ".."
}

// parseRecord parses the directory record at the start of b (which ends at
// the sector's end) and returns it with its length.
func (img *image) parseRecord(b []byte) (record, int, error) {
	n := int(b[0])
	if n < minRecordLen || n > len(b) {
		return record{}, 0, fmt.Errorf("record length %d does not fit (%d bytes left in the sector)", n, len(b))
	}
	idLen := int(b[32])
	if idLen == 0 || 33+idLen > n {
		return record{}, 0, fmt.Errorf("identifier length %d does not fit in a record of %d bytes", idLen, n)
	}
	loc, err := both32(b[2:10])
	if err != nil {
		return record{}, 0, fmt.Errorf("extent location: %v", err)
	}
	size, err := both32(b[10:18])
	if err != nil {
		return record{}, 0, fmt.Errorf("data length: %v", err)
	}
	flags := b[25]
	if b[26] != 0 || b[27] != 0 {
		return record{}, 0, errors.New("an interleaved file, which a seed never holds")
	}
	if flags&0x80 != 0 {
		return record{}, 0, errors.New("a file in several extents, which a seed never holds")
	}
	r := record{
		id: b[33 : 33+idLen], off: int64(loc) * sectorSize, size: int64(size),
		dir: flags&0x02 != 0, assoc: flags&0x04 != 0,
	}
	r.special = idLen == 1 && (r.id[0] == 0 || r.id[0] == 1)
	if r.size > 0 && (r.off > img.size || r.size > img.size-r.off) {
		return record{}, 0, fmt.Errorf("its extent (%d bytes at byte %d) ends beyond the file's %d bytes", r.size, r.off, img.size)
	}
	su := 33 + idLen
	if idLen%2 == 0 {
		su++ // padding after an even-length identifier
	}
	if su < n {
		r.system = b[su:n]
	}
	return r, n, nil
}

// files lists every regular file under the root, sorted by path.
func (img *image) files() ([]File, error) {
	var files []File
	if err := img.walk(img.root, "", 0, &files); err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func (img *image) walk(dir record, prefix string, depth int, files *[]File) error {
	where := "/" + prefix
	if depth >= maxDirDepth {
		return fmt.Errorf("%w: %s: directories nested deeper than %d", ErrDamagedISO, where, maxDirDepth)
	}
	if img.seen[dir.off] {
		return fmt.Errorf("%w: %s: a directory loop", ErrDamagedISO, where)
	}
	img.seen[dir.off] = true
	if dir.size > img.budget {
		return fmt.Errorf("%w: %s: directories larger than the file", ErrDamagedISO, where)
	}
	img.budget -= dir.size
	data := make([]byte, dir.size)
	if _, err := img.f.ReadAt(data, dir.off); err != nil {
		return img.ioErr(err)
	}
	names := map[string]bool{}
	first := true
	for s := 0; s < len(data); s += sectorSize {
		sec := data[s:min(s+sectorSize, len(data))]
		for i := 0; i < len(sec) && sec[i] != 0; {
			r, n, err := img.parseRecord(sec[i:])
			if err != nil {
				return fmt.Errorf("%w: %s: directory record at byte %d: %v", ErrDamagedISO, where, dir.off+int64(s+i), err)
			}
			i += n
			if first && depth == 0 {
				img.readSP(r)
			}
			first = false
			if r.special || r.assoc {
				continue
			}
			if img.entries++; img.entries > maxEntries {
				return fmt.Errorf("%w: more than %d files and directories", ErrDamagedISO, maxEntries)
			}
			name, relocated, err := img.name(r)
			if err != nil {
				return fmt.Errorf("%w: %s: directory record at byte %d: %v", ErrDamagedISO, where, dir.off+int64(s+i-n), err)
			}
			if relocated {
				continue // Rock Ridge shows it where its CL entry points
			}
			if names[name] {
				return fmt.Errorf("%w: %s: %q appears twice", ErrDamagedISO, where, name)
			}
			names[name] = true
			p := path.Join(prefix, name)
			if r.dir {
				if err := img.walk(r, p, depth+1, files); err != nil {
					return err
				}
				continue
			}
			*files = append(*files, File{Name: p, Size: r.size, iso: img.path, off: r.off})
		}
	}
	return nil
}

// readSP reads the SUSP indicator in the root's "." record (SUSP 5.3): its
// presence says System Use fields hold SUSP entries such as Rock Ridge's NM.
func (img *image) readSP(r record) {
	su := r.system
	if len(su) >= 7 && string(su[0:2]) == "SP" && su[2] == 7 && su[4] == 0xBE && su[5] == 0xEF {
		img.susp, img.skip = true, int(su[6])
	}
}

// name returns the name Linux shows for r: the Rock Ridge NM name when
// there is one, otherwise the identifier without ";1" (and without the "."
// that separates an empty extension). relocated reports a directory that
// Rock Ridge moved here (RE): it is shown elsewhere.
func (img *image) name(r record) (name string, relocated bool, err error) {
	var nm []byte
	hasNM := false
	if img.susp && img.skip < len(r.system) {
		area := r.system[img.skip:]
		for c := 0; area != nil; c++ {
			if c > maxContinues {
				return "", false, fmt.Errorf("more than %d System Use continuation areas", maxContinues)
			}
			var next []byte
			for len(area) >= 4 {
				sig, n := string(area[0:2]), int(area[2])
				if n < 4 || n > len(area) {
					break // SUSP 4: what does not parse as an entry is padding
				}
				e := area[:n]
				area = area[n:]
				switch sig {
				case "NM":
					if n < 5 {
						return "", false, errors.New("a Rock Ridge NM entry without flags")
					}
					if e[4]&0x06 != 0 { // "." or ".." as a name
						return "", false, errors.New("a Rock Ridge name that is the current or parent directory")
					}
					nm, hasNM = append(nm, e[5:]...), true
				case "RE":
					relocated = true
				case "CE":
					if next, err = img.continuation(e); err != nil {
						return "", false, err
					}
				case "ST":
					area = nil
				}
			}
			area = next
		}
	}
	if hasNM {
		name = string(nm)
	} else {
		name, _, _ = strings.Cut(string(r.id), ";")
		if !r.dir {
			name = strings.TrimSuffix(name, ".")
		}
	}
	if err := checkReadName(name); err != nil {
		return "", false, err
	}
	return name, relocated, nil
}

// continuation reads the area a CE entry points at, which lies within one
// logical block (SUSP 5.1).
func (img *image) continuation(e []byte) ([]byte, error) {
	if len(e) < 28 {
		return nil, errors.New("a short System Use continuation entry")
	}
	loc, err1 := both32(e[4:12])
	off, err2 := both32(e[12:20])
	n, err3 := both32(e[20:28])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("System Use continuation entry: %v", err)
	}
	start := int64(loc)*sectorSize + int64(off)
	if off >= sectorSize || n > sectorSize-off || start+int64(n) > img.size {
		return nil, fmt.Errorf("a System Use continuation area (%d bytes at block %d, offset %d) outside one block of the file", n, loc, off)
	}
	b := make([]byte, n)
	if _, err := img.f.ReadAt(b, start); err != nil {
		return nil, img.ioErr(err)
	}
	return b, nil
}

// checkReadName refuses a name Linux could not present as one path element,
// or one that would disturb a terminal when printed.
func checkReadName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("the name %q", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("the name %q is not UTF-8", name)
	}
	for _, c := range name {
		if c == '/' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("the name %q holds %q", name, c)
		}
	}
	return nil
}

// both16 and both32 read ECMA-119's both-byte-order numbers (7.2.3, 7.3.3),
// which must agree.
func both16(b []byte) (uint16, error) {
	le, be := binary.LittleEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	if le != be {
		return 0, fmt.Errorf("its two byte orders disagree (%d, %d)", le, be)
	}
	return le, nil
}

func both32(b []byte) (uint32, error) {
	le, be := binary.LittleEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
	if le != be {
		return 0, fmt.Errorf("its two byte orders disagree (%d, %d)", le, be)
	}
	return le, nil
}
