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
	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

//go:embed files/*.tmpl
var files embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"q":          quote,
	"sh":         shellQuote,
	"hostport":   hostPort,
	"indent":     indent,
	"neg":        func(i int) int { return -i },
	"backupkind": backupKindWord,
	"inc":        func(i int) int { return i + 1 },
}).ParseFS(files, "files/*.tmpl"))

// Database and API user names; their passwords are in the secrets file.
var users = struct {
	Superuser, Replication, Rewind, RestAPI, HAProxyStats string
}{"postgres", "replicator", "rewind_user", "patroni", "haproxy"}

// output is one file of the payload and the template that makes it; its
// place, mode and owner are the layout's.
type output struct {
	file     layout.File
	template string
	// gen makes the content in Go instead of a template.
	gen    func(*view) ([]byte, error)
	secret bool
	when   func(*view) bool
}

var outputs = []output{
	{file: mustFile(layout.PatroniConfig), template: "patroni.yml.tmpl", secret: true},
	{file: mustFile(layout.DCSConfig), template: "dcs.yml.tmpl"},
	{file: mustFile(layout.EtcdConfig), template: "etcd.conf.yml.tmpl"},
	{file: mustFile(layout.HAProxyConfig), template: "haproxy.cfg.tmpl", secret: true},
	{file: mustFile(layout.EtcdUnit), template: "etcd.service.tmpl"},
	{file: mustFile(layout.PatroniUnit), template: "patroni.service.tmpl"},
	{file: mustFile(layout.HAProxyUnit), template: "haproxy.service.tmpl"},
	{file: mustFile(layout.HostsBlock), gen: func(v *view) ([]byte, error) { return HostsBlock(v.spec), nil }},
	{file: mustFile(layout.NodeFacts), gen: nodeFacts, secret: true},
	{file: mustFile(layout.Softdog), template: "softdog.conf.tmpl", when: watchdogOn},
	{file: mustFile(layout.WatchdogRules), template: "watchdog.rules.tmpl", when: watchdogOn},
}

func mustFile(p string) layout.File {
	f, ok := layout.FileOf(p)
	if !ok {
		panic("templates: " + p + " is not in the layout")
	}
	return f
}

func watchdogOn(v *view) bool { return v.Watchdog != "off" }

// pki is where a node keeps the cluster's CA and its own certificate and key.
// The key is there twice, each copy readable only by the daemon that uses it.
var pki = struct{ CA, Cert, EtcdKey, PatroniKey string }{
	CA: layout.CA, Cert: layout.Cert, EtcdKey: layout.EtcdKey, PatroniKey: layout.PatroniKey,
}

// fileAt is a payload file at a layout path.
func fileAt(p string, secret bool, content []byte) payload.File {
	l := mustFile(p)
	return payload.File{Path: l.Path, Mode: fs.FileMode(l.Mode), Owner: l.Owner, Group: l.Group, Secret: secret, Content: content}
}

// pkiFiles are the node's TLS files, taken from the secrets.
func pkiFiles(sec *secrets.Secrets, node string) ([]payload.File, error) {
	nc, ok := sec.NodeCertificate(node)
	if !ok || sec.TLS.CACert == "" {
		return nil, fmt.Errorf("render %s: the secrets file holds no TLS certificate for the node: run pgha-bundle build, which issues it", node)
	}
	return []payload.File{
		fileAt(pki.CA, false, []byte(sec.TLS.CACert)),
		fileAt(pki.Cert, false, []byte(nc.Cert)),
		fileAt(pki.EtcdKey, true, []byte(nc.Key)),
		fileAt(pki.PatroniKey, true, []byte(nc.Key)),
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
		var content []byte
		if o.gen != nil {
			if content, err = o.gen(v); err != nil {
				return payload.Node{}, fmt.Errorf("render %s for %s: %w", o.file.Path, nodeName, err)
			}
		} else {
			var buf bytes.Buffer
			if err := tmpl.ExecuteTemplate(&buf, o.template, v); err != nil {
				return payload.Node{}, fmt.Errorf("render %s for %s: %w", o.file.Path, nodeName, err)
			}
			content = buf.Bytes()
		}
		n.Add(fileAt(o.file.Path, o.secret, content))
	}
	values, err := secretValues(v)
	if err != nil {
		return payload.Node{}, fmt.Errorf("render %s: %w", nodeName, err)
	}
	markSecrets(&n, values)
	if err := n.Sort(); err != nil {
		return payload.Node{}, err
	}
	return n, nil
}

// markSecrets records where the values of the secrets file landed in every
// file of n: diff and inspect hide exactly these spans. A file holding one is
// secret, whatever its template said; a file its template calls secret but
// that holds none (a template edit) is hidden whole rather than shown.
func markSecrets(n *payload.Node, values []string) {
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

// RenderAll renders every node of the spec, in spec order, then the
// backup host when the spec has one.
func RenderAll(spec *cluster.Spec, comp rpm.Components, sec *secrets.Secrets) ([]payload.Node, error) {
	out := make([]payload.Node, 0, len(spec.Nodes))
	for _, n := range spec.Nodes {
		p, err := Render(spec, n.Name, comp, sec)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	host, ok, err := RenderBackupHost(spec, comp, sec)
	if err != nil {
		return nil, err
	}
	if ok {
		out = append(out, host)
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
