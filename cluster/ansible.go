package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The groups of the old playbook's inventory whose hosts are cluster members.
const (
	groupAll    = "postgres-ha"
	groupMaster = "master"
	groupSlave  = "slave"
)

// inventory is a parsed Ansible INI inventory.
type inventory struct {
	name     string
	hosts    map[string]*invHost
	order    []string                   // host names in order of first appearance
	groups   map[string][]string        // group -> hosts, in order
	children map[string][]string        // group -> child groups
	vars     map[string][]invVar        // group -> vars, in order
	problems []invNote                  // what cannot be converted
	notes    []invNote                  // what was ignored or assumed
	seenIn   map[string]map[string]bool // host -> groups it was listed in
}

type invHost struct {
	name    string
	line    int
	addr    string
	addrAt  int
	vars    []invVar
	inGroup []string
}

type invVar struct {
	key, value string
	line       int
}

// invNote is a note or problem about an inventory line (0: the whole file).
type invNote struct {
	line int
	msg  string
}

func (inv *inventory) notef(line int, format string, args ...interface{}) {
	inv.notes = append(inv.notes, invNote{line, fmt.Sprintf(format, args...)})
}

func (inv *inventory) problemf(line int, format string, args ...interface{}) {
	inv.problems = append(inv.problems, invNote{line, fmt.Sprintf(format, args...)})
}

// format orders notes by line and writes them as NAME:LINE: message.
func (inv *inventory) format(ns []invNote) []string {
	sort.SliceStable(ns, func(i, j int) bool { return ns[i].line < ns[j].line })
	out := make([]string, len(ns))
	for i, n := range ns {
		if n.line == 0 {
			out[i] = inv.name + ": " + n.msg
		} else {
			out[i] = fmt.Sprintf("%s:%d: %s", inv.name, n.line, n.msg)
		}
	}
	return out
}

// FromAnsible converts the old playbook's INI inventory into a spec: the hosts
// of [postgres-ha], [master] and [slave] (directly or through :children)
// become the nodes, the [master] host first; the variables it knows are
// mapped. notes says what was ignored or assumed, one line each, with the
// inventory line. Hosts it cannot place (no address, a duplicated address, two
// masters) are an error listing every one: nothing is guessed. Variable
// values that look like secrets are never repeated.
func FromAnsible(r io.Reader, name string) (spec []byte, notes []string, err error) {
	data, err := readText(r, name)
	if err != nil {
		return nil, nil, err
	}
	inv, err := parseInventory(bytes.NewReader(data), name)
	if err != nil {
		return nil, nil, err
	}
	out := inv.convert()
	notes = inv.format(inv.notes)
	if len(inv.problems) > 0 {
		return nil, notes, errors.New(strings.Join(inv.format(inv.problems), "\n"))
	}
	// The result must be a valid spec: check it as the validate command would.
	_, ps, _ := Parse(name+" (converted)", out)
	if errs := ps.Errors(); len(errs) > 0 {
		return nil, notes, fmt.Errorf("the converted spec is not valid; fix the inventory:\n%s", strings.TrimSuffix(errs.String(), "\n"))
	}
	for _, w := range ps.Warnings() {
		notes = append(notes, name+": converted spec: "+w.Message)
	}
	return out, notes, nil
}

var (
	sectionRe = regexp.MustCompile(`^\[([^\]:]+)(?::(vars|children))?\]$`)
	assignRe  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$`)
)

// maxInventory bounds what is read of an inventory: the playbook's are a
// few kilobytes.
const maxInventory = 4 << 20

// readText reads an inventory whole and refuses what is not text (a binary
// file, another encoding), naming the file, rather than turning its bytes
// into hundreds of notes about odd host names.
func readText(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInventory+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxInventory {
		return nil, fmt.Errorf(msgInventoryLarge, name, maxInventory>>20)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, fmt.Errorf(msgInventoryBinary, name, "a NUL byte", i)
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return nil, fmt.Errorf(msgInventoryNotUTF8, name, i)
		}
		if r < ' ' && r != '\n' && r != '\r' && r != '\t' && r != '\f' {
			return nil, fmt.Errorf(msgInventoryBinary, name, fmt.Sprintf("the control character %U", r), i)
		}
		i += size
	}
	// Editors on Windows start UTF-8 files with a byte order mark.
	return bytes.TrimPrefix(data, []byte("\ufeff")), nil
}

// parseInventory reads the INI form of an Ansible inventory.
func parseInventory(r io.Reader, name string) (*inventory, error) {
	inv := &inventory{name: name, hosts: map[string]*invHost{}, groups: map[string][]string{},
		children: map[string][]string{}, vars: map[string][]invVar{}, seenIn: map[string]map[string]bool{}}
	sc := bufio.NewScanner(r)
	group, kind := "ungrouped", ""
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if m := sectionRe.FindStringSubmatch(line); m != nil {
			group, kind = m[1], m[2]
			continue
		}
		if strings.HasPrefix(line, "[") {
			inv.problemf(ln, "%q is not a section header like [group], [group:vars] or [group:children]", line)
			continue
		}
		switch kind {
		case "vars":
			m := assignRe.FindStringSubmatch(line)
			if m == nil {
				inv.problemf(ln, "expected NAME=VALUE in [%s:vars]", group)
				continue
			}
			inv.vars[group] = append(inv.vars[group], invVar{m[1], unquote(stripComment(m[2])), ln})
		case "children":
			inv.children[group] = append(inv.children[group], strings.Fields(stripComment(line))[0])
		default:
			inv.hostLine(group, line, ln)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read inventory %s: %w", name, err)
	}
	return inv, nil
}

// hostLine records "NAME [key=value ...]" listed in group.
func (inv *inventory) hostLine(group, line string, ln int) {
	f := splitFields(stripComment(line))
	name := f[0]
	if strings.ContainsAny(name, "[]") {
		inv.problemf(ln, "host pattern %q is not supported; list every host on its own line", name)
		return
	}
	h, ok := inv.hosts[name]
	if !ok {
		h = &invHost{name: name, line: ln}
		inv.hosts[name] = h
		inv.order = append(inv.order, name)
		inv.seenIn[name] = map[string]bool{}
	}
	if !inv.seenIn[name][group] {
		inv.seenIn[name][group] = true
		inv.groups[group] = append(inv.groups[group], name)
		h.inGroup = append(h.inGroup, group)
	}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			inv.problemf(ln, "host %s: %q is not key=value", name, kv)
			continue
		}
		v = unquote(v)
		switch k {
		case "ansible_ssh_host", "ansible_host":
			if h.addr != "" && h.addr != v {
				inv.problemf(ln, "host %s has two addresses, %s (line %d) and %s; keep one", name, h.addr, h.addrAt, v)
				continue
			}
			h.addr, h.addrAt = v, ln
		default:
			h.vars = append(h.vars, invVar{k, v, ln})
		}
	}
}

// stripComment drops an inline " # comment" outside quotes.
func stripComment(s string) string {
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case (c == '#' || c == ';') && i > 0 && (s[i-1] == ' ' || s[i-1] == '\t'):
			return strings.TrimSpace(s[:i])
		}
	}
	return strings.TrimSpace(s)
}

// splitFields splits on blanks outside quotes.
func splitFields(s string) []string {
	var out []string
	var cur strings.Builder
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteRune(c)
		case c == '"' || c == '\'':
			quote = c
			cur.WriteRune(c)
		case c == ' ' || c == '\t':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// members expands a group through its :children, in order, without repeats.
func (inv *inventory) members(group string, seen map[string]bool, out *[]string) {
	if seen["@"+group] {
		return
	}
	seen["@"+group] = true
	for _, h := range inv.groups[group] {
		if !seen[h] {
			seen[h] = true
			*out = append(*out, h)
		}
	}
	for _, c := range inv.children[group] {
		inv.members(c, seen, out)
	}
}

// converted is what the inventory's variables set in the spec.
type converted struct {
	name, os, domain, gateway, iface, timezone string
	dataDir, binDir, patroniBin, patroniCtl    string
	archiveDir                                 string
	major, prefix                              int
	dns                                        []string
}

// convert places the hosts, maps the variables and writes the spec.
func (inv *inventory) convert() []byte {
	var masters, cluster []string
	inv.members(groupMaster, map[string]bool{}, &masters)
	seen := map[string]bool{}
	for _, g := range []string{groupMaster, groupAll, groupSlave} {
		inv.members(g, seen, &cluster)
	}
	if len(masters) > 1 {
		inv.problemf(inv.hosts[masters[1]].line, "[%s] lists %d hosts (%s); a cluster starts from one master", groupMaster, len(masters), strings.Join(masters, ", "))
	}
	if len(masters) == 0 && len(cluster) > 0 {
		inv.notef(inv.hosts[cluster[0]].line, "no [%s] host: nodes keep the inventory's order (Patroni elects the leader anyway)", groupMaster)
	}
	if len(cluster) == 0 {
		inv.problemf(0, "no hosts in [%s], [%s] or [%s]: nothing to convert", groupAll, groupMaster, groupSlave)
	}
	isMember := map[string]bool{}
	for _, h := range cluster {
		isMember[h] = true
	}
	for _, name := range inv.order {
		if !isMember[name] {
			inv.notef(inv.hosts[name].line, "host %s (in [%s]) is not in [%s], [%s] or [%s]; left out",
				name, strings.Join(inv.hosts[name].inGroup, "], ["), groupAll, groupMaster, groupSlave)
		}
	}
	addrs := map[netip.Addr]string{}
	for _, name := range cluster {
		h := inv.hosts[name]
		if h.addr == "" {
			if _, err := netip.ParseAddr(name); err == nil {
				inv.problemf(h.line, "host %s is an address without a name; write NAME ansible_host=%s", name, name)
			} else {
				inv.problemf(h.line, "host %s has no ansible_host or ansible_ssh_host; add its address", name)
			}
			continue
		}
		a, err := netip.ParseAddr(h.addr)
		if err != nil {
			inv.problemf(h.addrAt, "host %s: %q is not an IP address; give the address, not a host name", name, h.addr)
			continue
		}
		if other, dup := addrs[a]; dup {
			inv.problemf(h.addrAt, "host %s has the address %s of host %s; each node needs its own", name, h.addr, other)
			continue
		}
		addrs[a] = name
		for _, v := range h.vars {
			inv.mapIgnored(v, "host "+name)
		}
	}

	c := converted{}
	for _, g := range []string{"all", groupAll, groupMaster, groupSlave} {
		for _, v := range inv.vars[g] {
			inv.mapVar(&c, g, v)
		}
	}
	for g, vs := range inv.vars {
		switch g {
		case "all", groupAll, groupMaster, groupSlave:
			continue
		}
		for _, v := range vs {
			inv.notef(v.line, "variable %s of group [%s] is not used: the group is not part of the cluster", v.key, g)
		}
	}
	if c.name == "" {
		c.name = "pgcluster"
		inv.notef(0, "no cluster name variable (cluster_name, patroni_scope, scope): using %q", c.name)
	}
	if c.os == "" {
		c.os = "el7"
		inv.notef(0, "no OS variable (rhel_version): using el7, the playbook's CentOS 7; change cluster.os if needed")
	}
	return inv.write(c, cluster, masters)
}

var secretVarRe = regexp.MustCompile(`(?i)pass|secret|token|key`)

// mapVar applies one group variable, or notes why it is not used. Values of
// secret-looking variables are never repeated.
func (inv *inventory) mapVar(c *converted, group string, v invVar) {
	val := v.value
	switch v.key {
	case "cluster_name", "patroni_scope", "scope", "patroni_cluster_name":
		c.name = val
	case "rhel_version", "el_version", "os", "os_version":
		switch strings.TrimPrefix(strings.ToLower(val), "el") {
		case "7", "8", "9":
			c.os = "el" + strings.TrimPrefix(strings.ToLower(val), "el")
		default:
			inv.problemf(v.line, "variable %s=%s is not el7, el8 or el9", v.key, val)
		}
	case "major_version", "postgres_version", "pg_version", "postgresql_version", "postgres_major_version":
		major, err := strconv.Atoi(strings.SplitN(val, ".", 2)[0])
		if err != nil || major < 10 {
			inv.problemf(v.line, "variable %s=%s is not a PostgreSQL major of 10 or later", v.key, val)
			return
		}
		c.major = major
	case "domain", "cluster_domain":
		c.domain = val
	case "gateway", "network_gateway", "default_gateway":
		c.gateway = val
	case "dns", "dns_servers", "nameservers":
		c.dns = append(c.dns, strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' })...)
	case "prefix", "netmask", "network_prefix":
		if n, err := strconv.Atoi(val); err == nil {
			c.prefix = n
		} else if m, err := netip.ParseAddr(val); err == nil && m.Is4() {
			b := m.As4()
			c.prefix = 0
			for _, x := range b {
				for ; x&0x80 != 0; x <<= 1 {
					c.prefix++
				}
			}
		} else {
			inv.problemf(v.line, "variable %s=%s is neither a prefix length nor a netmask", v.key, val)
		}
	case "interface", "network_interface", "iface", "nic":
		c.iface = val
	case "timezone":
		c.timezone = val
	case "pgdata", "pg_data", "data_dir", "pg_data_dir", "postgres_data_dir":
		c.dataDir = val
	case "pg_bin_dir", "postgres_bin_dir", "bin_dir", "pg_bin_path":
		c.binDir = val
	case "patroni_path", "patroni_bin":
		c.patroniBin = val
	case "patronictl_path", "patronictl_bin":
		c.patroniCtl = val
	case "archive_dir", "wal_archive_dir", "archive_directory":
		c.archiveDir = val
	case "package_name", "minor_version", "patch_version":
		inv.notef(v.line, "variable %s is not used: versions and paths come from the RPMs in packages.dir", v.key)
	default:
		inv.mapIgnored(v, "["+group+":vars]")
	}
}

// mapIgnored notes a variable that has no place in the spec.
func (inv *inventory) mapIgnored(v invVar, where string) {
	switch {
	case strings.HasPrefix(v.key, "ansible_"), v.key == "ssh_key_filename", strings.HasPrefix(v.key, "remote_machine_"):
		if secretVarRe.MatchString(v.key) {
			inv.notef(v.line, "variable %s (%s) is ignored: pgha-bundle does not connect to the nodes; its value is not carried over", v.key, where)
		} else {
			inv.notef(v.line, "variable %s (%s) is ignored: pgha-bundle does not connect to the nodes", v.key, where)
		}
	case secretVarRe.MatchString(v.key):
		inv.notef(v.line, "variable %s (%s) looks like a secret and is not carried over: pgha-bundle generates the passwords", v.key, where)
	default:
		inv.notef(v.line, "variable %s (%s) is not used", v.key, where)
	}
}

var plainRe = regexp.MustCompile(`^[A-Za-z0-9/_.][A-Za-z0-9/_.:-]*$`)

// yq quotes a scalar for YAML when it is not plainly safe.
func yq(s string) string {
	if plainRe.MatchString(s) {
		if _, err := strconv.ParseFloat(s, 64); err != nil && s != "true" && s != "false" && s != "null" {
			return s
		}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// write renders the converted spec.
func (inv *inventory) write(c converted, cluster, masters []string) []byte {
	var b strings.Builder
	p := func(format string, args ...interface{}) { fmt.Fprintf(&b, format, args...) }
	p("# Converted from the Ansible inventory %s by `pgha-bundle init --from-ansible`.\n", inv.name)
	p("# Review it, then check it with `pgha-bundle validate`; every field is in docs/spec.md.\n")
	p("apiVersion: %s\n\ncluster:\n  name: %s\n  os: %s\n", APIVersion, yq(c.name), yq(c.os))
	if c.domain != "" {
		p("  domain: %s\n", yq(c.domain))
	}
	p("\n# The members; the first was the playbook's master.\nnodes:\n")
	isMaster := map[string]bool{}
	for _, m := range masters {
		isMaster[m] = true
	}
	for _, name := range cluster {
		h := inv.hosts[name]
		group := groupSlave
		if isMaster[name] {
			group = groupMaster
		} else if !inv.seenIn[name][groupSlave] {
			group = groupAll
		}
		p("  - name: %s # [%s]\n    address: %s\n", yq(name), group, yq(h.addr))
	}
	if c.gateway != "" || c.iface != "" || c.prefix != 0 || len(c.dns) > 0 || c.timezone != "" {
		p("\nnetwork:\n")
		if c.iface != "" {
			p("  interface: %s\n", yq(c.iface))
		}
		if c.prefix != 0 {
			p("  prefix: %d\n", c.prefix)
		}
		if c.gateway != "" {
			p("  gateway: %s\n", yq(c.gateway))
		}
		if len(c.dns) > 0 {
			q := make([]string, len(c.dns))
			for i, d := range c.dns {
				q[i] = yq(d)
			}
			p("  dns: [%s]\n", strings.Join(q, ", "))
		}
		if c.timezone != "" {
			p("  timezone: %s\n", yq(c.timezone))
		}
	}
	if c.major != 0 || c.dataDir != "" || c.binDir != "" {
		p("\npostgresql:\n")
		if c.major != 0 {
			p("  major: %d\n", c.major)
		}
		if c.dataDir != "" {
			p("  data_dir: %s\n", yq(c.dataDir))
		}
		if c.binDir != "" {
			p("  bin_dir: %s\n", yq(c.binDir))
		}
	}
	p("\npatroni:\n  # The playbook made synchronous replication optional; to have it:\n  # synchronous_mode: true\n")
	if c.patroniBin != "" {
		p("  bin: %s\n", yq(c.patroniBin))
	}
	if c.patroniCtl != "" {
		p("  ctl: %s\n", yq(c.patroniCtl))
	}
	if c.archiveDir != "" {
		p("\narchive:\n  enabled: true\n  directory: %s\n", yq(c.archiveDir))
	}
	p("\n# The RPMs to install; add the signing keys under keys.\npackages:\n  dir: packages\n")
	return []byte(b.String())
}
