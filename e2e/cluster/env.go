package e2ecluster

import (
	"fmt"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/layout"
)

// ParseEnvFile reads KEY=VALUE lines as written in systemd EnvironmentFile=
// files: comments and blank lines skipped, an optional leading "export",
// values unquoted ('…' literally, "…" with backslash escapes). It refuses
// what a shell would evaluate ($(…), backticks): such a file must be
// readable without running anything.
func ParseEnvFile(s string) (map[string]string, error) {
	env := map[string]string{}
	for n, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || !isName(k) {
			return nil, fmt.Errorf("line %d: not KEY=VALUE: %q", n+1, line)
		}
		val, err := unquote(v)
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n+1, k, err)
		}
		env[k] = val
	}
	return env, nil
}

func unquote(v string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\'':
			j := strings.IndexByte(v[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated single quote")
			}
			b.WriteString(v[i+1 : i+1+j])
			i += j + 1
		case '"':
			i++
			for ; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				} else if v[i] == '$' || v[i] == '`' {
					return "", fmt.Errorf("expansion inside double quotes is not supported")
				}
				b.WriteByte(v[i])
			}
			if i >= len(v) {
				return "", fmt.Errorf("unterminated double quote")
			}
		case '$', '`':
			return "", fmt.Errorf("unquoted %q would be expanded by the shell", c)
		case ' ', '\t':
			return "", fmt.Errorf("unquoted white space")
		case '\\':
			if i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// factsEnv reads a node's installed facts (layout.NodeFacts) into the
// PGHA_* names the harness uses: every single-valued fact, the ports and
// the TLS files etcdctl presents.
func factsEnv(b []byte) (map[string]string, error) {
	lines, err := layout.ParseFacts(b)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, l := range lines {
		switch {
		case l[0] == "port" && len(l) == 4:
			env["PGHA_PORT_"+strings.ToUpper(l[1])] = l[2]
		case l[0] == "path" && len(l) == 3:
			switch l[1] {
			case "ca":
				env["PGHA_ETCD_CACERT"] = l[2]
			case "cert":
				env["PGHA_ETCD_CERT"] = l[2]
			case "etcd_key":
				env["PGHA_ETCD_KEY"] = l[2]
			}
		case len(l) == 2:
			// A single-valued fact, as the scripts name it: node is
			// PGHA_NODE, etcd_endpoints PGHA_ETCD_ENDPOINTS.
			env["PGHA_"+strings.ToUpper(l[0])] = l[1]
		}
	}
	return env, nil
}
