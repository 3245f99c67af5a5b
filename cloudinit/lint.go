package cloudinit

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// keySet is an allowlist of mapping keys.
type keySet map[string]bool

func keys(ks ...string) keySet {
	s := keySet{}
	for _, k := range ks {
		s[k] = true
	}
	return s
}

func (s keySet) plus(ks ...string) keySet {
	n := keySet{}
	for k := range s {
		n[k] = true
	}
	for _, k := range ks {
		n[k] = true
	}
	return n
}

func (s keySet) String() string {
	l := make([]string, 0, len(s))
	for k := range s {
		l = append(l, k)
	}
	sort.Strings(l)
	return strings.Join(l, ", ")
}

// lintRules are the keys a target's cloud-init understands, limited to the
// modules a seed of this tool has reason to use. Password keys are left out
// on purpose: secrets never go into user-data.
type lintRules struct {
	cloudInit  string // the version the target ships, for messages
	top        keySet
	writeFiles keySet
	users      keySet
	ntp        keySet
}

var (
	el7Top = keys("hostname", "fqdn", "preserve_hostname", "manage_etc_hosts",
		"timezone", "ntp", "users", "groups", "write_files", "bootcmd", "runcmd",
		"ssh_authorized_keys", "ssh_pwauth", "disable_root", "ssh_deletekeys",
		"ssh_genkeytypes", "locale", "final_message")
	el7WriteFiles = keys("path", "content", "encoding", "owner", "permissions")
	el7Users      = keys("name", "gecos", "groups", "homedir", "inactive", "lock_passwd",
		"no_create_home", "no_user_group", "primary_group", "selinux_user", "shell",
		"ssh_authorized_keys", "sudo", "system", "uid", "expiredate")
	el7NTP = keys("enabled", "ntp_client", "config", "servers", "pools")

	rules = map[string]lintRules{
		"el7": {"18.5", el7Top, el7WriteFiles, el7Users, el7NTP},
		// el8 from 8.6 and el9 ship cloud-init 22.1 or later.
		"el8": {"22.1+", el7Top.plus("prefer_fqdn_over_hostname"), el7WriteFiles.plus("append", "defer"), el7Users, el7NTP},
		"el9": {"22.1+", el7Top.plus("prefer_fqdn_over_hostname"), el7WriteFiles.plus("append", "defer"), el7Users, el7NTP},
	}
)

// ErrLint is wrapped by every error Lint returns.
var ErrLint = errors.New("user-data uses keys the target's cloud-init does not understand")

// Lint checks that userData is a #cloud-config document whose keys the
// cloud-init of target os (el7, el8, el9) understands: top-level keys and the
// keys of write_files, users and ntp entries. It reports every problem at
// once.
func Lint(os string, userData []byte) error {
	r, ok := rules[os]
	if !ok {
		return fmt.Errorf("lint user-data: unknown target os %q (want el7, el8 or el9)", os)
	}
	if !bytes.HasPrefix(userData, []byte("#cloud-config\n")) {
		return fmt.Errorf("lint user-data: the first line must be #cloud-config")
	}
	var doc map[string]any
	if err := yaml.Unmarshal(userData, &doc); err != nil {
		return fmt.Errorf("lint user-data: %w", err)
	}
	var problems []string
	bad := func(path string, allowed keySet) {
		problems = append(problems, fmt.Sprintf("%s is not understood by cloud-init %s on %s (allowed: %s)", path, r.cloudInit, os, allowed))
	}
	checkMap := func(path string, v any, allowed keySet) {
		m, ok := v.(map[string]any)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a mapping", path))
			return
		}
		for _, k := range sortedKeys(m) {
			if !allowed[k] {
				bad(path+"."+k, allowed)
			}
		}
	}
	checkList := func(key string, allowed keySet, allowString bool) {
		v, ok := doc[key]
		if !ok {
			return
		}
		l, ok := v.([]any)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not a list", key))
			return
		}
		for i, e := range l {
			if _, isString := e.(string); isString && allowString {
				continue
			}
			checkMap(fmt.Sprintf("%s[%d]", key, i), e, allowed)
		}
	}
	for _, k := range sortedKeys(doc) {
		if !r.top[k] {
			bad(k, r.top)
		}
	}
	checkList("write_files", r.writeFiles, false)
	checkList("users", r.users, true) // "default" names the image's default user
	if v, ok := doc["ntp"]; ok {
		checkMap("ntp", v, r.ntp)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w:\n  %s", ErrLint, strings.Join(problems, "\n  "))
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}
