package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// FactsFormat is the format of the facts file: one fact a line, "KEY
// FIELD…", fields separated by one space and never empty, holding no white
// space or quote; lines beginning with # are comments. The scripts read it
// with `while read -r key a b c …`, so Go decides every value they need
// (members, addresses, ports, paths, units, the services a file concerns,
// the order of checks) and the scripts parse nothing else.
const FactsFormat = 2

// Facts is a facts file being written.
type Facts struct {
	b   bytes.Buffer
	err error
}

// Comment adds a comment line.
func (f *Facts) Comment(text string) {
	if strings.ContainsAny(text, "\n\r") && f.err == nil {
		f.err = fmt.Errorf("facts: comment %q holds a line break", text)
	}
	fmt.Fprintf(&f.b, "# %s\n", text)
}

// Add adds the fact key with its fields. A field that is empty or holds
// white space or a quote makes Bytes fail, naming the key: the scripts
// could not read it back.
func (f *Facts) Add(key string, fields ...any) {
	parts := make([]string, 0, len(fields)+1)
	parts = append(parts, key)
	for _, v := range fields {
		s := fmt.Sprint(v)
		if s == "" || strings.ContainsAny(s, " \t\n\r'\"\\") {
			if f.err == nil {
				f.err = fmt.Errorf("facts: %s: value %q is empty or holds white space, a quote or a backslash", key, s)
			}
		}
		parts = append(parts, s)
	}
	f.b.WriteString(strings.Join(parts, " "))
	f.b.WriteByte('\n')
}

// AddIf adds the fact only when its single value is not empty.
func (f *Facts) AddIf(key, value string) {
	if value != "" {
		f.Add(key, value)
	}
}

// Append adds the lines of another facts file, unchanged.
func (f *Facts) Append(b []byte) { f.b.Write(b) }

// Bytes returns the file, or the first bad value.
func (f *Facts) Bytes() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	return append([]byte(nil), f.b.Bytes()...), nil
}

// ParseFacts reads a facts file back as lines of fields, comments left
// out; a blank line, a double space or a line without fields is an error
// naming its line.
func ParseFacts(b []byte) ([][]string, error) {
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, " ")
		for _, x := range fields {
			if x == "" {
				return nil, fmt.Errorf("facts line %d: empty field in %q", n, line)
			}
		}
		out = append(out, fields)
	}
	return out, sc.Err()
}

// ServicesOf names the units that must restart or reload when a payload
// file changes (the CA and the certificate concern every daemon).
var ServicesOf = map[string][]string{
	EtcdConfig:       {UnitEtcd},
	EtcdUnit:         {UnitEtcd},
	EtcdKey:          {UnitEtcd},
	PatroniConfig:    {UnitPatroni},
	PatroniUnit:      {UnitPatroni},
	PatroniKey:       {UnitPatroni},
	HAProxyConfig:    {UnitHAProxy},
	HAProxyUnit:      {UnitHAProxy},
	CA:               {UnitEtcd, UnitPatroni, UnitHAProxy, UnitBackupServer},
	Cert:             {UnitEtcd, UnitPatroni, UnitHAProxy, UnitBackupServer},
	KeepalivedConfig: {UnitKeepalived},
	VIPCheck:         {UnitKeepalived},
	// pgBackRest's TLS server reads its configuration and key at start.
	PgBackRestConfig: {UnitBackupServer},
	BackupServerUnit: {UnitBackupServer},
	BackupHostKey:    {UnitBackupServer},
}

// ServiceOfPackage is the unit a package belongs to: etcd's, HAProxy's, or
// keepalived's, or Patroni's (PostgreSQL, Patroni and their libraries).
func ServiceOfPackage(name string) string {
	switch {
	case strings.Contains(name, "etcd"):
		return UnitEtcd
	case strings.Contains(name, "haproxy"):
		return UnitHAProxy
	case strings.Contains(name, "keepalived"):
		return UnitKeepalived
	}
	return UnitPatroni
}

// A backup timer's file concerns its timer: install.sh and upgrade.sh
// restart a timer whose schedule changed.
func init() {
	for _, k := range BackupTimerKinds {
		ServicesOf[BackupTimerFile(k).Path] = []string{BackupTimerName(k)}
	}
}
