// Package templates renders a node's payload (every file the node receives)
// from the embedded templates, the spec, the components found in the packages
// and the cluster's secrets.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

//go:embed files/*.tmpl
var files embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"q":        quote,
	"sh":       shellQuote,
	"hostport": hostPort,
	"indent":   indent,
	"neg":      func(i int) int { return -i },
}).ParseFS(files, "files/*.tmpl"))

// Database and API user names; their passwords are in the secrets file.
var users = struct {
	Superuser, Replication, Rewind, RestAPI, HAProxyStats string
}{"postgres", "replicator", "rewind_user", "patroni", "haproxy"}

// output is one file of the payload and the template that makes it.
type output struct {
	path, template string
	mode           fs.FileMode
	owner, group   string
	secret         bool
	when           func(*view) bool
}

var outputs = []output{
	{path: "/etc/patroni/patroni.yml", template: "patroni.yml.tmpl", mode: 0o600, owner: "postgres", group: "postgres", secret: true},
	{path: "/etc/patroni/dcs.yml", template: "dcs.yml.tmpl", mode: 0o600, owner: "postgres", group: "postgres"},
	{path: "/etc/etcd/etcd.conf.yml", template: "etcd.conf.yml.tmpl", mode: 0o640, owner: "root", group: "etcd"},
	{path: "/etc/haproxy/haproxy.cfg", template: "haproxy.cfg.tmpl", mode: 0o640, owner: "root", group: "haproxy", secret: true},
	{path: "/etc/systemd/system/etcd.service", template: "etcd.service.tmpl", mode: 0o644, owner: "root", group: "root"},
	{path: "/etc/systemd/system/patroni.service", template: "patroni.service.tmpl", mode: 0o644, owner: "root", group: "root"},
	{path: "/etc/systemd/system/haproxy.service", template: "haproxy.service.tmpl", mode: 0o644, owner: "root", group: "root"},
	{path: "/etc/pgha-bundle/hosts", template: "hosts.tmpl", mode: 0o644, owner: "root", group: "root"},
	{path: "/etc/pgha-bundle/node.env", template: "node.env.tmpl", mode: 0o644, owner: "root", group: "root"},
	{path: "/etc/modules-load.d/softdog.conf", template: "softdog.conf.tmpl", mode: 0o644, owner: "root", group: "root", when: watchdogOn},
	{path: "/etc/udev/rules.d/99-pgha-watchdog.rules", template: "watchdog.rules.tmpl", mode: 0o644, owner: "root", group: "root", when: watchdogOn},
}

func watchdogOn(v *view) bool { return v.Watchdog != "off" }

// pki is where a node keeps the cluster's CA and its own certificate and key.
// The key is there twice, each copy readable only by the daemon that uses it.
var pki = struct{ CA, Cert, EtcdKey, PatroniKey string }{
	CA:         "/etc/pgha-bundle/pki/ca.crt",
	Cert:       "/etc/pgha-bundle/pki/node.crt",
	EtcdKey:    "/etc/pgha-bundle/pki/etcd.key",
	PatroniKey: "/etc/pgha-bundle/pki/patroni.key",
}

// pkiFiles are the node's TLS files, taken from the secrets.
func pkiFiles(sec *secrets.Secrets, node string) ([]payload.File, error) {
	nc, ok := sec.NodeCertificate(node)
	if !ok || sec.TLS.CACert == "" {
		return nil, fmt.Errorf("render %s: the secrets file holds no TLS certificate for the node: run pgha-bundle build, which issues it", node)
	}
	return []payload.File{
		{Path: pki.CA, Mode: 0o644, Owner: "root", Group: "root", Content: []byte(sec.TLS.CACert)},
		{Path: pki.Cert, Mode: 0o644, Owner: "root", Group: "root", Content: []byte(nc.Cert)},
		{Path: pki.EtcdKey, Mode: 0o600, Owner: "etcd", Group: "etcd", Secret: true, Content: []byte(nc.Key)},
		{Path: pki.PatroniKey, Mode: 0o600, Owner: "postgres", Group: "postgres", Secret: true, Content: []byte(nc.Key)},
	}, nil
}

// Render returns the payload of one node. spec must be loaded and valid
// (defaults applied); comp comes from the verified packages.
func Render(spec *cluster.Spec, nodeName string, comp rpm.Components, sec *secrets.Secrets) (payload.Node, error) {
	v, err := newView(spec, nodeName, comp, sec)
	if err != nil {
		return payload.Node{}, err
	}
	var dcs bytes.Buffer
	if err := tmpl.ExecuteTemplate(&dcs, "dcs.yml.tmpl", v); err != nil {
		return payload.Node{}, fmt.Errorf("render dcs.yml for %s: %w", nodeName, err)
	}
	v.DCS = dcs.String()

	n := payload.Node{Name: nodeName}
	tlsFiles, err := pkiFiles(sec, nodeName)
	if err != nil {
		return payload.Node{}, err
	}
	for _, f := range tlsFiles {
		n.Add(f)
	}
	for _, o := range outputs {
		if o.when != nil && !o.when(v) {
			continue
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, o.template, v); err != nil {
			return payload.Node{}, fmt.Errorf("render %s for %s: %w", o.path, nodeName, err)
		}
		n.Add(payload.File{Path: o.path, Mode: o.mode, Owner: o.owner, Group: o.group, Secret: o.secret, Content: buf.Bytes()})
	}
	markSecrets(&n, sec)
	if err := n.Sort(); err != nil {
		return payload.Node{}, err
	}
	return n, nil
}

// markSecrets records where the values of the secrets file landed in every
// file of n: diff and inspect hide exactly these spans. A file holding one is
// secret, whatever its template said; a file its template calls secret but
// that holds none (a template edit) is hidden whole rather than shown.
func markSecrets(n *payload.Node, sec *secrets.Secrets) {
	values := sec.Values()
	for i := range n.Files {
		f := &n.Files[i]
		f.Spans = payload.FindSecrets(f.Content, values)
		if len(f.Spans) > 0 {
			f.Secret = true
		} else if f.Secret && len(f.Content) > 0 {
			f.Spans = []payload.Span{{0, len(f.Content)}}
		}
	}
}

// RenderAll renders every node of the spec, in spec order.
func RenderAll(spec *cluster.Spec, comp rpm.Components, sec *secrets.Secrets) ([]payload.Node, error) {
	out := make([]payload.Node, 0, len(spec.Nodes))
	for _, n := range spec.Nodes {
		p, err := Render(spec, n.Name, comp, sec)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// quote renders s as a YAML double-quoted scalar: never reinterpreted as a
// YAML 1.1 boolean (on/off/yes/no) or number by Patroni's PyYAML.
func quote(v interface{}) string { return strconv.Quote(fmt.Sprint(v)) }

// shellQuote renders v as one single-quoted shell word.
func shellQuote(v interface{}) string {
	return "'" + strings.ReplaceAll(fmt.Sprint(v), "'", `'\''`) + "'"
}

// hostPort joins an address and a port, bracketing IPv6 addresses.
func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

func indent(n int, s string) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// sortedParams renders PostgreSQL parameters as YAML values, sorted by name.
func sortedParams(m map[string]interface{}) []param {
	out := make([]param, 0, len(m))
	for k, v := range m {
		out = append(out, param{Name: k, Value: paramValue(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type param struct{ Name, Value string }

// paramValue keeps numbers as numbers and turns everything else into a quoted
// string; booleans become PostgreSQL's "on"/"off".
func paramValue(v interface{}) string {
	switch x := v.(type) {
	case bool:
		if x {
			return `"on"`
		}
		return `"off"`
	case int, int64, uint64, float64:
		return fmt.Sprint(x)
	default:
		return quote(x)
	}
}
