package cluster

import (
	"bytes"
	_ "embed"
	"fmt"
	"text/template"
)

//go:embed example.tmpl
var exampleTemplate string

var exampleTmpl = template.Must(template.New("example").
	Funcs(template.FuncMap{"add": func(a, b int) int { return a + b }}).
	Parse(exampleTemplate))

// ExampleOptions choose the annotated example spec Example writes.
type ExampleOptions struct {
	OS    string // el7, el8 or el9
	Nodes int    // 3, 5 or 7
	DHCP  bool   // network mode dhcp instead of static
	Sync  bool   // synchronous replication (one synchronous standby)
	// Backup adds a backup section (pgBackRest, a repository every member
	// mounts); without it the section is there, commented out.
	Backup bool
}

// ExampleNodeCounts are the member counts Example accepts: odd, so a majority
// survives a failure, and at most 7, the most etcd supports.
var ExampleNodeCounts = []int{3, 5, 7}

// DefaultExample is the old Ansible playbook's cluster: three el7 nodes
// (co7-node01..03 at 192.168.0.81-83), static addressing, synchronous
// replication (backups are left to a backup section, commented out).
var DefaultExample = ExampleOptions{OS: "el7", Nodes: 3, Sync: true}

// exampleNode is one member in the template.
type exampleNode struct{ Name, Address string }

// ExampleFor returns the annotated example spec for o. Node names follow the
// OS (co7-nodeNN for el7, as the playbook named them, else elN-nodeNN) and
// addresses count up from 192.168.0.81. Every spec it returns validates
// without problems.
func ExampleFor(o ExampleOptions) ([]byte, error) {
	prefix := ""
	switch o.OS {
	case "el7":
		prefix = "co7-node"
	case "el8", "el9":
		prefix = o.OS + "-node"
	default:
		return nil, fmt.Errorf("os %q: use el7, el8 or el9", o.OS)
	}
	okCount := false
	for _, n := range ExampleNodeCounts {
		okCount = okCount || o.Nodes == n
	}
	if !okCount {
		return nil, fmt.Errorf("%d nodes: use 3, 5 or 7 (an odd number keeps an etcd majority through a failure; etcd supports at most 7)", o.Nodes)
	}
	data := struct {
		OS                 string
		Nodes              []exampleNode
		DHCP, Sync, Backup bool
	}{OS: o.OS, DHCP: o.DHCP, Sync: o.Sync, Backup: o.Backup}
	for i := range o.Nodes {
		data.Nodes = append(data.Nodes, exampleNode{fmt.Sprintf("%s%02d", prefix, i+1), fmt.Sprintf("192.168.0.%d", 81+i)})
	}
	var b bytes.Buffer
	if err := exampleTmpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("example spec: %w", err)
	}
	return b.Bytes(), nil
}

// Example returns the annotated default example spec (DefaultExample): the
// three-node el7 cluster the old playbook built. It validates without
// problems.
func Example() []byte {
	b, err := ExampleFor(DefaultExample)
	if err != nil {
		panic(err) // DefaultExample is valid; TestExampleFor proves it
	}
	return b
}
