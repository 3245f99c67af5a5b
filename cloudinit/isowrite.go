package cloudinit

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kdomanski/iso9660"
)

// The seed image is written here, in one sequential pass, with the layout
// kdomanski/iso9660 gave it (ECMA-119, no Rock Ridge, no Joliet, no path
// tables, which Linux and cloud-init do not need): 16 empty sectors, the
// primary volume descriptor, the terminator, the root directory at sector 18,
// then each file's extent in name order, each starting on a sector. The
// bundle (bundle.tgz) sorts before every other seed file, so its extent comes
// first and its bytes can stream straight into the image while the small
// files, user-data holding the bundle's sha256, follow it.

// rootSector is where the root directory lies.
const rootSector = 18

// applicationID names the writer in the primary volume descriptor.
const applicationID = "PGHA-BUNDLE"

// isoEntry is one file of a flat image: its name as Linux presents it and its
// size in bytes.
type isoEntry struct {
	name string
	size int64
}

// isoLayout is where every file of a flat image lies.
type isoLayout struct {
	entries []isoEntry // sorted by name
	sector  []uint32   // each entry's first sector
	dirSize int64      // bytes of the root directory: whole sectors
	sectors uint32     // the image's size in sectors
}

// layoutISO places the files (any order) in an image.
func layoutISO(files []isoEntry) (*isoLayout, error) {
	l := &isoLayout{entries: append([]isoEntry(nil), files...)}
	sort.Slice(l.entries, func(i, j int) bool { return l.entries[i].name < l.entries[j].name })
	// "." and ".." then one record per file; a record never crosses a sector.
	used, dirSectors := 2*34, int64(1)
	for i, e := range l.entries {
		if i > 0 && l.entries[i-1].name == e.name {
			return nil, fmt.Errorf("%s appears twice", e.name)
		}
		if e.size < 0 || e.size > 1<<32-1 {
			return nil, fmt.Errorf("%s: %d bytes do not fit in one ISO 9660 extent", e.name, e.size)
		}
		n := recordLen(e.name)
		if used+n > sectorSize {
			dirSectors++
			used = 0
		}
		used += n
	}
	l.dirSize = dirSectors * sectorSize
	next := int64(rootSector) + dirSectors
	for _, e := range l.entries {
		l.sector = append(l.sector, uint32(next))
		next += (e.size + sectorSize - 1) / sectorSize
	}
	if next > 1<<32-1 {
		return nil, fmt.Errorf("the image would hold %d sectors, more than ISO 9660 counts", next)
	}
	l.sectors = uint32(next)
	return l, nil
}

// recordLen is the length of a directory record naming name (with ";1").
func recordLen(name string) int {
	n := 33 + len(name) + 2
	return n + n%2
}

// offset is the byte offset of entry i's extent.
func (l *isoLayout) offset(i int) int64 { return int64(l.sector[i]) * sectorSize }

// size is the image's size in bytes.
func (l *isoLayout) size() int64 { return int64(l.sectors) * sectorSize }

// header returns the image's bytes up to the first file's extent: system
// area, volume descriptors and root directory, every date epoch.
func (l *isoLayout) header(label string, epoch time.Time) ([]byte, error) {
	b := make([]byte, rootSector*sectorSize+l.dirSize)
	var rec [7]byte
	iso9660.RecordingTimestamp(epoch.UTC()).MarshalBinary(rec[:])
	vdt := iso9660.VolumeDescriptorTimestampFromTime(epoch)
	stamp, err := vdt.MarshalBinary()
	if err != nil {
		return nil, err
	}

	pvd := b[pvdOffset : pvdOffset+sectorSize]
	pvd[0], pvd[6] = 1, 1
	copy(pvd[1:6], "CD001")
	copy(pvd[pvdSystemID:pvdSystemID+32], padded(systemID, 32))
	copy(pvd[40:72], padded(label, 32))
	put32both(pvd[80:88], l.sectors)
	put16both(pvd[120:124], 1) // volume set size
	put16both(pvd[124:128], 1) // volume sequence number
	put16both(pvd[128:132], sectorSize)
	dirRecord(pvd[pvdRootDir:pvdRootDir+34], rootSector, uint32(l.dirSize), rec, true, "\x00")
	copy(pvd[190:813], padded("", 813-190)) // identifiers: set, publisher, preparer, application, files
	copy(pvd[574:702], padded(applicationID, 128))
	for _, off := range []int{pvdCreated, pvdModified, pvdEffected} {
		copy(pvd[off:off+17], stamp)
	}
	copy(pvd[847:863], strings.Repeat("0", 16)) // no expiration
	pvd[881] = 1                                // file structure version

	term := b[pvdOffset+sectorSize : pvdOffset+2*sectorSize]
	term[0], term[6] = 255, 1
	copy(term[1:6], "CD001")

	dir := b[rootSector*sectorSize:]
	pos := dirRecord(dir, rootSector, uint32(l.dirSize), rec, true, "\x00")
	pos += dirRecord(dir[pos:], rootSector, uint32(l.dirSize), rec, true, "\x01")
	for i, e := range l.entries {
		n := recordLen(e.name)
		if pos%sectorSize+n > sectorSize {
			pos += sectorSize - pos%sectorSize
		}
		pos += dirRecord(dir[pos:], l.sector[i], uint32(e.size), rec, false, e.name+";1")
	}
	return b, nil
}

// dirRecord writes a directory record (ECMA-119 9.1) at the start of b and
// returns its length.
func dirRecord(b []byte, sector, size uint32, date [7]byte, dir bool, id string) int {
	n := 33 + len(id)
	n += n % 2
	b[0] = byte(n)
	put32both(b[2:10], sector)
	put32both(b[10:18], size)
	copy(b[recDate:recDate+7], date[:])
	if dir {
		b[recFlags] = 2
	}
	put16both(b[28:32], 1) // volume sequence number
	b[32] = byte(len(id))
	copy(b[33:], id)
	return n
}

func put16both(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b[0:2], v)
	binary.BigEndian.PutUint16(b[2:4], v)
}

func put32both(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b[0:4], v)
	binary.BigEndian.PutUint32(b[4:8], v)
}

func padded(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
