package cloudinit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdomanski/iso9660"
)

// TestLayoutMatchesKdomanski: the image has the layout kdomanski/iso9660
// (which wrote the seeds before) gives the same files, byte for byte but for
// what that library stamps from the build machine (dates, system and
// application identifiers) and for the padding after each file, which it
// fills from its buffer where WriteISO writes zeros.
func TestLayoutMatchesKdomanski(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int64{1, sectorSize, 3<<20 + 123} { // a bundle is never empty (gzip)
		seed, bundle := seedWithBundle(t, dir, size)
		ours := filepath.Join(dir, "ours.iso")
		if _, err := WriteISO(ours, seed, bundle, testEpoch); err != nil {
			t.Fatal(err)
		}
		iw, err := iso9660.NewWriter()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range seed.Files() {
			if err := iw.AddFile(bytes.NewReader(f.Content), f.Name); err != nil {
				t.Fatal(err)
			}
		}
		if err := iw.AddLocalFile(bundle, NameBundle); err != nil {
			t.Fatal(err)
		}
		var theirs bytes.Buffer
		if err := iw.WriteTo(&theirs, VolumeLabel); err != nil {
			t.Fatal(err)
		}
		iw.Cleanup()
		got, err := os.ReadFile(ours)
		if err != nil {
			t.Fatal(err)
		}
		want := theirs.Bytes()
		if len(got) != len(want) {
			t.Fatalf("bundle of %d bytes: image of %d bytes, kdomanski/iso9660 writes %d", size, len(got), len(want))
		}
		files, err := ReadISO(ours)
		if err != nil {
			t.Fatal(err)
		}
		// Mask what differs by design: the descriptor's identifiers and
		// dates, every directory record's date, and what follows each file
		// in its last sector (zeros here, whatever the library's buffer
		// held there).
		mask := func(b []byte) []byte {
			b = bytes.Clone(b)
			for _, f := range files {
				end := f.off + f.Size
				clear(b[end : (end+sectorSize-1)/sectorSize*sectorSize])
			}
			pvd := b[pvdOffset:]
			copy(pvd[pvdSystemID:pvdSystemID+32], strings.Repeat("-", 32))
			copy(pvd[574:702], strings.Repeat("-", 128))
			copy(pvd[pvdCreated:pvdEffected+17], strings.Repeat("-", pvdEffected+17-pvdCreated))
			copy(pvd[pvdRootDir+recDate:pvdRootDir+recDate+7], "-------")
			d := b[rootSector*sectorSize : (rootSector+1)*sectorSize]
			for i := 0; i < len(d) && d[i] != 0; i += int(d[i]) {
				copy(d[i+recDate:i+recDate+7], "-------")
			}
			return b
		}
		if g, w := mask(got), mask(want); !bytes.Equal(g, w) {
			for i := range g {
				if g[i] != w[i] {
					t.Fatalf("bundle of %d bytes: first difference at byte %d (sector %d): %#x, kdomanski/iso9660 writes %#x", size, i, i/sectorSize, g[i], w[i])
				}
			}
		}
	}
}

// TestWriteISOStreamChecks: a bundle writer that writes another size than
// laid out, or a seed whose files change size with the sha256, fails the
// write and leaves nothing; a good one gives the image WriteISO gives.
func TestWriteISOStreamChecks(t *testing.T) {
	dir := t.TempDir()
	seed, bundle := seedWithBundle(t, dir, 100<<10)
	want := filepath.Join(dir, "want.iso")
	wantSum, err := WriteISO(want, seed, bundle, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(raw))
	write := func(b []byte) func(io.Writer) (string, error) {
		return func(w io.Writer) (string, error) {
			if _, err := w.Write(b); err != nil {
				return "", err
			}
			h := sha256.Sum256(b)
			return hex.EncodeToString(h[:]), nil
		}
	}
	render := func(string) (Seed, error) { return seed, nil }
	iso := filepath.Join(dir, "got.iso")
	sum, err := WriteISOStream(iso, size, render, write(raw), testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(want)
	b, _ := os.ReadFile(iso)
	if sum != wantSum || !bytes.Equal(a, b) {
		t.Fatalf("streamed image differs from WriteISO's (sha256 %s, want %s)", sum, wantSum)
	}
	os.Remove(iso)
	for name, tc := range map[string]struct {
		render func(string) (Seed, error)
		write  func(io.Writer) (string, error)
		err    string
	}{
		"short bundle": {render, write(raw[:len(raw)-1]), "laid out for"},
		"long bundle":  {render, write(append(raw, 0)), "laid out for"},
		"user-data grows": {func(s string) (Seed, error) {
			if s == placeholderSum {
				return seed, nil
			}
			grown := seed
			grown.UserData = append(bytes.Clone(seed.UserData), '\n')
			return grown, nil
		}, write(raw), "user-data came to"},
	} {
		if _, err := WriteISOStream(iso, size, tc.render, tc.write, testEpoch); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.err)
		}
		assertOnlyFiles(t, dir, filepath.Base(bundle), "want.iso")
	}
}
