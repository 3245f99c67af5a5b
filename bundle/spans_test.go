package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/payload"
)

// TestSecretSpansRoundTrip: the secret spans of the payload are written to
// manifest.json and read back with the files, so diff and inspect redact a
// bundle (or the bundle of a seed ISO) exactly; a span that does not fit its
// file is refused.
func TestSecretSpansRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := testInput(t, dir)
	for i := range in.Payload.Files {
		f := &in.Payload.Files[i]
		f.Spans = payload.FindSecrets(f.Content, []string{testSuperuserPassword, testStatsPassword})
	}
	p := writeBundle(t, dir, in)
	b, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Payload, in.Payload) {
		t.Errorf("payload read back differs:\n got %+v\nwant %+v", b.Payload, in.Payload)
	}
	f, _ := b.Payload.Lookup("/etc/haproxy/haproxy.cfg")
	if got := f.SecretValues(); len(got) != 1 || got[0] != testStatsPassword {
		t.Errorf("haproxy.cfg spans hold %q", got)
	}

	// A manifest whose span runs past its file, SHA256SUMS kept consistent.
	bad := filepath.Join(dir, "bad.tar.gz")
	var manifest []byte
	rewrite(t, p, bad, func(h *tar.Header, data []byte) []byte {
		if strings.HasSuffix(h.Name, "/manifest.json") {
			data = bytes.Replace(data, []byte(fmt.Sprintf("%d\n", f.Spans[0][1])), []byte("100000\n"), 1)
			manifest = data
		}
		return data
	})
	sum := sha256.Sum256(manifest)
	rewrite(t, bad, bad, func(h *tar.Header, data []byte) []byte {
		if strings.HasSuffix(h.Name, "/SHA256SUMS") {
			var out []string
			for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				if strings.HasSuffix(l, "  manifest.json") {
					l = hex.EncodeToString(sum[:]) + "  manifest.json"
				}
				out = append(out, l)
			}
			data = []byte(strings.Join(out, "\n") + "\n")
		}
		return data
	})
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "secret span") {
		t.Errorf("Read of a manifest with a span past its file: %v", err)
	}
}
