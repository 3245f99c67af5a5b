package rpm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// CopyVerified streams a verified package's file from its Path to w and
// makes sure the bytes are the ones verified (the caller discards what it
// wrote when it fails). A settled file whose stamp is the one taken when
// it was verified, before and after the copy, is copied as it is (see
// Stamp); any other is hashed on the way and its digest compared.
func CopyVerified(w io.Writer, p *Package) error {
	f, err := os.Open(p.Path)
	if err != nil {
		return fmt.Errorf("rpm %s: %w", p.Filename, err)
	}
	defer f.Close()
	settled := p.Stamp.Settled
	if settled {
		if err := checkStamp(f, p); err != nil {
			return err
		}
	}
	h := sha256.New()
	var r io.Reader = f
	if !settled {
		r = io.TeeReader(f, h)
	}
	n, err := io.CopyN(w, r, p.Size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("rpm %s: %s is %d bytes, verified as %d: it changed since it was verified", p.Filename, p.Path, n, p.Size)
		}
		return fmt.Errorf("rpm %s: %w", p.Filename, err)
	}
	if m, _ := f.Read(make([]byte, 1)); m != 0 {
		return fmt.Errorf("rpm %s: %s is longer than the %d bytes verified: it changed since it was verified", p.Filename, p.Path, p.Size)
	}
	if settled {
		return checkStamp(f, p)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("rpm %s: sha256 of %s is %s, verified as %s: it changed since it was verified", p.Filename, p.Path, got, p.SHA256)
	}
	return nil
}

// checkStamp fails when the open package file is no longer in the state it
// was verified in.
func checkStamp(f *os.File, p *Package) error {
	now, err := StampOf(f, time.Now())
	if err != nil {
		return fmt.Errorf("rpm %s: %w", p.Filename, err)
	}
	if !now.Same(p.Stamp) {
		return fmt.Errorf("rpm %s: %s changed since it was verified (its size, times or inode differ): build again once nothing writes to it", p.Filename, p.Path)
	}
	return nil
}
