package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
)

// What Read holds in memory is everything but the RPMs, which are only
// hashed: each such file, and all of them together, are bounded, and so is
// the number of members, whatever sizes the archive's headers claim.
const (
	maxSmallFile = 64 << 20
	maxMembers   = 100_000
)

// maxSmallTotal is a variable for the test that shows it is enforced.
var maxSmallTotal int64 = 256 << 20

var (
	// ErrNotBundle is a file that is not, or not entirely, a gzip-compressed
	// tar archive: empty, another format, or cut short.
	ErrNotBundle = errors.New("not a complete gzip-compressed tar archive (truncated? not a bundle?)")
	// ErrDamagedBundle is an archive that decompresses and parses but does
	// not hold a consistent bundle (wrong digests, missing or extra files).
	ErrDamagedBundle = errors.New("damaged bundle")
)

// archiveErr says what a gzip or tar error means for the reader: where the
// archive ends early, or that its compressed data or headers are corrupt.
func archiveErr(err error, where string) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: it ends %s", ErrNotBundle, where)
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%w: no gzip header %s", ErrNotBundle, where)
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%w: gzip checksum mismatch %s", ErrDamagedBundle, where)
	case errors.Is(err, tar.ErrHeader):
		return fmt.Errorf("%w: invalid tar header %s", ErrDamagedBundle, where)
	}
	return fmt.Errorf("%w: %s: %v", ErrDamagedBundle, where, err)
}

// Bundle is a bundle read back: its manifest and the node payload it carries,
// with modes, owners and secret flags from FILES and manifest.json.
type Bundle struct {
	Manifest Manifest
	Payload  payload.Node
}

// Read opens the bundle tarball at path; see ReadFrom.
func Read(path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	b, err := ReadFrom(f)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", path, err)
	}
	return b, nil
}

// ReadFrom reads a bundle from r (e.g. the bundle.tgz of a seed ISO),
// streaming the RPMs. It checks every member against SHA256SUMS and the
// payload against FILES and manifest.json, so what it returns is what
// install.sh would install.
func ReadFrom(r io.Reader) (*Bundle, error) {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<20))
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: it is shorter than a gzip header", ErrNotBundle)
	}
	if err != nil {
		return nil, archiveErr(err, "at its start")
	}
	tr := tar.NewReader(zr)
	top, last := "", ""
	small := map[string][]byte{} // everything but packages/*.rpm
	var smallTotal int64
	digests := map[string]string{}
	for members := 0; ; members++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if last == "" {
				return nil, archiveErr(err, "before its first tar member")
			}
			return nil, archiveErr(err, "after "+last)
		}
		if members == maxMembers {
			return nil, fmt.Errorf("%w: more than %d members", ErrDamagedBundle, maxMembers)
		}
		last = fmt.Sprintf("%q", hdr.Name)
		name := strings.TrimSuffix(hdr.Name, "/")
		if top == "" {
			if hdr.Typeflag != tar.TypeDir || strings.Contains(name, "/") {
				return nil, fmt.Errorf("first entry %q is not the top directory", hdr.Name)
			}
			top = name
			continue
		}
		rel, ok := strings.CutPrefix(name, top+"/")
		if !ok || rel == "" || strings.Contains("/"+rel+"/", "/../") {
			return nil, fmt.Errorf("entry %q is outside the top directory %s", hdr.Name, top)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("entry %q: unexpected type %q", hdr.Name, hdr.Typeflag)
		}
		if _, dup := digests[rel]; dup {
			return nil, fmt.Errorf("entry %q appears twice", hdr.Name)
		}
		h := sha256.New()
		if strings.HasPrefix(rel, "packages/") && strings.HasSuffix(rel, ".rpm") {
			if _, err := io.Copy(h, tr); err != nil {
				return nil, archiveErr(err, "inside "+rel)
			}
		} else {
			if hdr.Size > maxSmallFile {
				return nil, fmt.Errorf("%w: %s: %d bytes is too large for a bundle file", ErrDamagedBundle, rel, hdr.Size)
			}
			if smallTotal += hdr.Size; smallTotal > maxSmallTotal {
				return nil, fmt.Errorf("%w: its files other than packages exceed %d bytes", ErrDamagedBundle, maxSmallTotal)
			}
			// io.ReadAll grows with what arrives, not with what the header
			// claims: a lying header cannot make it allocate more.
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, archiveErr(err, "inside "+rel)
			}
			h.Write(data)
			small[rel] = data
		}
		digests[rel] = hex.EncodeToString(h.Sum(nil))
	}
	if top == "" {
		return nil, fmt.Errorf("%w: the archive is empty", ErrDamagedBundle)
	}
	// Read to the end of the gzip stream: its checksum and length are
	// checked there, and a file cut after the tar's end is found.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, archiveErr(err, "after the last tar member")
	}
	if err := checkSums(small["SHA256SUMS"], digests); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(small["manifest.json"], &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if want := TopDir(m.Cluster, m.Node); top != want {
		return nil, fmt.Errorf("top directory %s does not match manifest.json's %s", top, want)
	}
	if m.Format > Format {
		return nil, fmt.Errorf("bundle format %d is newer than this tool's %d", m.Format, Format)
	}
	node, err := payloadOf(&m, small)
	if err != nil {
		return nil, err
	}
	return &Bundle{Manifest: m, Payload: node}, nil
}

// checkSums compares every member's digest with SHA256SUMS, both ways.
func checkSums(sums []byte, digests map[string]string) error {
	if sums == nil {
		return errors.New("SHA256SUMS is missing")
	}
	listed := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok {
			return fmt.Errorf("SHA256SUMS line %d: want \"SHA256  NAME\"", i+1)
		}
		got, present := digests[name]
		switch {
		case !present:
			return fmt.Errorf("SHA256SUMS lists %s, which the bundle lacks", name)
		case got != want:
			return fmt.Errorf("%s: sha256 %s, SHA256SUMS says %s", name, got, want)
		}
		listed[name] = true
	}
	for name := range digests {
		if name != "SHA256SUMS" && !listed[name] {
			return fmt.Errorf("%s is not listed in SHA256SUMS", name)
		}
	}
	return nil
}

// checkFileList compares the files the scripts would install (format 1:
// FILES; later: the "file" lines of FACTS) with manifest.json's.
func checkFileList(m *Manifest, small map[string][]byte) error {
	want := filesList(m)
	if m.Format < 2 {
		if !bytes.Equal(small["FILES"], want) {
			return errors.New("FILES does not match manifest.json")
		}
		return nil
	}
	lines, err := layout.ParseFacts(small[layout.BundleFacts])
	if err != nil {
		return fmt.Errorf("%s: %w", layout.BundleFacts, err)
	}
	var got bytes.Buffer
	for _, l := range lines {
		if l[0] == "file" {
			got.WriteString(strings.Join(l[1:], " ") + "\n")
		}
	}
	if small[layout.BundleFacts] == nil || !bytes.Equal(got.Bytes(), want) {
		return fmt.Errorf("the files of %s do not match manifest.json", layout.BundleFacts)
	}
	return nil
}

// payloadOf rebuilds the node payload from files/, FILES and manifest.json,
// which must agree.
func payloadOf(m *Manifest, small map[string][]byte) (payload.Node, error) {
	node := payload.Node{Name: m.Node}
	if err := checkFileList(m, small); err != nil {
		return node, err
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		content, ok := small["files"+f.Path]
		if !ok {
			return node, fmt.Errorf("payload file %s is listed but missing from files/", f.Path)
		}
		if sum(content) != f.SHA256 {
			return node, fmt.Errorf("payload file %s: content does not match its sha256 in manifest.json", f.Path)
		}
		mode, err := strconv.ParseUint(f.Mode, 8, 32)
		if err != nil || mode&^0o7777 != 0 {
			return node, fmt.Errorf("payload file %s: bad mode %q", f.Path, f.Mode)
		}
		if err := payload.CheckSpans(f.SecretSpans, len(content)); err != nil {
			return node, fmt.Errorf("payload file %s: %w", f.Path, err)
		}
		node.Add(payload.File{
			Path: f.Path, Mode: fs.FileMode(mode), Owner: f.Owner, Group: f.Group,
			Secret: f.Secret || len(f.SecretSpans) > 0, Spans: f.SecretSpans, Content: content,
		})
		listed["files"+f.Path] = true
	}
	for name := range small {
		if strings.HasPrefix(name, "files/") && !listed[name] {
			return node, fmt.Errorf("%s is in files/ but not in manifest.json", name)
		}
	}
	if err := node.Sort(); err != nil {
		return node, err
	}
	return node, nil
}
