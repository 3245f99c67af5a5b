package rpm

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Info is the metadata of one package, read from its (verified) header.
type Info struct {
	Name    string
	Epoch   int // 0 when the package has none
	Version string
	Release string
	Arch    string // "noarch" for architecture-independent packages
	Source  bool   // a source package (no SOURCERPM tag)

	Files    []File
	Provides []Capability
	Requires []Capability
}

// NEVRA is name-[epoch:]version-release.arch, as rpm -q prints it.
func (i *Info) NEVRA() string {
	e := ""
	if i.Epoch != 0 {
		e = strconv.Itoa(i.Epoch) + ":"
	}
	return fmt.Sprintf("%s-%s%s-%s.%s", i.Name, e, i.Version, i.Release, i.Arch)
}

// EVR is [epoch:]version-release.
func (i *Info) EVR() string {
	e := ""
	if i.Epoch != 0 {
		e = strconv.Itoa(i.Epoch) + ":"
	}
	return e + i.Version + "-" + i.Release
}

// File is one entry of a package's file list.
type File struct {
	Path string
	Mode fs.FileMode // Go file mode (type bits and permissions)
}

// IsDir reports whether the entry is a directory.
func (f File) IsDir() bool { return f.Mode.IsDir() }

// Capability is one Provides or Requires entry.
type Capability struct {
	Name    string
	Flags   uint32 // rpm's RPMSENSE_* bits
	Version string // empty when unversioned
}

// rpm's RPMSENSE_* comparison bits and the rpmlib marker.
const (
	senseLess    = 1 << 1
	senseGreater = 1 << 2
	senseEqual   = 1 << 3
	senseRPMLib  = 1 << 24
)

// String renders the capability the way rpm -qR does: "name >= 1.2".
func (c Capability) String() string {
	if c.Version == "" {
		return c.Name
	}
	op := ""
	if c.Flags&senseLess != 0 {
		op += "<"
	}
	if c.Flags&senseGreater != 0 {
		op += ">"
	}
	if c.Flags&senseEqual != 0 {
		op += "="
	}
	return c.Name + " " + op + " " + c.Version
}

// readInfo extracts the metadata from a parsed main header.
func readInfo(h *header) (*Info, error) {
	var err error
	get := func(tag int, name string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = h.str(tag)
		if err == nil && s == "" {
			err = fmt.Errorf("header has no %s", name)
		}
		return s
	}
	info := &Info{
		Name:    get(tagName, "name"),
		Version: get(tagVersion, "version"),
		Release: get(tagRelease, "release"),
		Arch:    get(tagArch, "arch"),
	}
	if err != nil {
		return nil, err
	}
	if ep, err := h.uints(tagEpoch); err != nil {
		return nil, err
	} else if len(ep) > 0 {
		info.Epoch = int(ep[0] & 0x7fffffff)
	}
	info.Source = !h.has(tagSourceRPM)
	if info.Files, err = readFiles(h); err != nil {
		return nil, err
	}
	if info.Provides, err = readCaps(h, tagProvideName, tagProvideFlags, tagProvideVersion); err != nil {
		return nil, err
	}
	if info.Requires, err = readCaps(h, tagRequireName, tagRequireFlags, tagRequireVersion); err != nil {
		return nil, err
	}
	return info, nil
}

func readFiles(h *header) ([]File, error) {
	var paths []string
	if h.has(tagBasenames) {
		base, err := h.strings(tagBasenames)
		if err != nil {
			return nil, err
		}
		dirs, err := h.strings(tagDirNames)
		if err != nil {
			return nil, err
		}
		idx, err := h.uints(tagDirIndexes)
		if err != nil {
			return nil, err
		}
		if len(idx) != len(base) {
			return nil, fmt.Errorf("header: %d basenames but %d dir indexes", len(base), len(idx))
		}
		paths = make([]string, len(base))
		for i, b := range base {
			if idx[i] >= uint64(len(dirs)) {
				return nil, fmt.Errorf("header: dir index %d out of range", idx[i])
			}
			paths[i] = dirs[idx[i]] + b
		}
	} else {
		var err error
		if paths, err = h.strings(tagOldFilenames); err != nil {
			return nil, err
		}
	}
	modes, err := h.uints(tagFileModes)
	if err != nil {
		return nil, err
	}
	if len(paths) > 0 && len(modes) != len(paths) {
		return nil, fmt.Errorf("header: %d files but %d modes", len(paths), len(modes))
	}
	files := make([]File, len(paths))
	for i, p := range paths {
		files[i] = File{Path: path.Clean(p), Mode: unixMode(uint32(modes[i]))}
	}
	return files, nil
}

// unixMode converts st_mode bits to a Go FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func readCaps(h *header, nameTag, flagTag, verTag int) ([]Capability, error) {
	names, err := h.strings(nameTag)
	if err != nil {
		return nil, err
	}
	flags, err := h.uints(flagTag)
	if err != nil {
		return nil, err
	}
	vers, err := h.strings(verTag)
	if err != nil {
		return nil, err
	}
	caps := make([]Capability, len(names))
	for i, n := range names {
		c := Capability{Name: n}
		if i < len(flags) {
			c.Flags = uint32(flags[i])
		}
		if i < len(vers) {
			c.Version = vers[i]
		}
		caps[i] = c
	}
	return caps, nil
}

// distTag returns the EL release named by the release's dist tag: "el7"
// for "15.4-1.el7", "1.el8_6", "1PGDG.rhel7", "2.module+el8.4.0+10+abc", or
// "" when there is none.
func distTag(release string) string {
	for _, tok := range strings.FieldsFunc(release, func(r rune) bool { return strings.ContainsRune(".+~-", r) }) {
		tok, _, _ = strings.Cut(tok, "_")
		tok = strings.TrimPrefix(tok, "rh")
		if len(tok) < 3 || !strings.HasPrefix(tok, "el") {
			continue
		}
		if _, err := strconv.Atoi(tok[2:]); err == nil {
			return tok
		}
	}
	return ""
}
