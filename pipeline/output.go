package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// The output directory OUT holds, for a cluster c:
//
//	OUT/c               the current build (replaced only when its manifest.json says it is one of c)
//	OUT/.c.lock         held (flock) by the build running into OUT/c; removed when it ends
//	OUT/.c.tmp-R        a build being written, or, after the swap, the previous one being removed
//	OUT/.c.tmp-R.mark   written before .c.tmp-R and held (flock) as long as its build runs: it marks
//	                    .c.tmp-R as the tool's, so a later build removes what a killed one left
//
// Messages a user sees when the output cannot be written; each says what to do.
const (
	msgNothingChanged = "nothing was changed"
	msgMoveAway       = "move it away or build into another --out"
	msgOutSymlink     = "%s is a symbolic link (to %s), not a build of cluster %s: pgha-bundle replaces only a directory holding an earlier build of the same cluster; " + msgNothingChanged + ": " + msgMoveAway
	msgOutNotDir      = "%s is a %s, not a build of cluster %s; " + msgNothingChanged + ": " + msgMoveAway
	msgOutNoManifest  = "%s was not written by pgha-bundle (it has no manifest.json), so a build of cluster %s will not replace it; " + msgNothingChanged + ": " + msgMoveAway
	msgOutBadManifest = "%s is not an earlier build of cluster %s: its manifest.json %s; " + msgNothingChanged + ": " + msgMoveAway
	msgOutOtherTool   = "%s holds a manifest.json written by %q, not by pgha-bundle; " + msgNothingChanged + ": " + msgMoveAway
	msgOutOtherClust  = "%s holds a build of cluster %q, not of %q; " + msgNothingChanged + ": move it to %s (or away), or build into another --out"
	msgOutForeign     = "%s is a build of cluster %s, but it also holds files no build wrote: %s; " + msgNothingChanged + ": move them out of the build directory, then build again"
	msgInputInside    = "the %s %s is inside %s, which this build would replace%s; " + msgNothingChanged + ": move it out of the output directory, then build again"
	msgOutParent      = "output directory %s does not exist, nor does its parent %s; " + msgNothingChanged + ": create the parent first or fix --out"
	msgOutParentFile  = "output directory %s cannot be made: %s is a %s, not a directory; " + msgNothingChanged + ": fix --out"
	msgOutFile        = "output %s is a %s, not a directory; fix --out"
	msgLocked         = "another build of cluster %s into %s is running (%slock %s): wait for it to finish, or build with --wait"
	msgNoExchange     = "the filesystem of %s cannot swap two directories atomically (renameat2 %s: %v), which replacing a build safely needs; " + msgNothingChanged + ": build into an --out on a local filesystem (ext4, xfs, btrfs, tmpfs)"
	msgOtherFS        = "%s is on another filesystem than %s (a mount point?), so no rename can swap it with the new build; " + msgNothingChanged + ": unmount it or build into another --out"
	msgRaced          = "%s changed while this build ran (%v); " + msgNothingChanged + " by this build: check what else writes there, then build again"
)

// markSuffix names the marker beside a temporary directory.
const markSuffix = ".mark"

// renameat2 is unix.Renameat2 on paths; tests replace it to play a
// filesystem without RENAME_EXCHANGE.
var renameat2 = func(from, to string, flags uint) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, flags)
}

// output is OUT/<cluster> held by one build: the lock, the temporary
// directory the new build is written to and its marker.
type output struct {
	opts    *Options
	out     string // OUT
	name    string // the cluster
	final   string // OUT/<cluster>
	replace bool   // final holds an earlier build
	created bool   // this build created OUT
	inputs  []input

	lock *os.File
	tmp  string
	mark *os.File
	done bool // the new build is in place
}

// openOutput takes OUT/<cluster> for this build, before any other work: it
// checks that OUT can hold the build, locks OUT/<cluster> against other
// builds, checks that OUT/<cluster> is nothing or an earlier build of the
// cluster holding none of the inputs, removes what killed builds left, makes
// the temporary directory and checks that the filesystem can swap it in.
// On error, nothing is left behind.
func openOutput(ctx context.Context, opts *Options, spec *cluster.Spec) (o *output, err error) {
	o = &output{opts: opts, out: opts.OutDir, name: spec.Cluster.Name}
	o.final = filepath.Join(o.out, o.name)
	defer func() {
		if err != nil {
			o.release()
			o = nil
		}
	}()
	if err := o.makeOut(); err != nil {
		return o, err
	}
	if err := o.takeLock(ctx); err != nil {
		return o, err
	}
	opts.stepf("locked")
	o.inputs = inputsOf(opts, spec)
	if o.replace, err = checkEarlierBuild(o.final, o.name, o.inputs); err != nil {
		return o, err
	}
	if o.replace {
		if err := sameFilesystem(o.out, o.final); err != nil {
			return o, err
		}
	}
	opts.stepf("checked")
	// Only a build that goes ahead cleans up: a refused one changes nothing.
	restored, err := o.removeStale()
	if err != nil {
		return o, err
	}
	if restored {
		if o.replace, err = checkEarlierBuild(o.final, o.name, o.inputs); err != nil {
			return o, err
		}
	}
	opts.stepf("cleaned")
	if err := o.makeTemp(); err != nil {
		return o, err
	}
	opts.stepf("temporary")
	if err := o.probe(); err != nil {
		return o, err
	}
	opts.stepf("probed")
	if ctx.Err() != nil {
		return o, interrupted(ctx)
	}
	return o, nil
}

// makeOut creates OUT when missing, but not its parent: a mistyped --out
// fails instead of growing a tree somewhere else.
func (o *output) makeOut() error {
	fi, err := os.Stat(o.out)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf(msgOutFile, o.out, fileKind(fi.Mode()))
	case errors.Is(err, unix.ENOTDIR):
		// Some ancestor is not a directory: name the nearest existing one.
		for p := filepath.Dir(filepath.Clean(o.out)); ; p = filepath.Dir(p) {
			if afi, aerr := os.Stat(p); aerr == nil {
				return fmt.Errorf(msgOutParentFile, o.out, p, fileKind(afi.Mode()))
			}
			if p == filepath.Dir(p) {
				return fmt.Errorf("output: %w", err)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("output: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(o.out))
	if _, err := os.Stat(parent); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf(msgOutParent, o.out, parent)
	} else if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := os.Mkdir(o.out, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	o.created = true
	return nil
}

func (o *output) lockPath() string { return filepath.Join(o.out, "."+o.name+".lock") }

// takeLock locks OUT/.<cluster>.lock. The file exists only while a build
// holds it: after flock succeeds, the path must still name the locked file
// (the previous holder unlinks it before letting go), else it starts over.
func (o *output) takeLock(ctx context.Context) error {
	path := o.lockPath()
	said := false
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return fmt.Errorf("output lock: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := ""
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = fmt.Sprintf("pid %d, ", pid)
				}
			}
			f.Close()
			if !o.opts.Wait {
				return fmt.Errorf(msgLocked, o.name, o.out, holder, path)
			}
			if !said {
				o.opts.logf("==> waiting for the build running into %s (%slock %s)", o.final, holder, path)
				said = true
			}
			select {
			case <-ctx.Done():
				return interrupted(ctx)
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("output lock %s: %w", path, err)
		}
		if same, err := samePath(f, path); err != nil || !same {
			f.Close()
			if err != nil {
				return fmt.Errorf("output lock %s: %w", path, err)
			}
			continue
		}
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		o.lock = f
		return nil
	}
}

// samePath tells whether path still names the open file f.
func samePath(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// removeStale removes what earlier builds of the cluster left in OUT:
// temporary directories whose marker no build holds. An earlier build that
// an interrupted older release moved aside is put back when OUT/<cluster> is
// missing (restored tells). Anything else is left alone and named.
func (o *output) removeStale() (restored bool, err error) {
	entries, err := os.ReadDir(o.out)
	if err != nil {
		return false, fmt.Errorf("output: %w", err)
	}
	prefix := "." + o.name + ".tmp-"
	marked := map[string]bool{}
	var unmarked []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		if strings.HasSuffix(n, markSuffix) {
			if e.Type().IsRegular() {
				marked[strings.TrimSuffix(n, markSuffix)] = true
			}
			continue
		}
		unmarked = append(unmarked, n)
	}
	for dir := range marked {
		if err := o.removeMarked(filepath.Join(o.out, dir)); err != nil {
			return restored, err
		}
	}
	_, finalErr := os.Lstat(o.final)
	for _, n := range unmarked {
		if marked[n] {
			continue
		}
		p := filepath.Join(o.out, n)
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue
		}
		if os.Remove(p) == nil { // empty: killed before its marker was written
			continue
		}
		if ok, _ := checkEarlierBuild(p, o.name, nil); ok {
			if errors.Is(finalErr, fs.ErrNotExist) {
				// An older release moved the previous build aside and
				// stopped before the new one took its place.
				if err := renameat2(p, o.final, unix.RENAME_NOREPLACE); err != nil {
					return restored, fmt.Errorf("output: put the earlier build %s back to %s: %w", p, o.final, err)
				}
				o.opts.logf("==> put the earlier build %s back to %s", p, o.final)
				finalErr, restored = nil, true
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				return restored, fmt.Errorf("output: remove the earlier build %s: %w", p, err)
			}
			o.opts.logf("==> removed %s, an earlier build left beside %s", p, o.final)
			continue
		}
		o.opts.logf("warning: %s is not marked as a temporary directory of pgha-bundle, so it is left alone; if an interrupted build of an earlier release left it, remove it (it may hold passwords)", p)
	}
	return restored, nil
}

// removeMarked removes dir and its marker unless a running build holds the marker.
func (o *output) removeMarked(dir string) error {
	mark := dir + markSuffix
	f, err := os.OpenFile(mark, os.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // its build is running
		}
		return fmt.Errorf("output: %s: %w", mark, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("output: remove %s, left by an interrupted build: %w", dir, err)
	}
	if err := os.Remove(mark); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	o.opts.logf("==> removed %s, left by an interrupted build", dir)
	return syncPath(o.out)
}

// makeTemp writes the marker, locks it, then creates the directory it names.
func (o *output) makeTemp() error {
	for i := 0; ; i++ {
		// Not crypto/rand: the name needs no secrecy, and tests seed
		// crypto/rand to make keys reproducible.
		tmp := filepath.Join(o.out, fmt.Sprintf(".%s.tmp-%012x", o.name, mathrand.Uint64()>>16))
		f, err := os.OpenFile(tmp+markSuffix, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && i < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			os.Remove(tmp + markSuffix)
			return fmt.Errorf("output: %s: %w", tmp+markSuffix, err)
		}
		fmt.Fprintf(f, "pgha-bundle build of %s, pid %d: %s is a temporary directory\n", o.name, os.Getpid(), filepath.Base(tmp))
		o.mark = f
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		o.tmp = tmp
		// Mkdir applies the umask; the build directory is 0755 like OUT/<cluster> of every build.
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		return nil
	}
}

// sameFilesystem refuses an OUT/<cluster> mounted apart from OUT: no rename
// can swap it.
func sameFilesystem(out, final string) error {
	var a, b unix.Stat_t
	if err := unix.Stat(out, &a); err != nil {
		return fmt.Errorf("output: %s: %w", out, err)
	}
	if err := unix.Lstat(final, &b); err != nil {
		return fmt.Errorf("output: %s: %w", final, err)
	}
	if a.Dev != b.Dev {
		return fmt.Errorf(msgOtherFS, final, out)
	}
	return nil
}

// probe fails now, before the work, if OUT's filesystem cannot swap or
// rename without replacing, as the end of the build will need.
func (o *output) probe() error {
	a, b := filepath.Join(o.tmp, ".probe-a"), filepath.Join(o.tmp, ".probe-b")
	defer os.Remove(a)
	defer os.Remove(b)
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("output: %w", err)
		}
	}
	if err := renameat2(a, b, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf(msgNoExchange, o.out, "RENAME_EXCHANGE", err)
	}
	if err := renameat2(a, b, unix.RENAME_NOREPLACE); !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf(msgNoExchange, o.out, "RENAME_NOREPLACE", err)
	}
	return nil
}

// commit makes the finished build in tmp durable and puts it in place: one
// RENAME_EXCHANGE with the earlier build (or RENAME_NOREPLACE for the
// first), then the earlier build, now at the temporary name, is removed.
func (o *output) commit(ctx context.Context) error {
	if err := syncTree(o.tmp); err != nil {
		return fmt.Errorf("output: sync %s: %w", o.tmp, err)
	}
	o.opts.stepf("synced")
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	// OUT/<cluster> is locked against builds, not against everything else.
	replace, err := checkEarlierBuild(o.final, o.name, o.inputs)
	if err != nil || replace != o.replace {
		if err == nil {
			err = errors.New("it appeared or vanished")
		}
		return fmt.Errorf(msgRaced, o.final, err)
	}
	flags, op := uint(unix.RENAME_NOREPLACE), "RENAME_NOREPLACE"
	if o.replace {
		flags, op = unix.RENAME_EXCHANGE, "RENAME_EXCHANGE"
	}
	if err := renameat2(o.tmp, o.final, flags); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf(msgNoExchange, o.out, op, err)
		}
		return fmt.Errorf(msgRaced, o.final, err)
	}
	o.done = true
	if err := syncPath(o.out); err != nil {
		return fmt.Errorf("output: sync %s: %w", o.out, err)
	}
	o.opts.stepf("swapped")
	// The earlier build is now at the temporary name, still marked: a kill
	// from here on leaves it to the next build.
	if err := os.RemoveAll(o.tmp); err != nil {
		o.opts.logf("warning: the earlier build at %s could not be removed (the next build removes it): %v", o.tmp, err)
		return nil
	}
	o.tmp = ""
	o.opts.stepf("earlier removed")
	return nil
}

// release ends the build's hold on the output: the temporary directory (the
// unfinished build, or the earlier one after the swap) and its marker are
// removed, then the lock; OUT is removed if this build created it and left
// nothing in it.
func (o *output) release() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if o.tmp != "" {
		keep(os.RemoveAll(o.tmp))
	}
	if o.mark != nil {
		keep(os.Remove(o.mark.Name()))
		o.mark.Close()
	}
	if o.tmp != "" || o.mark != nil {
		keep(syncPath(o.out))
	}
	if o.lock != nil {
		keep(os.Remove(o.lock.Name()))
		o.lock.Close()
	}
	if o.created && !o.done {
		_ = os.Remove(o.out) // only when empty
	}
	o.tmp, o.mark, o.lock = "", nil, nil
	if first != nil {
		return fmt.Errorf("output: %w", first)
	}
	return nil
}

// looseManifest is what ownership needs of manifest.json, in every format:
// format 1 and any later one that keeps the tool and cluster fields.
type looseManifest struct {
	Format  *int            `json:"format"`
	Tool    string          `json:"tool"`
	Cluster string          `json:"cluster"`
	Outputs json.RawMessage `json:"outputs"`
}

// checkEarlierBuild tells whether dir holds an earlier build of cluster
// name (true), nothing (false), or anything else (an error saying what).
// An earlier build holding one of the inputs is refused too.
func checkEarlierBuild(dir, name string, inputs []input) (bool, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("output: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := os.Readlink(dir)
		return false, fmt.Errorf(msgOutSymlink, dir, target, name)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf(msgOutNotDir, dir, fileKind(fi.Mode()), name)
	}
	mp := filepath.Join(dir, "manifest.json")
	mfi, err := os.Lstat(mp)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf(msgOutNoManifest, dir, name)
	}
	if err != nil {
		return false, fmt.Errorf("output: %w", err)
	}
	if !mfi.Mode().IsRegular() {
		return false, fmt.Errorf(msgOutBadManifest, dir, name, "is a "+fileKind(mfi.Mode()))
	}
	b, err := os.ReadFile(mp)
	if err != nil {
		return false, fmt.Errorf("output: %w", err)
	}
	var m looseManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return false, fmt.Errorf(msgOutBadManifest, dir, name, "is not valid JSON ("+err.Error()+")")
	}
	switch {
	case m.Tool != "pgha-bundle":
		return false, fmt.Errorf(msgOutOtherTool, dir, m.Tool)
	case m.Format == nil || *m.Format < 1:
		return false, fmt.Errorf(msgOutBadManifest, dir, name, "has no format number")
	case m.Cluster != name:
		return false, fmt.Errorf(msgOutOtherClust, dir, m.Cluster, name, filepath.Join(filepath.Dir(dir), m.Cluster))
	}
	if err := checkInputsOutside(dir, inputs); err != nil {
		return false, err
	}
	if err := checkOnlyOutputs(dir, m.Outputs); err != nil {
		return false, err
	}
	return true, nil
}

// checkOnlyOutputs refuses a build directory holding files its manifest
// does not list (a user's notes, a spec): replacing it would delete them.
// Directories are not listed; manifest.json and SHA256SUMS are always there.
// A later format without a list of outputs is taken as it is.
func checkOnlyOutputs(dir string, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var outputs []struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &outputs); err != nil {
		return nil
	}
	listed := map[string]bool{"manifest.json": true, "SHA256SUMS": true}
	for _, e := range outputs {
		listed[e.Path] = true
	}
	var foreign []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if !listed[filepath.ToSlash(rel)] || !d.Type().IsRegular() {
			foreign = append(foreign, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if len(foreign) == 0 {
		return nil
	}
	sort.Strings(foreign)
	list := strings.Join(foreign, ", ")
	if len(foreign) > 5 {
		list = strings.Join(foreign[:5], ", ") + fmt.Sprintf(" and %d more", len(foreign)-5)
	}
	return fmt.Errorf(msgOutForeign, dir, filepath.Base(dir), list)
}

// input is a file or directory the build reads.
type input struct{ kind, path, lost string }

// inputsOf lists what the build reads, as Render will resolve it.
func inputsOf(opts *Options, spec *cluster.Spec) []input {
	secretsPath := opts.SecretsPath
	if secretsPath == "" {
		secretsPath = DefaultSecretsPath(opts.SpecPath)
	}
	ins := []input{{"secrets file", secretsPath, ", and with it the cluster's CA key and passwords"}}
	if opts.SpecData == nil {
		ins = append([]input{{"spec", opts.SpecPath, ""}}, ins...)
	}
	dir, keys := packageSources(spec, opts)
	if dir != "" {
		ins = append(ins, input{"package directory", dir, ""})
	}
	for _, k := range keys {
		ins = append(ins, input{"key", k, ""})
	}
	if opts.BaseProvides != "" {
		ins = append(ins, input{"base-provides file", opts.BaseProvides, ""})
	}
	return ins
}

// checkInputsOutside refuses inputs inside dir, whatever path leads there
// (symbolic links, bind mounts): each input's nearest existing ancestors are
// compared with dir by device and inode.
func checkInputsOutside(dir string, ins []input) error {
	dfi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	for _, in := range ins {
		p, err := filepath.Abs(in.path)
		if err != nil {
			return fmt.Errorf("%s %s: %w", in.kind, in.path, err)
		}
		for {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				p = real
				break
			}
			up := filepath.Dir(p)
			if up == p {
				break
			}
			p = up
		}
		for {
			if fi, err := os.Stat(p); err == nil && os.SameFile(fi, dfi) {
				return fmt.Errorf(msgInputInside, in.kind, in.path, dir, in.lost)
			}
			up := filepath.Dir(p)
			if up == p {
				break
			}
			p = up
		}
	}
	return nil
}

// syncTree fsyncs every file and directory under dir, dir included. The
// files are synced side by side (syncers at a time): the file system then
// commits many of them in one journal transaction, and the disk queue stays
// full while the big outputs' last pages go out.
func syncTree(dir string) error {
	var dirs, files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(syncers, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = syncPath(files[i])
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Deepest first, so a directory is synced after its entries.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syncPath(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// syncers is how many files syncTree syncs at once.
const syncers = 16

// syncPath fsyncs one file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// interrupted is the error of a build stopped by its context (SIGINT or
// SIGTERM in the CLI).
func interrupted(ctx context.Context) error {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = ctx.Err()
	}
	return &InterruptedError{Cause: cause}
}

// InterruptedError is returned when the build's context ended before the
// new build was in place: its temporary directory is removed and the
// previous output is unchanged.
type InterruptedError struct{ Cause error }

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted (%v): the temporary directory was removed", e.Cause)
}

func (e *InterruptedError) Unwrap() error { return e.Cause }
