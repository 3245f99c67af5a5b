package rpm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

var (
	keysOnce       sync.Once
	goodKey, other *fixture.Key
	keysErr        error
)

// testKeys returns two keys shared by the tests of this package: the one the
// verifier is given and another one it does not know.
func testKeys(t testing.TB) (*fixture.Key, *fixture.Key) {
	t.Helper()
	keysOnce.Do(func() {
		if goodKey, keysErr = fixture.NewKey("pgha-test"); keysErr != nil {
			return
		}
		other, keysErr = fixture.NewKey("someone-else")
	})
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return goodKey, other
}

func ring(t testing.TB, keys ...*fixture.Key) *rpm.KeyRing {
	t.Helper()
	var files []rpm.KeyFile
	for i, k := range keys {
		files = append(files, rpm.KeyFile{Name: "key" + string(rune('0'+i)), Data: k.ArmoredPublic()})
	}
	r, err := rpm.NewKeyRing(files...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func etcdPackage() fixture.Package {
	return fixture.Package{
		Name: "etcd", Version: "3.4.23", Release: "1.el7", Arch: "x86_64",
		Files: []fixture.File{
			{Path: "/usr/bin/etcd", Size: 300 << 10},
			{Path: "/usr/bin/etcdctl", Body: []byte("#!/bin/sh\n")},
			{Path: "/var/lib/etcd", Dir: true, Mode: 0o700},
		},
		Requires: []string{"/bin/sh", "glibc >= 2.17"},
	}
}

func writePkg(t testing.TB, dir string, p fixture.Package, k *fixture.Key) string {
	t.Helper()
	path, err := fixture.WriteRPM(dir, p, k)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// mutate rewrites the file at path through f, into a new file named name.
func mutate(t *testing.T, path, name string, f func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(path), name)
	if err := os.WriteFile(out, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func flipAt(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x20
		return b
	}
}

// rpmVerdict is what rpmkeys --checksig says about a file.
type rpmVerdict struct {
	exitOK    bool // exit status 0
	digestsOK bool // at least one digest line, every one OK
	signedOK  bool // exit 0 and at least one signature, all OK
	output    string
}

func rpmkeys(t *testing.T, db string, args ...string) rpmVerdict {
	t.Helper()
	cmd := exec.Command("rpmkeys", append([]string{"--dbpath", db}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("rpmkeys: %v", err)
	}
	v := rpmVerdict{output: string(out)}
	digests, sigs, bad := 0, 0, false
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.Contains(l, "digest:"):
			digests++
			if !strings.HasSuffix(l, ": OK") {
				bad = true
			}
		case strings.Contains(l, "Signature, key ID"):
			sigs++
		}
	}
	v.exitOK = err == nil
	v.digestsOK = digests > 0 && !bad
	v.signedOK = err == nil && sigs > 0
	return v
}

// TestVerifyAgreesWithRpmkeys builds good and broken packages and asserts
// that our verdict and rpmkeys --checksig's are the same, with the key
// imported (signatures checked) and without keys (digests only).
func TestVerifyAgreesWithRpmkeys(t *testing.T) {
	testutil.NeedTool(t, "rpmkeys", "rpm")
	key, otherKey := testKeys(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "rpmdb")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "RPM-GPG-KEY-test")
	if err := os.WriteFile(keyFile, key.ArmoredPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("rpmkeys", "--dbpath", db, "--import", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}

	good := writePkg(t, dir, etcdPackage(), key)
	hdrOnly := etcdPackage()
	hdrOnly.Name, hdrOnly.HeaderOnlySig = "etcd-hdronly", true
	legacy := etcdPackage()
	legacy.Name, legacy.Legacy = "etcd-legacy", true
	centos7 := etcdPackage() // what CentOS 7's own packages look like
	centos7.Name, centos7.Legacy, centos7.V3Sig = "etcd-centos7", true, true
	unsigned := etcdPackage()
	unsigned.Name = "etcd-unsigned"
	otherSigned := etcdPackage()
	otherSigned.Name = "etcd-other"

	goodBytes, _ := os.ReadFile(good)
	summary := bytes.Index(goodBytes, []byte("(test fixture)"))
	// The fixture writer puts the RSA header signature (tag 268, the lowest)
	// first in the signature header's data store.
	sigStart := 96 + 16 + 16*int(binary.BigEndian.Uint32(goodBytes[96+8:]))
	if summary < 0 || goodBytes[sigStart] != 0xc2 {
		t.Fatal("fixture layout changed: cannot find the summary or the signature packet")
	}
	notRPM := filepath.Join(dir, "notes.rpm")
	if err := os.WriteFile(notRPM, []byte("this is not a package\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		path     string
		verified bool // with the key
		digests  bool // digests-only mode passes
	}{
		{"good, header and header+payload signatures", good, true, true},
		{"good, header-only signature", writePkg(t, dir, hdrOnly, key), true, true},
		{"good, EL7-era digests (SHA1, MD5)", writePkg(t, dir, legacy, key), true, true},
		{"good, CentOS 7 style (v3 signatures, SHA1 and MD5)", writePkg(t, dir, centos7, key), true, true},
		{"v3 signed, payload tampered", mutate(t, writePkg(t, dir, centos7, key), "v3-payload.rpm", flipAt(-300)), false, false},
		{"v3 signed by an unknown key", writePkg(t, t.TempDir(), centos7, otherKey), false, true},
		{"header tampered", mutate(t, good, "hdr.rpm", flipAt(summary)), false, false},
		{"payload tampered", mutate(t, good, "payload.rpm", flipAt(-300)), false, false},
		{"legacy payload tampered", mutate(t, writePkg(t, dir, legacy, key), "legacy-payload.rpm", flipAt(-300)), false, false},
		{"signature corrupted", mutate(t, good, "sig.rpm", flipAt(sigStart+40)), false, true},
		{"truncated payload", mutate(t, good, "trunc.rpm", func(b []byte) []byte { return b[:len(b)-1000] }), false, false},
		{"truncated header", mutate(t, good, "trunc-hdr.rpm", func(b []byte) []byte { return b[:summary] }), false, false},
		{"unsigned", writePkg(t, dir, unsigned, nil), false, true},
		{"signed by an unknown key", writePkg(t, dir, otherSigned, otherKey), false, true},
		{"not an RPM", notRPM, false, false},
	}
	keys := ring(t, key)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withKey, err := rpm.VerifyFile(tc.path, keys)
			if err != nil {
				t.Fatal(err)
			}
			rk := rpmkeys(t, db, "-Kv", tc.path)
			if withKey.Verified() != tc.verified || rk.signedOK != tc.verified {
				t.Errorf("with key: ours verified=%v (%v), rpmkeys verified=%v, want %v\nrpmkeys:\n%s",
					withKey.Verified(), withKey.Err, rk.signedOK, tc.verified, rk.output)
			}
			noKey, err := rpm.VerifyFile(tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			rkNo := rpmkeys(t, db, "-Kv", "--nosignature", tc.path)
			rkNoOK := rkNo.exitOK && rkNo.digestsOK
			if noKey.Verified() != tc.digests || rkNoOK != tc.digests {
				t.Errorf("digests only: ours verified=%v (%v), rpmkeys=%v, want %v\nrpmkeys:\n%s",
					noKey.Verified(), noKey.Err, rkNoOK, tc.digests, rkNo.output)
			}
			if noKey.Verified() && noKey.SignatureStatus != rpm.SigNotChecked && noKey.SignatureStatus != rpm.SigUnsigned {
				t.Errorf("without keys the signature status is %q, want it reported as not checked", noKey.SignatureStatus)
			}
			if !tc.verified && withKey.Err == nil {
				t.Error("failed verification carries no reason")
			}
		})
	}
}

// TestVerifyStreams: verifying a package allocates a fixed amount, not the
// package's size (the payload is never held in memory).
func TestVerifyStreams(t *testing.T) {
	key, _ := testKeys(t)
	const payload = 32 << 20
	path := writePkg(t, t.TempDir(), fixture.Package{
		Name: "big", Version: "1", Release: "1.el9", Arch: "x86_64", Store: true,
		Files: []fixture.File{{Path: "/usr/share/big/blob", Size: payload}},
	}, key)
	keys := ring(t, key)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := rpm.VerifyFile(path, keys)
	runtime.ReadMemStats(&after)
	if err != nil || !res.Verified() {
		t.Fatal(err, res.Err)
	}
	if res.Size < payload {
		t.Fatalf("read %d bytes of a %d-byte payload", res.Size, payload)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("verifying %d bytes allocated %d bytes", res.Size, alloc)
	if alloc > 4<<20 {
		t.Errorf("verifying a %d MiB package allocated %.1f MiB", res.Size>>20, float64(alloc)/(1<<20))
	}
}
