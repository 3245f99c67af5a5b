package rpm_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/pgha-bundle/pgha-bundle/internal/fixture"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// private returns k's private key, binary and armored.
func private(t *testing.T, k *fixture.Key) (bin, armored []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := k.Entity.SerializePrivate(&b, nil); err != nil {
		t.Fatal(err)
	}
	var a bytes.Buffer
	w, err := armor.Encode(&a, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b.Bytes())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), a.Bytes()
}

// TestParseKeysRefuses gives ParseKeys files that hold no public key: each
// error names the file, wraps ErrNotKey, says what is wrong and what a key
// file holds. On main a text file said only "openpgp: invalid data: tag byte
// does not have MSB set", and a private key was accepted (and shipped in
// every bundle).
func TestParseKeysRefuses(t *testing.T) {
	key, _ := testKeys(t)
	privBin, privArmored := private(t, key)
	pub := key.ArmoredPublic()
	var sig bytes.Buffer
	w, err := armor.Encode(&sig, openpgp.SignatureType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte{0x88, 0x01, 0x00})
	w.Close()
	cases := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "the file is empty"},
		{"text", []byte("hello\n"), "neither an armored block nor a binary OpenPGP packet"},
		{"yaml", []byte("cluster:\n  name: x\n"), "neither an armored block nor a binary OpenPGP packet"},
		{"binary garbage", []byte{0xff, 0x00, 0x13, 0x37}, "binary OpenPGP data that does not parse as a public key"},
		{"cut binary key", key.BinaryPublic()[:40], "binary OpenPGP data that does not parse as a public key"},
		{"cut armored key", pub[:len(pub)/2], "a damaged armored public key block"},
		{"armored signature", sig.Bytes(), `an armored "PGP SIGNATURE" block, not a public key block`},
		{"armored private key", privArmored, "it holds a private key"},
		{"binary private key", privBin, "it holds a private key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el, err := rpm.ParseKeys("/keys/RPM-GPG-KEY-x", tc.data)
			if !errors.Is(err, rpm.ErrNotKey) {
				t.Fatalf("ParseKeys: %d keys, %v; want %v", len(el), err, rpm.ErrNotKey)
			}
			msg := err.Error()
			for _, want := range []string{"key /keys/RPM-GPG-KEY-x: not an OpenPGP public key: ", tc.msg, "-----BEGIN PGP PUBLIC KEY BLOCK-----", "gpg --export"} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q lacks %q", msg, want)
				}
			}
			if text := len(tc.data) == 0 || tc.data[0]&0x80 == 0; text && strings.Contains(msg, "MSB") {
				t.Errorf("%q: the library's words, not the user's", msg)
			}
		})
	}
}

// FuzzParseKeys feeds arbitrary bytes to ParseKeys: no panic, and an error
// unless it found public keys only. Seeds are armored and binary keys.
func FuzzParseKeys(f *testing.F) {
	key, err := fixture.NewKey("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key.ArmoredPublic())
	f.Add(key.BinaryPublic())
	f.Add([]byte("hello\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := rpm.ParseKeys("k", data)
		if err != nil {
			if !errors.Is(err, rpm.ErrNotKey) {
				t.Fatalf("an error that is not ErrNotKey: %v", err)
			}
			return
		}
		if len(el) == 0 {
			t.Fatal("no error and no key")
		}
		for _, e := range el {
			if e.PrivateKey != nil {
				t.Fatal("a private key accepted")
			}
		}
	})
}
