package cloudinit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kdomanski/iso9660"
)

// ISO 9660 layout facts used to fix the dates (ECMA-119 8.4 and 9.1).
const (
	sectorSize  = 2048
	pvdOffset   = 16 * sectorSize // the primary volume descriptor
	pvdSystemID = 8               // 32 bytes, a-characters
	pvdRootDir  = 156             // the root directory record, 34 bytes
	pvdCreated  = 813             // 17-byte dates: creation, modification, expiration, effective
	pvdModified = 830
	pvdEffected = 864
	recDate     = 18 // offset of the 7-byte recording date in a directory record
	recFlags    = 25
	systemID    = "LINUX"
)

// maxNameLen is the longest name (without extension) kdomanski/iso9660 keeps:
// 30 characters of file identifier minus ";1".
const maxNameLen = 28

// CheckName returns an error unless name is stored by kdomanski/iso9660 and
// presented by Linux (no Rock Ridge, no Joliet) exactly as given: lowercase
// letters, digits, '-' and '_', at most one '.' followed by an extension of
// 1 to 8 characters, and at most 28 characters before the ";1" version.
func CheckName(name string) error {
	base, ext := name, ""
	if i := strings.IndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i+1:]
		if ext == "" || len(ext) > 8 || strings.IndexByte(ext, '.') >= 0 {
			return fmt.Errorf("iso name %q: at most one '.' followed by 1 to 8 characters survives a plain ISO 9660 image", name)
		}
	}
	if base == "" {
		return fmt.Errorf("iso name %q: empty name", name)
	}
	limit := maxNameLen
	if ext != "" {
		limit -= 1 + len(ext)
	}
	if len(base) > limit {
		return fmt.Errorf("iso name %q: longer than %d characters before the extension, it would be cut", name, limit)
	}
	for _, c := range []byte(base + ext) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("iso name %q: only lowercase letters, digits, '-' and '_' survive a plain ISO 9660 image", name)
		}
	}
	return nil
}

// WriteISO writes the seed ISO of one node to path: volume label cidata, the
// seed's files and, when bundlePath is not empty, that archive as bundle.tgz
// (streamed from disk, never held in memory). Every date in the image is
// epoch, so the same inputs give the same bytes. The image is written to a
// temporary file beside path, read back and compared with its inputs, then
// renamed into place; on error path is left untouched. It returns the
// image's sha256, computed by the read-back.
func WriteISO(path string, seed Seed, bundlePath string, epoch time.Time) (sum string, err error) {
	if (bundlePath == "") != (seed.BundleSHA256 == "") {
		return "", fmt.Errorf("seed iso %s: the bundle path (%q) and the bundle sha256 in user-data (%q) must be given together", path, bundlePath, seed.BundleSHA256)
	}
	if y := epoch.UTC().Year(); y < 1970 || y > 2155 {
		return "", fmt.Errorf("seed iso %s: epoch %s is outside what ISO 9660 dates hold", path, epoch.UTC().Format(time.RFC3339))
	}
	small := seed.Files()
	for _, f := range small {
		if err := CheckName(f.Name); err != nil {
			return "", fmt.Errorf("seed iso %s: %w", path, err)
		}
	}
	if bundlePath != "" {
		fi, err := os.Stat(bundlePath)
		if err != nil {
			return "", fmt.Errorf("seed iso %s: %w", path, err)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("seed iso %s: bundle %s is not a regular file", path, bundlePath)
		}
	}

	iw, err := iso9660.NewWriter()
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	defer iw.Cleanup()
	for _, f := range small {
		if err := iw.AddFile(bytes.NewReader(f.Content), f.Name); err != nil {
			return "", fmt.Errorf("seed iso %s: add %s: %w", path, f.Name, err)
		}
	}
	if bundlePath != "" {
		// AddLocalFile hard-links the archive into the staging directory, or
		// copies it there in a stream when it lives on another file system.
		if err := iw.AddLocalFile(bundlePath, NameBundle); err != nil {
			return "", fmt.Errorf("seed iso %s: add bundle %s: %w", path, bundlePath, err)
		}
	}

	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// The image is hashed as it is written: its first sectors are held in
	// memory until their dates are fixed, then everything streams through
	// the image's sha256 and, over the bundle's extent, the bundle's.
	bw := bufio.NewWriterSize(tmp, 1<<20)
	st := &isoStream{w: bw, epoch: epoch, whole: sha256.New(), bundle: &rangeHash{h: sha256.New(), off: -1}}
	if err := iw.WriteTo(st, VolumeLabel); err != nil {
		return "", fmt.Errorf("seed iso %s: write: %w", path, err)
	}
	if err := st.flush(); err != nil {
		return "", fmt.Errorf("seed iso %s: write: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return "", fmt.Errorf("seed iso %s: write: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	// The read-back parses the image with ReadISO (not with the library that
	// wrote it): label, names, the small files' bytes, and the bundle's
	// extent where the stream hashed it. The bundle's bytes are not read
	// again: they were hashed on their way to the file.
	if err := verifyISO(tmp.Name(), small, seed.BundleSHA256, st); err != nil {
		return "", fmt.Errorf("seed iso %s: read back: %w", path, err)
	}
	sum = hex.EncodeToString(st.whole.Sum(nil))
	if err := tmp.Chmod(0o600); err != nil { // the seed carries the bundle and its secrets
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	return sum, nil
}

// holdBytes of the image's start are held in memory until their dates are
// fixed: the system area, the volume descriptors and the root directory,
// which kdomanski/iso9660 writes at sector 18, fit in it.
const holdBytes = 32 * sectorSize

// isoStream takes the image from kdomanski/iso9660: it holds the first
// holdBytes, fixes their dates (fixDates) and finds the bundle's extent
// there, then writes everything on to w through the image's sha256 and,
// over the bundle's extent, the bundle's.
type isoStream struct {
	w      io.Writer
	epoch  time.Time
	head   []byte
	passed bool // head was written: bytes now pass through
	whole  hash.Hash
	bundle *rangeHash // off < 0: no bundle in the image
	n      int64
}

func (s *isoStream) Write(p []byte) (int, error) {
	if !s.passed {
		take := min(len(p), holdBytes-len(s.head))
		s.head = append(s.head, p[:take]...)
		if len(s.head) < holdBytes {
			return len(p), nil
		}
		if err := s.flush(); err != nil {
			return 0, err
		}
		n, err := s.pass(p[take:])
		return take + n, err
	}
	return s.pass(p)
}

func (s *isoStream) pass(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.whole.Write(p[:n])
	s.bundle.Write(p[:n])
	s.n += int64(n)
	return n, err
}

// flush fixes and writes the held start once (at holdBytes, or at the end
// of a smaller image).
func (s *isoStream) flush() error {
	if s.passed {
		return nil
	}
	s.passed = true
	off, size, err := fixDates(s.head, s.epoch)
	if err != nil {
		return fmt.Errorf("set dates: %w", err)
	}
	if off >= 0 {
		s.bundle.off, s.bundle.end = off, off+size
	}
	_, err = s.pass(s.head)
	s.head = nil
	return err
}

// fixDates replaces, in head (the image's first bytes), the dates
// kdomanski/iso9660 stamps (time.Now() in the primary volume descriptor, a
// zero time in directory records) and the system identifier (the build
// machine's GOOS) with fixed values. It returns the extent of the bundle
// (byte offset and size; -1 without one), read from the root directory.
func fixDates(head []byte, epoch time.Time) (bundleOff, bundleSize int64, err error) {
	bundleOff = -1
	if len(head) < pvdOffset+sectorSize {
		return 0, 0, errors.New("the image ends before its primary volume descriptor")
	}
	pvd := head[pvdOffset : pvdOffset+sectorSize]
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return 0, 0, errors.New("no primary volume descriptor at sector 16")
	}
	vdt := iso9660.VolumeDescriptorTimestampFromTime(epoch)
	stamp, err := vdt.MarshalBinary()
	if err != nil {
		return 0, 0, err
	}
	for _, off := range []int{pvdCreated, pvdModified, pvdEffected} {
		copy(pvd[off:off+17], stamp)
	}
	copy(pvd[pvdSystemID:pvdSystemID+32], iso9660.MarshalString(systemID, 32))
	var rec [7]byte
	iso9660.RecordingTimestamp(epoch.UTC()).MarshalBinary(rec[:])
	root := pvd[pvdRootDir : pvdRootDir+34]
	copy(root[recDate:recDate+7], rec[:])

	// The root directory's extent holds ".", ".." and one record per file.
	loc := int64(binary.LittleEndian.Uint32(root[2:6])) * sectorSize
	size := int64(binary.LittleEndian.Uint32(root[10:14]))
	if loc+size > int64(len(head)) {
		return 0, 0, fmt.Errorf("the root directory (%d bytes at byte %d) lies beyond the image's first %d bytes", size, loc, len(head))
	}
	dir := head[loc : loc+size]
	for s := 0; s < len(dir); s += sectorSize {
		for i := s; i < s+sectorSize && i < len(dir) && dir[i] != 0; i += int(dir[i]) {
			r := dir[i : i+int(dir[i])]
			if len(r) < 34 || 33+int(r[32]) > len(r) {
				return 0, 0, fmt.Errorf("short directory record at byte %d", loc+int64(i))
			}
			isSelfOrParent := r[32] == 1 && (r[33] == 0 || r[33] == 1)
			if r[recFlags]&2 != 0 && !isSelfOrParent {
				return 0, 0, errors.New("a subdirectory: seeds are flat")
			}
			copy(r[recDate:recDate+7], rec[:])
			if id := strings.TrimSuffix(string(r[33:33+int(r[32])]), ";1"); strings.EqualFold(id, NameBundle) {
				bundleOff = int64(binary.LittleEndian.Uint32(r[2:6])) * sectorSize
				bundleSize = int64(binary.LittleEndian.Uint32(r[10:14]))
			}
		}
	}
	return bundleOff, bundleSize, nil
}

// verifyISO reads the image back with ReadISO (not with the library that
// wrote it) and checks the label, that it holds exactly the expected names,
// the small files' bytes, and that the bundle lies where st hashed it, with
// the sha256 user-data expects.
func verifyISO(isoPath string, small []NamedFile, bundleSum string, st *isoStream) error {
	label, err := Label(isoPath)
	if err != nil {
		return err
	}
	if label != VolumeLabel {
		return fmt.Errorf("volume label %q, want %q", label, VolumeLabel)
	}
	files, err := ReadISO(isoPath)
	if err != nil {
		return err
	}
	want := map[string][]byte{}
	var names []string
	for _, f := range small {
		want[f.Name] = f.Content
		names = append(names, f.Name)
	}
	if bundleSum != "" {
		names = append(names, NameBundle)
	}
	sort.Strings(names)
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	if fmt.Sprint(got) != fmt.Sprint(names) {
		return fmt.Errorf("the image holds %q, want %q", got, names)
	}
	for _, f := range files {
		if f.Name == NameBundle {
			if f.off != st.bundle.off || f.off+f.Size != st.bundle.end {
				return fmt.Errorf("%s lies at bytes [%d, %d) of the image, where it was written at [%d, %d)", NameBundle, f.off, f.off+f.Size, st.bundle.off, st.bundle.end)
			}
			continue
		}
		b, err := f.ReadAll()
		if err != nil {
			return err
		}
		if !bytes.Equal(b, want[f.Name]) {
			return fmt.Errorf("%s in the image differs from what was written", f.Name)
		}
	}
	if bundleSum != "" {
		if sum := hex.EncodeToString(st.bundle.h.Sum(nil)); sum != bundleSum {
			return fmt.Errorf("%s in the image has sha256 %s but user-data expects %s", NameBundle, sum, bundleSum)
		}
	}
	return nil
}

// rangeHash hashes the bytes of a stream that fall in [off, end).
type rangeHash struct {
	h             hash.Hash
	pos, off, end int64
}

func (r *rangeHash) Write(p []byte) (int, error) {
	start, stop := r.pos, r.pos+int64(len(p))
	if lo, hi := max(start, r.off), min(stop, r.end); lo < hi {
		r.h.Write(p[lo-start : hi-start])
	}
	r.pos = stop
	return len(p), nil
}

// FileSHA256 returns the hex sha256 of a file, read in a stream: the digest
// Input.BundleSHA256 wants for a bundle archive.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
