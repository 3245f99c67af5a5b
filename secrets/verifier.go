package secrets

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// SCRAMVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for
// user's password (RFC 5802, RFC 7677; PostgreSQL's pg_authid.rolpassword):
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64. Given
// to ALTER ROLE … PASSWORD, PostgreSQL stores it as it is, so the password
// itself never reaches the server or its log. The salt is derived from the
// password and the user (an HMAC) instead of drawn at random, so the same
// secrets give the same verifier and builds stay byte-identical; it is as
// unpredictable as the password and differs between users.
func SCRAMVerifier(user, password string) (string, error) {
	salt := mac([]byte(password), []byte("pgha-bundle scram salt "+user))[:16]
	// The passwords are printable ASCII: SASLprep leaves them unchanged.
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram verifier of %s: %w", user, err)
	}
	clientKey := mac(salted, []byte("Client Key"))
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, []byte("Server Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

// MD5Verifier returns the md5 hash PostgreSQL stores for user's password
// when password_encryption is md5 (the servers before 10): "md5" and the hex
// md5 of the password followed by the user name.
func MD5Verifier(user, password string) string {
	sum := md5.Sum([]byte(password + user))
	return "md5" + hex.EncodeToString(sum[:])
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}
