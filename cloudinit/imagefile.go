package cloudinit

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pgha-bundle/pgha-bundle/internal/asynchash"
	"github.com/pgha-bundle/pgha-bundle/internal/countio"
	"github.com/pgha-bundle/pgha-bundle/internal/writeback"
)

// imageFile is an image being written to a temporary file beside its path:
// through a 1 MiB buffer, hashed on a goroutine of its own (the digest uses
// another core), its writeback started as it goes. commit puts it in place;
// abort, after a failure, removes it. Out counts what was written.
type imageFile struct {
	path string
	tmp  *os.File
	wb   *writeback.Writer
	bw   *bufio.Writer
	hash *asynchash.Writer
	out  *countio.Writer
}

func createImage(path string) (*imageFile, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, err
	}
	f := &imageFile{path: path, tmp: tmp, wb: writeback.New(tmp), hash: asynchash.New(sha256.New())}
	f.bw = bufio.NewWriterSize(f.wb, 1<<20)
	f.out = &countio.Writer{W: io.MultiWriter(f.bw, f.hash)}
	return f, nil
}

// flush writes out what is buffered, so the temporary file can be read back.
func (f *imageFile) flush() error {
	if err := f.bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	f.wb.Flush()
	return nil
}

// tmpName is the temporary file, complete once flushed.
func (f *imageFile) tmpName() string { return f.tmp.Name() }

// commit gives the image its mode, fsyncs it when durable, renames it into
// place and returns its sha256.
func (f *imageFile) commit(mode os.FileMode, durable bool) (string, error) {
	if err := f.tmp.Chmod(mode); err != nil {
		return "", err
	}
	if durable {
		if err := f.tmp.Sync(); err != nil {
			return "", err
		}
	}
	if err := f.tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		return "", err
	}
	return hex.EncodeToString(f.hash.Sum()), nil
}

// abort, after a failure, ends the hash and removes the temporary file.
func (f *imageFile) abort() {
	f.hash.Close()
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}
