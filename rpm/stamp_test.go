package rpm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func stampFile(t *testing.T, path string, now time.Time) Stamp {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := StampOf(f, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStamp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.rpm")
	if err := os.WriteFile(p, []byte("package bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fresh := stampFile(t, p, now)
	if fresh.Settled {
		t.Fatal("a file written just now is settled: a change within the same timestamp tick would go unseen")
	}
	if fresh.Size != 13 {
		t.Fatalf("size %d, want 13", fresh.Size)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	later := stampFile(t, p, now.Add(settleTime+time.Second))
	if want := localFS[int64(fs.Type)]; later.Settled != want {
		t.Fatalf("stamped %s later on file system type %#x: settled %v, want %v", settleTime+time.Second, fs.Type, later.Settled, want)
	}
	if !later.Same(fresh) {
		t.Fatal("two stamps of an unchanged file differ")
	}

	changes := []struct {
		name   string
		change func() error
	}{
		{"appended", func() error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := f.Write([]byte("x")); err != nil {
				return err
			}
			return f.Close()
		}},
		{"times set", func() error { return os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)) }},
		{"replaced", func() error {
			if err := os.WriteFile(p+".new", []byte("package bytes"), 0o644); err != nil {
				return err
			}
			return os.Rename(p+".new", p)
		}},
	}
	for _, c := range changes {
		before := stampFile(t, p, now)
		if err := c.change(); err != nil {
			t.Fatal(err)
		}
		if after := stampFile(t, p, now); after.Same(before) {
			t.Errorf("%s: the stamp did not change", c.name)
		}
	}
}

// TestVerifyFileNoticesAChangeWhileReading: a file written to while it is
// verified is not verified, even when the bytes read happened to pass.
func TestVerifyFileNoticesAChangeWhileReading(t *testing.T) {
	seeds, _ := fuzzSeeds(t)
	p := filepath.Join(t.TempDir(), "seed.rpm")
	if err := os.WriteFile(p, seeds[4], 0o644); err != nil { // unsigned: digests only
		t.Fatal(err)
	}
	res, err := verifyFile(p, nil, nil)
	if err != nil || res.Err != nil {
		t.Fatalf("unchanged: %v, %v", err, res.Err)
	}
	if !res.Stamp.Same(stampFile(t, p, time.Now())) {
		t.Fatal("the result's stamp is not the file's")
	}
	touched := false
	res, err = verifyFile(p, nil, func(int64) {
		if !touched {
			touched = true
			if err := os.Chtimes(p, time.Unix(1, 0), time.Unix(1, 0)); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil || res.Err == nil || !strings.Contains(res.Err.Error(), "changed while it was verified") {
		t.Fatalf("changed while read: %v, %v; want an error saying it changed", err, res.Err)
	}
}
