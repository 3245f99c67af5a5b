package e2ecluster

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Unit is the part of a systemd service unit needed to start its daemon the
// way systemd would: the command lines, the account and the environment.
type Unit struct {
	// ExecStart is the main command, split into words, with any systemd
	// prefix characters (-, @, +, !, :) removed.
	ExecStart []string
	// ExecStartPre are run in order before ExecStart.
	ExecStartPre [][]string
	// PrivilegedPre marks ExecStartPre lines prefixed with '+' (run as root).
	PrivilegedPre []bool
	// User and Group the daemon runs as; empty means root.
	User  string
	Group string
	// Environment holds Environment= assignments, in order, later ones winning.
	Environment []string
	// EnvironmentFiles are EnvironmentFile= paths; Optional marks the '-' prefix.
	EnvironmentFiles []EnvFile
	// RuntimeDirectory are directories systemd creates under /run for the unit,
	// owned by User.
	RuntimeDirectory []string
	// Type is the service type (simple, notify, forking…).
	Type string
}

// EnvFile is one EnvironmentFile= line.
type EnvFile struct {
	Path     string
	Optional bool
}

// ParseUnit reads a service unit. name is the unit's file name (for %n/%p)
// and host the node's host name (for %H); specifiers are expanded the way
// systemd does for the keys read here.
func ParseUnit(r io.Reader, name, host string) (*Unit, error) {
	u := &Unit{}
	section := ""
	sc := bufio.NewScanner(r)
	var cont string
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.HasSuffix(line, `\`) {
			cont += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line = strings.TrimSpace(cont + line)
		cont = ""
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "Service" {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("unit %s line %d: no '=' in %q", name, lineNo, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		val = expandSpecifiers(val, name, host)
		switch key {
		case "ExecStart":
			words, _, err := execLine(val)
			if err != nil {
				return nil, fmt.Errorf("unit %s line %d: %w", name, lineNo, err)
			}
			if len(words) == 0 { // an empty ExecStart= resets the list
				u.ExecStart = nil
				continue
			}
			if u.ExecStart != nil && u.Type != "oneshot" {
				return nil, fmt.Errorf("unit %s line %d: more than one ExecStart", name, lineNo)
			}
			u.ExecStart = words
		case "ExecStartPre":
			words, priv, err := execLine(val)
			if err != nil {
				return nil, fmt.Errorf("unit %s line %d: %w", name, lineNo, err)
			}
			if len(words) == 0 {
				u.ExecStartPre, u.PrivilegedPre = nil, nil
				continue
			}
			u.ExecStartPre = append(u.ExecStartPre, words)
			u.PrivilegedPre = append(u.PrivilegedPre, priv)
		case "User":
			u.User = val
		case "Group":
			u.Group = val
		case "Type":
			u.Type = val
		case "Environment":
			words, err := splitWords(val)
			if err != nil {
				return nil, fmt.Errorf("unit %s line %d: %w", name, lineNo, err)
			}
			for _, w := range words {
				if !strings.Contains(w, "=") {
					return nil, fmt.Errorf("unit %s line %d: Environment word %q has no '='", name, lineNo, w)
				}
			}
			u.Environment = append(u.Environment, words...)
		case "EnvironmentFile":
			f := EnvFile{Path: val}
			if strings.HasPrefix(val, "-") {
				f = EnvFile{Path: val[1:], Optional: true}
			}
			u.EnvironmentFiles = append(u.EnvironmentFiles, f)
		case "RuntimeDirectory":
			u.RuntimeDirectory = append(u.RuntimeDirectory, strings.Fields(val)...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("unit %s: %w", name, err)
	}
	if len(u.ExecStart) == 0 {
		return nil, fmt.Errorf("unit %s: no ExecStart", name)
	}
	return u, nil
}

// ParseUnitFile reads the unit at path; see ParseUnit.
func ParseUnitFile(path, host string) (*Unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("unit: %w", err)
	}
	defer f.Close()
	name := path[strings.LastIndex(path, "/")+1:]
	return ParseUnit(f, name, host)
}

// Command returns the argv of ExecStart with $VAR and ${VAR} expanded from env
// the way systemd does: ${VAR} is replaced inside its word, a word that is
// exactly $VAR is split on white space (and vanishes when empty).
func Command(words []string, env map[string]string) []string {
	var out []string
	for i, w := range words {
		if i > 0 && len(w) > 1 && w[0] == '$' && w[1] != '{' && isName(w[1:]) {
			out = append(out, strings.Fields(env[w[1:]])...)
			continue
		}
		out = append(out, expandBraced(w, env))
	}
	return out
}

// Env merges the unit's environment: EnvironmentFile= contents read through
// readFile (the node's view of the file system), then Environment= lines,
// in the order systemd applies them (files override Environment=).
func (u *Unit) Env(readFile func(string) ([]byte, error)) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range u.Environment {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, f := range u.EnvironmentFiles {
		b, err := readFile(f.Path)
		if err != nil {
			if f.Optional && os.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("environment file %s: %w", f.Path, err)
		}
		vars, err := ParseEnvFile(string(b))
		if err != nil {
			return nil, fmt.Errorf("environment file %s: %w", f.Path, err)
		}
		for k, v := range vars {
			env[k] = v
		}
	}
	return env, nil
}

// EnvList renders env as sorted KEY=VALUE strings for exec.
func EnvList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// execLine splits an Exec*= value and strips systemd's prefix characters.
// It reports whether the '+' (full privileges) prefix was present.
func execLine(val string) ([]string, bool, error) {
	words, err := splitWords(val)
	if err != nil || len(words) == 0 {
		return nil, false, err
	}
	priv := false
	first := words[0]
	for len(first) > 0 && strings.ContainsRune("-@+!:", rune(first[0])) {
		if first[0] == '+' {
			priv = true
		}
		if first[0] == '@' { // @ means argv[0] follows as a separate word
			words = words[1:]
			if len(words) == 0 {
				return nil, false, fmt.Errorf("'@' without argv[0] in %q", val)
			}
		}
		first = first[1:]
	}
	if first == "" {
		words = words[1:]
	} else {
		words[0] = first
	}
	if len(words) == 0 || !strings.HasPrefix(words[0], "/") {
		return nil, false, fmt.Errorf("command %q is not an absolute path", val)
	}
	return words, priv, nil
}

// splitWords splits on white space honouring double and single quotes and
// backslash escapes, as systemd does for Exec and Environment lines.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func expandSpecifiers(s, name, host string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	prefix := strings.TrimSuffix(name, ".service")
	if i := strings.Index(prefix, "@"); i >= 0 {
		prefix = prefix[:i]
	}
	r := strings.NewReplacer("%%", "%", "%n", name, "%N", strings.TrimSuffix(name, ".service"),
		"%p", prefix, "%H", host, "%l", host, "%t", "/run")
	return r.Replace(s)
}

func expandBraced(w string, env map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(w, "${")
		if i < 0 {
			b.WriteString(w)
			return b.String()
		}
		j := strings.Index(w[i:], "}")
		if j < 0 {
			b.WriteString(w)
			return b.String()
		}
		b.WriteString(w[:i])
		b.WriteString(env[w[i+2:i+j]])
		w = w[i+j+1:]
	}
}

func isName(s string) bool {
	for i, c := range s {
		if c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return s != ""
}
