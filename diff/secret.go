package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/payload"
)

// secretWords are the parts of a YAML key that mark its value as a secret:
// patroni.yml's authentication passwords, cloud-init's passwd/chpasswd and
// ssh_keys (rsa_private…), any *_secret or *_token a user adds.
var secretWords = []string{"password", "passwd", "secret", "token", "private", "credential"}

// notSecretKeys are keys that hold a secret word but no secret. etcd's
// initial-cluster-token only keeps two clusters from joining each other by
// mistake: it is the same on every member, written in plain in every etcd
// config and shown by etcdctl, and grants nothing; showing its change helps.
// PostgreSQL's password_encryption names a hash algorithm (scram-sha-256).
var notSecretKeys = map[string]bool{"initial-cluster-token": true, "password_encryption": true}

// IsSecretKey reports whether a YAML key names a secret value (compared
// without case): its value, and everything below it, is only ever shown as a
// short hash.
func IsSecretKey(key string) bool {
	k := strings.ToLower(key)
	if notSecretKeys[k] {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// ShortHash is how a secret is shown: "sha256:" and the first 8 hex digits of
// the sha256 of its bytes, enough to see that it changed and to check a
// candidate (printf %s "$pw" | sha256sum) without revealing it.
func ShortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:4])
}

// secretLine matches the lines of a secret non-YAML file that carry a secret:
// HAProxy's "stats auth user:password" and userlist passwords, anything named
// a password, secret, token or key, and the body of a PEM block.
var secretLine = regexp.MustCompile(`(?i)password|passwd|secret|token|private|credential|\bauth\b|-----(BEGIN|END) |^\s*[A-Za-z0-9+/]{16,}={0,2}\s*$`)

// redactor hides secrets in what diff and inspect print. It knows the secret
// values of both sides (from YAML secret keys and the secret lines of secret
// files), so a secret copied elsewhere is hidden too.
type redactor struct {
	known []string // longest first, so a secret holding another is found whole
}

// minSecretLen keeps short values (a "0" or "on" under a token key) from
// redacting every line that holds them.
const minSecretLen = 4

// newRedactor collects the secrets of every file of both sides.
func newRedactor(sides ...*Side) *redactor {
	set := map[string]bool{}
	// Most files are the same on both sides: read each content once.
	seen := map[string]bool{}
	for _, s := range sides {
		for _, n := range s.Nodes {
			for _, f := range n.all() {
				k := f.Path + "\x00" + strconv.FormatBool(f.Secret) + "\x00" + string(f.Content)
				if !seen[k] {
					seen[k] = true
					collectSecrets(f, set)
				}
			}
		}
	}
	r := &redactor{}
	for v := range set {
		if len(v) >= minSecretLen {
			r.known = append(r.known, v)
		}
	}
	sort.Slice(r.known, func(i, j int) bool {
		if len(r.known[i]) != len(r.known[j]) {
			return len(r.known[i]) > len(r.known[j])
		}
		return r.known[i] < r.known[j]
	})
	return r
}

// collectSecrets adds the secret values f holds to set.
func collectSecrets(f payload.File, set map[string]bool) {
	if isYAMLName(f.Path) {
		// Only a key holding a secret word marks a secret: a file without
		// one has nothing to collect and is not parsed.
		if !mentionsSecretWord(f.Content) {
			return
		}
		if v, ok := parseYAML(f.Content); ok {
			walkSecrets(v, false, set)
			return
		}
	}
	if isPrivateKey(f.Content) {
		// The key is its base64 lines; the BEGIN/END markers are public
		// (certificates carry them too).
		for _, l := range strings.Split(string(f.Content), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
				set[l] = true
			}
		}
		return
	}
	if !f.Secret {
		return
	}
	for _, l := range strings.Split(string(f.Content), "\n") {
		if !secretLine.MatchString(l) {
			continue
		}
		// A password on such a line is one of its words (or the part of
		// "user:password" after the colon); keep the ones that look generated
		// rather than like a keyword or a path.
		for _, w := range strings.FieldsFunc(l, func(r rune) bool {
			return r == ' ' || r == '\t' || r == ':' || r == '=' || r == '"' || r == '\''
		}) {
			if len(w) >= 8 && !strings.HasPrefix(w, "/") && strings.ContainsAny(w, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+/!@#$%^&*") {
				set[w] = true
			}
		}
	}
}

// mentionsSecretWord reports whether b holds any of secretWords, in any case.
func mentionsSecretWord(b []byte) bool {
	lower := bytes.ToLower(b)
	for _, w := range secretWords {
		if bytes.Contains(lower, []byte(w)) {
			return true
		}
	}
	return false
}

// walkSecrets adds every scalar under a secret key to set.
func walkSecrets(v any, secret bool, set map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			walkSecrets(c, secret || IsSecretKey(k), set)
		}
	case []any:
		for _, c := range t {
			walkSecrets(c, secret, set)
		}
	case nil:
	default:
		if secret {
			v := fmt.Sprint(t)
			set[v] = true
			// A multi-line secret (a key in a block scalar) is also
			// looked for line by line.
			if strings.Contains(v, "\n") {
				for _, l := range strings.Split(v, "\n") {
					set[strings.TrimSpace(l)] = true
				}
			}
		}
	}
}

// holdsSecret reports whether s contains a known secret value.
func (r *redactor) holdsSecret(s string) bool {
	for _, k := range r.known {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// line returns a line of text fit to print: unchanged, or, when it holds a
// known secret or (in a secret file) looks like it carries one, a marker with
// the line's short hash so that a rotation still shows as a change.
func (r *redactor) line(secretFile bool) func(string) string {
	return func(s string) string {
		if r.holdsSecret(s) || (secretFile && secretLine.MatchString(s)) {
			return "[redacted line " + ShortHash([]byte(s)) + "]"
		}
		return s
	}
}

// value returns a copy of a YAML value fit to print: scalars under secret keys
// (or holding a known secret) become their short hash.
func (r *redactor) value(v any, secret bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, c := range t {
			out[k] = r.value(c, secret || IsSecretKey(k))
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = r.value(c, secret)
		}
		return out
	case nil:
		return nil
	default:
		s := fmt.Sprint(t)
		if secret || r.holdsSecret(s) {
			return "[redacted " + ShortHash([]byte(s)) + "]"
		}
		return t
	}
}

// RedactFile returns the content of f fit to print, for inspect: every known
// secret of side (see IsSecretKey) is replaced by its short hash, and in a
// file marked secret every line that still looks like it carries one (see
// secretLine) is replaced whole.
func RedactFile(side *Side, f payload.File) []byte {
	r := newRedactor(side)
	yamlFile := isYAMLName(f.Path)
	ls := lines(string(f.Content))
	var sb strings.Builder
	for _, l := range ls {
		text, nl := strings.CutSuffix(l, "\n")
		for _, k := range r.known {
			text = strings.ReplaceAll(text, k, "[redacted "+ShortHash([]byte(k))+"]")
		}
		if f.Secret && secretLine.MatchString(text) && !(yamlFile && strings.Contains(text, "[redacted ")) {
			text = "[redacted line " + ShortHash([]byte(strings.TrimSuffix(l, "\n"))) + "]"
		}
		sb.WriteString(text)
		if nl {
			sb.WriteString("\n")
		}
	}
	return []byte(sb.String())
}
