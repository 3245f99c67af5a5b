package rpm_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// el7Dir writes the signed EL7 component set and its key; it returns the
// package directory and the key file.
func el7Dir(t *testing.T) (string, string) {
	t.Helper()
	key, _ := testKeys(t)
	dir := t.TempDir()
	if _, err := fixture.WriteSet(dir, fixture.EL7Components(), key); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "RPM-GPG-KEY-test")
	if err := os.WriteFile(keyFile, key.ArmoredPublic(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, keyFile
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestScanEL7(t *testing.T) {
	dir, keyFile := el7Dir(t)
	key, _ := testKeys(t)
	set, err := rpm.Scan(dir, rpm.ScanOptions{
		Keys: []string{keyFile}, OS: "el7", Arch: "x86_64",
		BaseProvides: writeFile(t, fixture.EL7BaseProvides),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !set.SignaturesChecked || len(set.Keys) != 1 || set.Keys[0].Name != "RPM-GPG-KEY-test" {
		t.Errorf("signatures checked %v with keys %v", set.SignaturesChecked, set.Keys)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.rpm"))
	sort.Strings(names)
	if len(set.Packages) != len(names) {
		t.Fatalf("%d packages, %d files", len(set.Packages), len(names))
	}
	for i, p := range set.Packages {
		b, err := os.ReadFile(names[i])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if p.Filename != filepath.Base(names[i]) || p.SHA256 != hex.EncodeToString(sum[:]) || p.Size != int64(len(b)) {
			t.Errorf("package %d: %s sha256 %s size %d; file %s sha256 %x size %d", i, p.Filename, p.SHA256, p.Size, names[i], sum, len(b))
		}
		if p.Signature != rpm.SigVerified || p.KeyID != key.KeyID() || p.Fingerprint != key.Fingerprint() {
			t.Errorf("%s: signature %q key %s %s", p.Filename, p.Signature, p.KeyID, p.Fingerprint)
		}
		if p.Filename != p.NEVRA+".rpm" {
			t.Errorf("NEVRA %s does not match file %s", p.NEVRA, p.Filename)
		}
	}
	c := set.Components
	if c.PostgreSQL.BinDir != "/usr/pgsql-15/bin" || c.PostgreSQL.Major != 15 || c.Etcd.Version != "3.3.11" ||
		!c.Etcd.NeedsGRPCGateway() || c.HAProxy.Bin != "/usr/sbin/haproxy" || c.Patroni.Ctl != "/usr/bin/patronictl" {
		t.Errorf("components: %+v", c)
	}
	want := []string{"/bin/sh", "glibc >= 2.17", "openssl-libs", "python3", "shadow-utils", "systemd"}
	if !reflect.DeepEqual(set.UnresolvedRequires, want) {
		t.Errorf("unresolved requires %q, want %q", set.UnresolvedRequires, want)
	}
}

func TestScanBaseProvidesClosure(t *testing.T) {
	dir, keyFile := el7Dir(t)
	var base []string
	for _, l := range strings.Split(fixture.EL7BaseProvides, "\n") {
		if !strings.HasPrefix(l, "python3") && !strings.HasPrefix(l, "systemd") {
			base = append(base, l)
		}
	}
	base = append(base, "glibc = 2.16-1.el6") // too old for glibc >= 2.17 … but an older line must not hide the right one
	_, err := rpm.Scan(dir, rpm.ScanOptions{Keys: []string{keyFile}, OS: "el7", Arch: "x86_64", BaseProvides: writeFile(t, strings.Join(base, "\n"))})
	if err == nil {
		t.Fatal("scan passed with python3 and systemd missing from the base OS")
	}
	msg := err.Error()
	if !strings.Contains(msg, "python3") || !strings.Contains(msg, "systemd") || strings.Contains(msg, "glibc") || strings.Contains(msg, "/bin/sh") {
		t.Errorf("error should list exactly python3 and systemd: %v", err)
	}

	_, err = rpm.Scan(dir, rpm.ScanOptions{Keys: []string{keyFile}, OS: "el7", Arch: "x86_64",
		BaseProvides: writeFile(t, strings.ReplaceAll(fixture.EL7BaseProvides, "glibc = 2.17-326.el7_9", "glibc = 2.12-1.el6"))})
	if err == nil || !strings.Contains(err.Error(), "glibc >= 2.17") {
		t.Errorf("an EL6 glibc must not satisfy glibc >= 2.17: %v", err)
	}
}

// TestScanReportsEveryProblem puts several bad packages in one directory:
// one run names them all.
func TestScanReportsEveryProblem(t *testing.T) {
	dir, keyFile := el7Dir(t)
	key, otherKey := testKeys(t)
	bad := []struct {
		p    fixture.Package
		key  *fixture.Key
		want string
	}{
		{fixture.Package{Name: "etcd", Version: "3.4.23", Release: "1.el7", Arch: "x86_64"}, key, "etcd-3.4.23-1.el7.x86_64.rpm: package etcd is also in etcd-3.3.11-2.el7.centos.x86_64.rpm"},
		{fixture.Package{Name: "el8pkg", Version: "1", Release: "1.el8_6", Arch: "x86_64"}, key, "release 1.el8_6 is built for el8, the cluster targets el7"},
		{fixture.Package{Name: "armpkg", Version: "1", Release: "1.el7", Arch: "aarch64"}, key, "arch aarch64 does not run on the cluster's x86_64"},
		{fixture.Package{Name: "nosig", Version: "1", Release: "1.el7", Arch: "noarch"}, nil, "nosig-1-1.el7.noarch.rpm: package is not signed"},
		{fixture.Package{Name: "stranger", Version: "1", Release: "1.el7", Arch: "noarch"}, otherKey, "not among the given keys"},
	}
	for _, b := range bad {
		if _, err := fixture.WriteRPM(dir, b.p, b.key); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.rpm"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := rpm.Scan(dir, rpm.ScanOptions{Keys: []string{keyFile}, OS: "el7", Arch: "x86_64"})
	if err == nil {
		t.Fatal("scan passed")
	}
	for _, b := range append(bad, struct {
		p    fixture.Package
		key  *fixture.Key
		want string
	}{want: "broken.rpm: not an RPM"}) {
		if !strings.Contains(err.Error(), b.want) {
			t.Errorf("error lacks %q:\n%v", b.want, err)
		}
	}
}

func TestScanWithoutKeys(t *testing.T) {
	dir, _ := el7Dir(t)
	if _, err := rpm.Scan(dir, rpm.ScanOptions{OS: "el7", Arch: "x86_64"}); err == nil || !strings.Contains(err.Error(), "allow_unsigned") {
		t.Errorf("scan without keys must require allow_unsigned: %v", err)
	}
	set, err := rpm.Scan(dir, rpm.ScanOptions{AllowUnsigned: true, OS: "el7", Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	if set.SignaturesChecked {
		t.Error("signatures reported as checked without keys")
	}
	for _, p := range set.Packages {
		if p.Signature != rpm.SigNotChecked || p.KeyID != "" {
			t.Errorf("%s: signature %q key %q without keys", p.Filename, p.Signature, p.KeyID)
		}
	}
}

// TestKeyFormats: armored and binary key files, several keys in one file.
func TestKeyFormats(t *testing.T) {
	key, otherKey := testKeys(t)
	dir := t.TempDir()
	p := writePkg(t, dir, etcdPackage(), key)
	both := append(otherKey.ArmoredPublic(), key.ArmoredPublic()...)
	for name, data := range map[string][]byte{
		"armored":          key.ArmoredPublic(),
		"binary":           key.BinaryPublic(),
		"two armored":      both,
		"two binary":       append(otherKey.BinaryPublic(), key.BinaryPublic()...),
		"only the other":   otherKey.ArmoredPublic(),
		"not a key at all": []byte("hello\n"),
	} {
		t.Run(name, func(t *testing.T) {
			ring, err := rpm.NewKeyRing(rpm.KeyFile{Name: name, Data: data})
			if name == "not a key at all" {
				if err == nil {
					t.Fatal("garbage accepted as a key")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := rpm.VerifyFile(p, ring)
			if err != nil {
				t.Fatal(err)
			}
			if want := name != "only the other"; res.Verified() != want {
				t.Errorf("verified=%v (%v), want %v", res.Verified(), res.Err, want)
			}
		})
	}
}

// TestInfoMatchesRpm compares the metadata we read with rpm -qp's.
func TestInfoMatchesRpm(t *testing.T) {
	testutil.NeedTool(t, "rpm", "rpm")
	key, _ := testKeys(t)
	p := etcdPackage()
	p.Epoch = 2
	p.Provides = []string{"etcd-server = 3.4.23", "config(etcd)"}
	path := writePkg(t, t.TempDir(), p, key)
	res, err := rpm.VerifyFile(path, nil)
	if err != nil || res.Info == nil {
		t.Fatal(err, res.Err)
	}
	query := func(qf string) string {
		out, err := exec.Command("rpm", "-qp", "--nosignature", "--qf", qf, path).Output()
		if err != nil {
			t.Fatalf("rpm -qp: %v", err)
		}
		return string(out)
	}
	var files, provides, requires strings.Builder
	for _, f := range res.Info.Files {
		kind := "-"
		if f.IsDir() {
			kind = "d"
		}
		fmt.Fprintf(&files, "%s %s %o\n", f.Path, kind, f.Mode.Perm())
	}
	for _, c := range res.Info.Provides {
		fmt.Fprintln(&provides, c)
	}
	for _, c := range res.Info.Requires {
		fmt.Fprintln(&requires, c)
	}
	for _, cmp := range []struct{ what, ours, rpms string }{
		{"NEVRA", res.Info.NEVRA(), query("%{NAME}-%{EPOCH}:%{VERSION}-%{RELEASE}.%{ARCH}")},
		{"files", files.String(), query(`[%{FILENAMES} %{FILEMODES:perms}\n]`)},
		{"provides", provides.String(), query(`[%{PROVIDENEVRS}\n]`)},
		{"requires", requires.String(), query(`[%{REQUIRENEVRS}\n]`)},
	} {
		rpms := cmp.rpms
		if cmp.what == "files" {
			rpms = permsToOctal(rpms)
		}
		if cmp.ours != rpms {
			t.Errorf("%s differ\n--- ours ---\n%s\n--- rpm ---\n%s", cmp.what, cmp.ours, rpms)
		}
	}
}

// permsToOctal turns rpm's "drwx------" into "d 700".
func permsToOctal(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		path, perms, _ := strings.Cut(line, " ")
		mode := 0
		for i, c := range perms[1:10] {
			if c != '-' {
				mode |= 1 << (8 - i)
			}
		}
		kind := "-"
		if perms[0] == 'd' {
			kind = "d"
		}
		fmt.Fprintf(&b, "%s %s %o\n", path, kind, mode)
	}
	return b.String()
}
