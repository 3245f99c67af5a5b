package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
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
// (streamed from disk, never held in memory, hashed on the way and checked
// against the sha256 in user-data). Every date in the image is epoch, so the
// same inputs give the same bytes. The image is written to a temporary file
// beside path, read back and compared with its inputs, then renamed into
// place; on error path is left untouched. It returns the image's sha256,
// computed while it was written.
func WriteISO(path string, seed Seed, bundlePath string, epoch time.Time) (sum string, err error) {
	if (bundlePath == "") != (seed.BundleSHA256 == "") {
		return "", fmt.Errorf("seed iso %s: the bundle path (%q) and the bundle sha256 in user-data (%q) must be given together", path, bundlePath, seed.BundleSHA256)
	}
	render := func(string) (Seed, error) { return seed, nil }
	if bundlePath == "" {
		return writeISO(path, render, -1, nil, epoch, true)
	}
	f, err := os.Open(bundlePath)
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("seed iso %s: bundle %s is not a regular file", path, bundlePath)
	}
	copyBundle := func(w io.Writer) (string, error) {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), f)
		if err != nil {
			return "", fmt.Errorf("bundle %s: %w", bundlePath, err)
		}
		if n != fi.Size() {
			return "", fmt.Errorf("bundle %s: %d bytes, %d when the image was laid out: it changed", bundlePath, n, fi.Size())
		}
		got := hex.EncodeToString(h.Sum(nil))
		if got != seed.BundleSHA256 {
			return "", fmt.Errorf("%s has sha256 %s but user-data expects %s", NameBundle, got, seed.BundleSHA256)
		}
		return got, nil
	}
	return writeISO(path, render, fi.Size(), copyBundle, epoch, true)
}

// WriteISOStream writes the seed ISO of one node to path, as WriteISO does,
// with the bundle's bytes written into the image's first extent by
// writeBundle as they are made: exactly bundleSize bytes, whose sha256 it
// returns. render gives the seed for that sha256 (user-data names it); it is
// called first with 64 zeros to lay the image out, and its files must keep
// their sizes. Nothing of the bundle is read back: the bytes that went into
// the image are the ones writeBundle hashed. Unlike WriteISO it does not
// fsync the image (its writeback is started as it is written): the build
// syncs its whole output at once before putting it in place.
func WriteISOStream(path string, bundleSize int64, render func(bundleSHA256 string) (Seed, error), writeBundle func(io.Writer) (string, error), epoch time.Time) (string, error) {
	if bundleSize < 0 || writeBundle == nil {
		return "", fmt.Errorf("seed iso %s: a streamed bundle needs its size and its writer", path)
	}
	return writeISO(path, render, bundleSize, writeBundle, epoch, false)
}

// placeholderSum stands for the bundle's sha256 while the image is laid out.
var placeholderSum = strings.Repeat("0", 64)

// writeISO writes the image in one pass: the header, the bundle's extent
// (bundleSize < 0: none) written by writeBundle, then the small files of the
// seed render gives for the bundle's sha256; all of it through the image's
// sha256. Then it reads the image's directory back with ReadISO. durable:
// the image is fsynced before it is renamed into place.
func writeISO(path string, render func(string) (Seed, error), bundleSize int64, writeBundle func(io.Writer) (string, error), epoch time.Time, durable bool) (sum string, err error) {
	if y := epoch.UTC().Year(); y < 1970 || y > 2155 {
		return "", fmt.Errorf("seed iso %s: epoch %s is outside what ISO 9660 dates hold", path, epoch.UTC().Format(time.RFC3339))
	}
	planSum := ""
	if bundleSize >= 0 {
		planSum = placeholderSum
	}
	plan, err := render(planSum)
	if err != nil {
		return "", err
	}
	var entries []isoEntry
	for _, f := range plan.Files() {
		if err := CheckName(f.Name); err != nil {
			return "", fmt.Errorf("seed iso %s: %w", path, err)
		}
		if f.Name <= NameBundle {
			return "", fmt.Errorf("seed iso %s: %s sorts before %s: the bundle's extent must come first", path, f.Name, NameBundle)
		}
		entries = append(entries, isoEntry{f.Name, int64(len(f.Content))})
	}
	if bundleSize >= 0 {
		entries = append(entries, isoEntry{NameBundle, bundleSize})
	}
	l, err := layoutISO(entries)
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	head, err := l.header(VolumeLabel, epoch)
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}

	img, err := createImage(path)
	if err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			img.abort()
		}
	}()
	out := img.out
	if _, err := out.Write(head); err != nil {
		return "", fmt.Errorf("seed iso %s: write: %w", path, err)
	}
	seed, bundleSum := plan, ""
	for i, e := range l.entries {
		if out.N != l.offset(i) {
			return "", fmt.Errorf("seed iso %s: %s would start at byte %d, laid out at %d", path, e.name, out.N, l.offset(i))
		}
		if e.name == NameBundle {
			start := out.N
			if bundleSum, err = writeBundle(out); err != nil {
				return "", fmt.Errorf("seed iso %s: %w", path, err)
			}
			if n := out.N - start; n != e.size {
				return "", fmt.Errorf("seed iso %s: the bundle came to %d bytes, laid out for %d", path, n, e.size)
			}
			if seed, err = render(bundleSum); err != nil {
				return "", err
			}
		} else {
			content := fileNamed(seed.Files(), e.name)
			if int64(len(content)) != e.size {
				return "", fmt.Errorf("seed iso %s: %s came to %d bytes, laid out for %d", path, e.name, len(content), e.size)
			}
			if _, err := out.Write(content); err != nil {
				return "", fmt.Errorf("seed iso %s: write: %w", path, err)
			}
		}
		if pad := -e.size & (sectorSize - 1); pad > 0 {
			if _, err := out.Write(make([]byte, pad)); err != nil {
				return "", fmt.Errorf("seed iso %s: write: %w", path, err)
			}
		}
	}
	if out.N != l.size() {
		return "", fmt.Errorf("seed iso %s: %d bytes written, laid out for %d", path, out.N, l.size())
	}
	if err := img.flush(); err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	// The read-back parses the image with ReadISO (its own reader): label,
	// names, the small files' bytes, and that the bundle lies where it was
	// written. The bundle's bytes are not read again: they were hashed on
	// their way into the image.
	bundleOff := int64(-1)
	for i, e := range l.entries {
		if e.name == NameBundle {
			bundleOff = l.offset(i)
		}
	}
	if err := verifyISO(img.tmpName(), seed.Files(), bundleOff, bundleSize); err != nil {
		return "", fmt.Errorf("seed iso %s: read back: %w", path, err)
	}
	// 0600: the seed carries the bundle and its secrets.
	if sum, err = img.commit(0o600, durable); err != nil {
		return "", fmt.Errorf("seed iso %s: %w", path, err)
	}
	return sum, nil
}

func fileNamed(files []NamedFile, name string) []byte {
	for _, f := range files {
		if f.Name == name {
			return f.Content
		}
	}
	return nil
}

// verifyISO reads the image back with ReadISO (not with the code that wrote
// it) and checks the label, that it holds exactly the expected names, the
// small files' bytes, and that the bundle (bundleOff < 0: none) lies where
// it was written.
func verifyISO(isoPath string, small []NamedFile, bundleOff, bundleSize int64) error {
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
	if bundleOff >= 0 {
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
			if f.off != bundleOff || f.Size != bundleSize {
				return fmt.Errorf("%s lies at bytes [%d, %d) of the image, where it was written at [%d, %d)", NameBundle, f.off, f.off+f.Size, bundleOff, bundleOff+bundleSize)
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
	return nil
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
