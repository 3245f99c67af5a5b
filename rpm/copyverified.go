package rpm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// CopyVerified streams a verified package's file from its Path to w,
// checking on the way that its size and sha256 are still those it was
// verified with: a file changed since then fails the copy (the caller
// discards what it wrote).
func CopyVerified(w io.Writer, p *Package) error {
	f, err := os.Open(p.Path)
	if err != nil {
		return fmt.Errorf("rpm %s: %w", p.Filename, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyN(w, io.TeeReader(f, h), p.Size)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("rpm %s: %s is %d bytes, verified as %d: it changed since it was verified", p.Filename, p.Path, n, p.Size)
		}
		return fmt.Errorf("rpm %s: %w", p.Filename, err)
	}
	if m, _ := f.Read(make([]byte, 1)); m != 0 {
		return fmt.Errorf("rpm %s: %s is longer than the %d bytes verified: it changed since it was verified", p.Filename, p.Path, p.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("rpm %s: sha256 of %s is %s, verified as %s: it changed since it was verified", p.Filename, p.Path, got, p.SHA256)
	}
	return nil
}
