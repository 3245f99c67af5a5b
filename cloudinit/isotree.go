package cloudinit

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/kdomanski/iso9660"
)

// A tree image holds directories and names that a plain ISO 9660 image
// cannot (RPM file names: upper case, several dots), such as the shared
// packages media. Its names are Rock Ridge NM entries (RRIP 1.09: SP and ER
// in the root's "." record, PX and NM in every other), which Linux shows
// instead of the ISO 9660 identifiers; those are generated (N000001 and
// N000002.;1 for a directory and a file), in the order of the names, so
// each directory's records stay sorted as ECMA-119 9.3 asks. Like the seed
// it has no path tables, no Joliet and every date is the epoch; directories
// come first, then each file's extent in path order, streamed.

// TreeFile is one regular file of a tree image.
type TreeFile struct {
	// Path is slash-separated and relative: "packages/keys/KEY".
	Path string
	Size int64
	// Write writes the file's Size bytes (streamed: the image never holds
	// them). An error stops the image.
	Write func(io.Writer) error
}

// treeDir is one directory of a tree image while it is laid out.
type treeDir struct {
	path     string
	children []treeChild // sorted by name
	sector   uint32
	size     int64 // bytes: whole sectors
}

type treeChild struct {
	name string
	dir  *treeDir
	file int // index into the sorted files, when dir is nil
}

// Rock Ridge entries (RRIP 1.09, SUSP 1.10).
var (
	suspSP = []byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0}
	rripER = append([]byte{'E', 'R', 8 + 10, 1, 10, 0, 0, 1}, "RRIP_1991A"...)
)

// rripPX is a POSIX attributes entry (RRIP 1.09: 36 bytes): mode, one link,
// owner and group root.
func rripPX(mode uint32) []byte {
	b := make([]byte, 36)
	copy(b, "PX")
	b[2], b[3] = 36, 1
	put32both(b[4:12], mode)
	put32both(b[12:20], 1)
	return b
}

func rripNM(name string) []byte {
	return append([]byte{'N', 'M', byte(5 + len(name)), 1, 0}, name...)
}

// treeRecord is a directory record with a System Use field.
func treeRecord(sector uint32, size uint32, date [7]byte, dir bool, id string, su ...[]byte) []byte {
	n := 33 + len(id)
	n += n % 2
	for _, e := range su {
		n += len(e)
	}
	n += n % 2
	b := make([]byte, n)
	dirRecord(b, sector, size, date, dir, id)
	b[0] = byte(n)
	off := 33 + len(id)
	off += off % 2
	for _, e := range su {
		off += copy(b[off:], e)
	}
	return b
}

// maxTreeName is the longest name a record holds beside its PX entry: a
// record is at most 255 bytes (identifier, padding, PX, NM header).
const maxTreeName = 255 - 34 - 10 - 36 - 5 - 1

// WriteTreeISO writes files as an ISO 9660 image with Rock Ridge names to
// path, with the given volume label, in one pass: the directories, then
// every file's extent, its bytes streamed by its Write. Every date is epoch,
// so the same inputs give the same bytes. The image is written to a
// temporary file beside path (mode 0644), read back with ReadISO (names,
// sizes, extents) and renamed into place. It returns the image's sha256,
// computed while it was written. The image is not fsynced (its writeback is
// started as it is written): the build syncs its whole output at once.
func WriteTreeISO(path, label string, files []TreeFile, epoch time.Time) (sum string, err error) {
	if y := epoch.UTC().Year(); y < 1970 || y > 2155 {
		return "", fmt.Errorf("iso %s: epoch %s is outside what ISO 9660 dates hold", path, epoch.UTC().Format(time.RFC3339))
	}
	if err := CheckLabel(label); err != nil {
		return "", fmt.Errorf("iso %s: %w", path, err)
	}
	files = append([]TreeFile(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	root, dirs, err := treeDirs(files)
	if err != nil {
		return "", fmt.Errorf("iso %s: %w", path, err)
	}
	var rec [7]byte
	iso9660.RecordingTimestamp(epoch.UTC()).MarshalBinary(rec[:])

	// Directory records depend only on names and sizes; the extents' sectors
	// are known once every directory's size is.
	records := func(d *treeDir, parent *treeDir, fileSector []uint32) [][]byte {
		self := [][]byte{rripPX(0o40555)}
		if d == root {
			self = [][]byte{suspSP, rripER, rripPX(0o40555)}
		}
		out := [][]byte{
			treeRecord(d.sector, uint32(d.size), rec, true, "\x00", self...),
			treeRecord(parent.sector, uint32(parent.size), rec, true, "\x01"),
		}
		for i, c := range d.children {
			id := fmt.Sprintf("N%06d", i+1)
			if c.dir != nil {
				out = append(out, treeRecord(c.dir.sector, uint32(c.dir.size), rec, true, id, rripPX(0o40555), rripNM(c.name)))
				continue
			}
			var sec uint32
			if fileSector != nil {
				sec = fileSector[c.file]
			}
			out = append(out, treeRecord(sec, uint32(files[c.file].Size), rec, false, id+".;1", rripPX(0o100444), rripNM(c.name)))
		}
		return out
	}
	parentOf := map[*treeDir]*treeDir{root: root}
	for _, d := range dirs {
		for _, c := range d.children {
			if c.dir != nil {
				parentOf[c.dir] = d
			}
		}
	}
	next := int64(rootSector)
	for _, d := range dirs {
		d.size = packRecords(records(d, d, nil), nil)
		d.sector = uint32(next)
		next += d.size / sectorSize
	}
	fileSector := make([]uint32, len(files))
	for i, f := range files {
		fileSector[i] = uint32(next)
		next += (f.Size + sectorSize - 1) / sectorSize
	}
	if next > 1<<32-1 {
		return "", fmt.Errorf("iso %s: the image would hold %d sectors, more than ISO 9660 counts", path, next)
	}
	l := &isoLayout{sectors: uint32(next), dirSize: root.size}
	// The seed's header writer lays out the volume descriptors (the root
	// record at sector 18, of the root's size); its flat root directory is
	// replaced by the tree's.
	head, err := l.header(label, epoch)
	if err != nil {
		return "", fmt.Errorf("iso %s: %w", path, err)
	}
	head = head[:rootSector*sectorSize]
	for _, d := range dirs {
		var buf []byte
		packRecords(records(d, parentOf[d], fileSector), &buf)
		head = append(head, buf...)
	}

	img, err := createImage(path)
	if err != nil {
		return "", fmt.Errorf("iso %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			img.abort()
		}
	}()
	out := img.out
	if _, err := out.Write(head); err != nil {
		return "", fmt.Errorf("iso %s: write: %w", path, err)
	}
	for i, f := range files {
		if want := int64(fileSector[i]) * sectorSize; out.N != want {
			return "", fmt.Errorf("iso %s: %s would start at byte %d, laid out at %d", path, f.Path, out.N, want)
		}
		start := out.N
		if err := f.Write(out); err != nil {
			return "", fmt.Errorf("iso %s: %s: %w", path, f.Path, err)
		}
		if n := out.N - start; n != f.Size {
			return "", fmt.Errorf("iso %s: %s came to %d bytes, laid out for %d", path, f.Path, n, f.Size)
		}
		if pad := -f.Size & (sectorSize - 1); pad > 0 {
			if _, err := out.Write(make([]byte, pad)); err != nil {
				return "", fmt.Errorf("iso %s: write: %w", path, err)
			}
		}
	}
	if out.N != l.size() {
		return "", fmt.Errorf("iso %s: %d bytes written, laid out for %d", path, out.N, l.size())
	}
	if err := img.flush(); err != nil {
		return "", fmt.Errorf("iso %s: %w", path, err)
	}
	if err := verifyTree(img.tmpName(), label, files, fileSector); err != nil {
		return "", fmt.Errorf("iso %s: read back: %w", path, err)
	}
	// Packages and public keys only: readable by all.
	if sum, err = img.commit(0o644, false); err != nil {
		return "", fmt.Errorf("iso %s: %w", path, err)
	}
	return sum, nil
}

// treeDirs builds the directories of the sorted files: the root and every
// directory, parents before children, each one's children sorted by name.
func treeDirs(files []TreeFile) (*treeDir, []*treeDir, error) {
	byPath := map[string]*treeDir{"": {}}
	isFile := map[string]bool{}
	var get func(p string) (*treeDir, error)
	get = func(p string) (*treeDir, error) {
		if d, ok := byPath[p]; ok {
			return d, nil
		}
		if isFile[p] {
			return nil, fmt.Errorf("%s is a file and a directory", p)
		}
		parent, err := get(dirOf(p))
		if err != nil {
			return nil, err
		}
		d := &treeDir{path: p}
		byPath[p] = d
		parent.children = append(parent.children, treeChild{name: path.Base(p), dir: d})
		return d, nil
	}
	for i, f := range files {
		if err := checkTreePath(f.Path); err != nil {
			return nil, nil, err
		}
		if f.Size < 0 || f.Size > 1<<32-1 {
			return nil, nil, fmt.Errorf("%s: %d bytes do not fit in one ISO 9660 extent", f.Path, f.Size)
		}
		if i > 0 && files[i-1].Path == f.Path {
			return nil, nil, fmt.Errorf("%s appears twice", f.Path)
		}
		if _, ok := byPath[f.Path]; ok {
			return nil, nil, fmt.Errorf("%s is a file and a directory", f.Path)
		}
		isFile[f.Path] = true
		parent, err := get(dirOf(f.Path))
		if err != nil {
			return nil, nil, err
		}
		parent.children = append(parent.children, treeChild{name: path.Base(f.Path), file: i})
	}
	var dirs []*treeDir
	var walk func(d *treeDir, depth int) error
	walk = func(d *treeDir, depth int) error {
		if depth >= maxDirDepth {
			return fmt.Errorf("%s: directories nested deeper than %d", d.path, maxDirDepth)
		}
		sort.Slice(d.children, func(i, j int) bool { return d.children[i].name < d.children[j].name })
		dirs = append(dirs, d)
		for _, c := range d.children {
			if c.dir != nil {
				if err := walk(c.dir, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	root := byPath[""]
	if err := walk(root, 0); err != nil {
		return nil, nil, err
	}
	return root, dirs, nil
}

func dirOf(p string) string {
	if d := path.Dir(p); d != "." {
		return d
	}
	return ""
}

// checkTreePath accepts clean relative paths whose every name ReadISO, Linux
// and a shell read back as written.
func checkTreePath(p string) error {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not a clean relative path", p)
	}
	for _, name := range strings.Split(p, "/") {
		if err := checkReadName(name); err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
		if len(name) > maxTreeName {
			return fmt.Errorf("%q: a name longer than %d bytes", p, maxTreeName)
		}
	}
	return nil
}

// packRecords lays records out in sectors (a record never crosses one) and
// returns the directory's size in whole sectors; with buf, it writes them.
func packRecords(records [][]byte, buf *[]byte) int64 {
	var b []byte
	for _, r := range records {
		if len(b)%sectorSize+len(r) > sectorSize {
			b = append(b, make([]byte, sectorSize-len(b)%sectorSize)...)
		}
		b = append(b, r...)
	}
	size := (int64(len(b)) + sectorSize - 1) / sectorSize * sectorSize
	if buf != nil {
		*buf = append(b, make([]byte, size-int64(len(b)))...)
	}
	return size
}

// CheckLabel refuses a volume label that ISO 9660 does not hold: 1 to 32
// d-characters (A-Z, 0-9, '_'), or cidata's lower case as the seeds use.
func CheckLabel(label string) error {
	if label == "" || len(label) > 32 {
		return fmt.Errorf("volume label %q: want 1 to 32 characters", label)
	}
	for _, c := range []byte(label) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("volume label %q: only letters, digits and '_'", label)
		}
	}
	return nil
}

// verifyTree reads the image back with ReadISO and checks its label, that
// it holds exactly the files, each of its size where it was written.
func verifyTree(isoPath, label string, files []TreeFile, fileSector []uint32) error {
	got, err := Label(isoPath)
	if err != nil {
		return err
	}
	if got != label {
		return fmt.Errorf("volume label %q, want %q", got, label)
	}
	read, err := ReadISO(isoPath)
	if err != nil {
		return err
	}
	if len(read) != len(files) {
		return fmt.Errorf("the image holds %d files, want %d", len(read), len(files))
	}
	for i, f := range read {
		w := files[i]
		if f.Name != w.Path || f.Size != w.Size || f.off != int64(fileSector[i])*sectorSize {
			return fmt.Errorf("the image holds %s (%d bytes at %d), want %s (%d bytes at %d)", f.Name, f.Size, f.off, w.Path, w.Size, int64(fileSector[i])*sectorSize)
		}
	}
	return nil
}
