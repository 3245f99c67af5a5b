package cluster

import _ "embed"

//go:embed example.yaml
var example []byte

// Example returns an annotated example spec: the three-node el7 cluster the
// old Ansible playbook built (co7-node01..03 at 192.168.0.81-83, synchronous
// replication, WAL archiving). It validates without problems.
func Example() []byte { return append([]byte(nil), example...) }
