package rpm

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	rpmutils "github.com/sassoftware/go-rpmutils"
)

// Target is what packages must be built for. Empty fields are not checked.
type Target struct {
	OS   string // el7, el8 or el9: the release's dist tag must match
	Arch string // x86_64 or aarch64: packages must be this or noarch
}

// Report is the outcome of checking one package file: verification plus the
// target checks. It is what `pgha-bundle verify` prints, one line each.
type Report struct {
	Path   string
	Result *Result
	// Problems are target mismatches (arch, dist tag); each fails the package.
	Problems []error
	// Warnings do not fail the package (e.g. no dist tag to check).
	Warnings []string
}

// Err is every reason the package is refused, or nil.
func (r *Report) Err() error {
	var errs []error
	if r.Result != nil && r.Result.Err != nil {
		errs = append(errs, r.Result.Err)
	}
	return errors.Join(append(errs, r.Problems...)...)
}

// OK reports whether the package is verified and fits the target.
func (r *Report) OK() bool { return r.Err() == nil }

// Line renders the report as one line: file, NEVRA, arch, digest status,
// signature status with key id and fingerprint, verdict and reason.
func (r *Report) Line() string {
	res := r.Result
	nevra, arch := "-", "-"
	if res.Info != nil {
		nevra, arch = res.Info.NEVRA(), res.Info.Arch
	}
	digests := "BAD"
	if res.DigestsOK {
		digests = "ok"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s arch=%s digests=%s signature=%s", filepath.Base(r.Path), nevra, arch, digests,
		strings.ReplaceAll(orDash(res.SignatureStatus), " ", "-"))
	if s := res.keySignature(); s != nil {
		fmt.Fprintf(&b, " key=%s fingerprint=%s", orDash(s.KeyID), orDash(s.Fingerprint))
	}
	if err := r.Err(); err != nil {
		fmt.Fprintf(&b, " FAILED: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	} else {
		b.WriteString(" OK")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, " (warning: %s)", w)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keySignature picks the signature whose key to show: the first failing
// one, else the first.
func (r *Result) keySignature() *Signature {
	for i := range r.Signatures {
		if r.Signatures[i].Err != nil {
			return &r.Signatures[i]
		}
	}
	if len(r.Signatures) > 0 {
		return &r.Signatures[0]
	}
	return nil
}

// Check verifies the package at path against keys (nil: digests only) and
// checks it against the target.
func Check(path string, keys *KeyRing, t Target) (*Report, error) {
	return CheckProgress(path, keys, t, nil)
}

// CheckProgress is Check that calls progress (when not nil) with the
// number of bytes of each read of the file, for a progress display.
func CheckProgress(path string, keys *KeyRing, t Target, progress func(n int64)) (*Report, error) {
	res, err := verifyFile(path, keys, progress)
	if err != nil {
		return nil, err
	}
	rep := &Report{Path: path, Result: res}
	if res.Info == nil {
		return rep, nil
	}
	info := res.Info
	if info.Source {
		rep.Problems = append(rep.Problems, errors.New("is a source package"))
	}
	if t.Arch != "" && info.Arch != "noarch" && info.Arch != t.Arch {
		rep.Problems = append(rep.Problems, fmt.Errorf("arch %s does not run on the cluster's %s (want %s or noarch)", info.Arch, t.Arch, t.Arch))
	}
	if t.OS != "" {
		switch d := distTag(info.Release); d {
		case "":
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("release %s has no dist tag: cannot check it is built for %s", info.Release, t.OS))
		case t.OS:
		default:
			rep.Problems = append(rep.Problems, fmt.Errorf("release %s is built for %s, the cluster targets %s", info.Release, d, t.OS))
		}
	}
	return rep, nil
}

// Preinstalled names components the target image already has (from the
// spec), so the packages need not provide them. Empty fields mean "from the
// packages".
type Preinstalled struct {
	PostgreSQLBinDir string
	PostgreSQLMajor  int // from the spec; 0 means derive from the path or leave unknown
	PatroniBin       string
	PatroniCtl       string
	EtcdBin          string
	EtcdCtl          string
	HAProxyBin       string
}

// ScanOptions are the inputs of Scan besides the directory.
type ScanOptions struct {
	Keys          []string // public key files; none means digests only
	AllowUnsigned bool     // required to scan without keys
	OS, Arch      string   // the target
	Preinstalled  Preinstalled
	// BaseProvides is a file with the output of `rpm -qa --provides` on the
	// target image (file paths may be added one per line). When set, every
	// requirement the set itself does not satisfy must be listed there.
	BaseProvides string
	// Progress, when not nil, is called with the bytes of each read of
	// the packages, for a progress display.
	Progress func(n int64)
}

// Package is one verified package of a Set, and the one package type of
// every manifest, plan and diff: the build's manifest.json and each bundle's
// carry it as it is (keys in lowercase); plans and diffs name it by Name and
// NEVRA. Every member is always written, empty when unknown (a bundle of
// an older version recorded name, nevra, filename, sha256 and size only).
type Package struct {
	Filename string `json:"filename"`
	NEVRA    string `json:"nevra"`
	Name     string `json:"name"`
	Epoch    int    `json:"epoch"`
	Version  string `json:"version"`
	Release  string `json:"release"`
	Arch     string `json:"arch"`
	SHA256   string `json:"sha256"` // of the whole file
	Size     int64  `json:"size"`
	// Signature is SigVerified or, when no keys were given, SigNotChecked or SigUnsigned.
	Signature   string `json:"signature"`
	KeyID       string `json:"key_id"` // of the verified signature's key, empty when not verified
	Fingerprint string `json:"fingerprint"`

	// Path is where the file is on the build host, and Stamp its state
	// when it was verified.
	Path  string `json:"-"`
	Stamp Stamp  `json:"-"`
	Info  *Info  `json:"-"`
}

// Set is a verified package directory: what `build` ships and renders from.
type Set struct {
	Packages []Package // sorted by file name
	Keys     []KeyFile // the key files the packages were verified with
	// SignaturesChecked is false when no keys were given: only digests were
	// checked, and the caller must say so loudly.
	SignaturesChecked bool
	Components        Components
	// UnresolvedRequires are requirements no package of the set provides
	// (rpmlib() requirements excluded): the base OS must provide them.
	UnresolvedRequires []string
	Reports            []*Report
}

// Scan verifies every *.rpm in dir (each read once), checks it against the
// target, rejects duplicate names, derives the components and the
// requirements left to the base OS. Every problem is reported at once.
func Scan(dir string, opts ScanOptions) (*Set, error) {
	var errs []error
	keys, err := LoadKeys(opts.Keys)
	if err != nil {
		return nil, err
	}
	if keys == nil && !opts.AllowUnsigned {
		return nil, errors.New("no package keys given: pass --key (packages.keys), or set packages.allow_unsigned: true to build with digests only")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("packages: %w", err)
	}
	set := &Set{SignaturesChecked: keys != nil}
	if keys != nil {
		set.Keys = keys.Files()
	}
	target := Target{OS: opts.OS, Arch: opts.Arch}
	byName := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".rpm") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		rep, err := CheckProgress(p, keys, target, opts.Progress)
		if err != nil {
			errs = append(errs, fmt.Errorf("rpm %s: %w", e.Name(), err))
			continue
		}
		set.Reports = append(set.Reports, rep)
		if err := rep.Err(); err != nil {
			errs = append(errs, fmt.Errorf("rpm %s: %w", e.Name(), flatten(err)))
			continue
		}
		info := rep.Result.Info
		if prev, dup := byName[info.Name]; dup {
			errs = append(errs, fmt.Errorf("rpm %s: package %s is also in %s: keep one version", e.Name(), info.Name, prev))
			continue
		}
		byName[info.Name] = e.Name()
		pkg := Package{
			Path: p, Filename: e.Name(), Name: info.Name, NEVRA: info.NEVRA(), Epoch: info.Epoch,
			Version: info.Version, Release: info.Release, Arch: info.Arch,
			SHA256: rep.Result.SHA256, Size: rep.Result.Size, Stamp: rep.Result.Stamp, Signature: rep.Result.SignatureStatus, Info: info,
		}
		if keys != nil && len(rep.Result.Signatures) > 0 {
			pkg.KeyID, pkg.Fingerprint = rep.Result.Signatures[0].KeyID, rep.Result.Signatures[0].Fingerprint
		}
		set.Packages = append(set.Packages, pkg)
	}
	if len(set.Packages) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("packages: no .rpm file in %s", dir))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(set.Packages, func(i, j int) bool { return set.Packages[i].Filename < set.Packages[j].Filename })

	comps, err := FindComponents(set.Packages, opts.Preinstalled)
	if err != nil {
		errs = append(errs, err)
	}
	set.Components = comps
	set.UnresolvedRequires = Unresolved(set.Packages)
	if opts.BaseProvides != "" {
		if err := checkBase(opts.BaseProvides, set.UnresolvedRequires); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

// flatten joins a multi-line joined error onto one line.
func flatten(err error) error {
	if !strings.Contains(err.Error(), "\n") {
		return err
	}
	return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
}

// Unresolved lists the requirements of pkgs that no package of pkgs
// satisfies, as rpm prints them ("glibc >= 2.17", "/bin/sh"), sorted and
// unique. rpmlib() requirements (rpm's own features) are left out; file
// requirements are resolved against the file lists too. Versioned
// requirements are compared with the providers' versions.
func Unresolved(pkgs []Package) []string {
	provides := map[string][]Capability{}
	files := map[string]bool{}
	for _, p := range pkgs {
		for _, c := range p.Info.Provides {
			provides[c.Name] = append(provides[c.Name], c)
		}
		for _, f := range p.Info.Files {
			files[f.Path] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range pkgs {
		for _, r := range p.Info.Requires {
			if r.Flags&senseRPMLib != 0 || strings.HasPrefix(r.Name, "rpmlib(") {
				continue
			}
			if strings.HasPrefix(r.Name, "/") && files[r.Name] {
				continue
			}
			if satisfied(r, provides[r.Name]) {
				continue
			}
			if s := r.String(); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkBase fails listing every unresolved requirement the base OS's
// provides file does not cover. The match is by name, and by version when
// the provides line carries one ("glibc = 2.17-317.el7").
func checkBase(path string, unresolved []string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("base provides: %w", err)
	}
	defer f.Close()
	provides := map[string][]Capability{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := ParseCapability(line)
		provides[c.Name] = append(provides[c.Name], c)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("base provides %s: %w", path, err)
	}
	var missing []string
	for _, u := range unresolved {
		r := ParseCapability(u)
		if !satisfied(r, provides[r.Name]) {
			missing = append(missing, u)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the packages need capabilities neither they nor the base OS (%s) provide: %s", path, strings.Join(missing, ", "))
	}
	return nil
}

// ParseCapability parses rpm's printed form: "name", "name >= 1.2-3".
func ParseCapability(s string) Capability {
	f := strings.Fields(s)
	if len(f) != 3 || strings.Trim(f[1], "<>=") != "" {
		return Capability{Name: strings.TrimSpace(s)}
	}
	c := Capability{Name: f[0], Version: f[2]}
	for _, r := range f[1] {
		switch r {
		case '<':
			c.Flags |= senseLess
		case '>':
			c.Flags |= senseGreater
		case '=':
			c.Flags |= senseEqual
		}
	}
	return c
}

// satisfied reports whether any of provides (all named r.Name) satisfies r,
// with rpm's range overlap rules (rpmdsCompare): an unversioned requirement
// or provide always matches; a requirement without a release ignores the
// provide's release.
func satisfied(r Capability, provides []Capability) bool {
	rs := r.Flags & (senseLess | senseGreater | senseEqual)
	for _, p := range provides {
		ps := p.Flags & (senseLess | senseGreater | senseEqual)
		if rs == 0 || ps == 0 || r.Version == "" || p.Version == "" {
			return true
		}
		re, rv, rr := splitEVR(r.Version)
		pe, pv, pr := splitEVR(p.Version)
		sense := rpmutils.Vercmp(pe, re)
		if sense == 0 {
			sense = rpmutils.Vercmp(pv, rv)
		}
		if sense == 0 && rr != "" && pr != "" {
			sense = rpmutils.Vercmp(pr, rr)
		}
		switch {
		case sense < 0 && (ps&senseGreater != 0 || rs&senseLess != 0),
			sense > 0 && (ps&senseLess != 0 || rs&senseGreater != 0),
			sense == 0 && (ps&rs&senseEqual != 0 || ps&rs&senseLess != 0 || ps&rs&senseGreater != 0):
			return true
		}
	}
	return false
}

// splitEVR splits "[epoch:]version[-release]"; a missing epoch is "0".
func splitEVR(s string) (epoch, version, release string) {
	epoch = "0"
	if i := strings.IndexByte(s, ':'); i >= 0 {
		epoch, s = s[:i], s[i+1:]
	}
	version, release, _ = strings.Cut(s, "-")
	return epoch, version, release
}
