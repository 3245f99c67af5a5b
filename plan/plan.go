// Package plan says, offline, what install.sh does on each node of a build
// and in which order upgrade.sh takes the nodes from one build to the next.
// It reads only the node payload (payload.Node: every file with its mode
// and owner) and the facts install.sh itself reads from it
// (layout.NodeFacts), and follows install.sh's steps, so a plan
// and a run of install.sh --dry-run name the same files, directories and
// accounts (a test runs both and compares).
package plan

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/pgha-bundle/pgha-bundle/layout"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// Format is the "format" of the JSON documents.
const Format = 1

// Receipt is where install.sh records what it did.
const Receipt = layout.Receipt

// hostsBlock is the payload file install.sh merges into /etc/hosts.
const hostsBlock = layout.HostsBlock

// Node is one node of a build: its payload and its packages.
type Node struct {
	Payload  payload.Node
	Packages []rpm.Package
}

// Install is the plan of install.sh on every node of a build.
type Install struct {
	Format  int           `json:"format"`
	Kind    string        `json:"kind"` // "install"
	Source  string        `json:"source"`
	Cluster string        `json:"cluster"`
	Nodes   []NodeInstall `json:"nodes"`
}

// NodeInstall is install.sh's steps on one node, in its order.
type NodeInstall struct {
	Node        string        `json:"node"`
	Address     string        `json:"address"`
	OS          string        `json:"os"`
	Checks      []string      `json:"checks"`
	Packages    []rpm.Package `json:"packages"`
	Accounts    []string      `json:"accounts"`
	Directories []Dir         `json:"directories"`
	Files       []File        `json:"files"`
	HostsBlock  string        `json:"hosts_block"` // the payload file merged into /etc/hosts; "" when none
	MaskUnits   []string      `json:"mask_units"`
	Firewall    Firewall      `json:"firewall"`
	Watchdog    bool          `json:"watchdog"`
	Receipt     string        `json:"receipt"`
	Start       []Unit        `json:"start"`
}

// Dir is a directory install.sh creates when missing and whose mode and
// owner it sets.
type Dir struct {
	Path  string `json:"path"`
	Mode  string `json:"mode"`
	Owner string `json:"owner"`
	Group string `json:"group"`
	Note  string `json:"note"` // e.g. "only when missing"
}

// File is a payload file install.sh installs.
type File struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Owner  string `json:"owner"`
	Group  string `json:"group"`
	Secret bool   `json:"secret"`
}

// Firewall is what install.sh opens when firewalld runs: ports to the
// whole zone, and rich rules opening the member ports to each member.
type Firewall struct {
	ZonePorts   []string `json:"zone_ports"`
	MemberRules []Rule   `json:"member_rules"`
}

// Rule opens Port to Address.
type Rule struct {
	Address string `json:"address"`
	Port    string `json:"port"`
}

// Unit is a systemd unit install.sh starts and the health it waits for.
type Unit struct {
	Name string `json:"name"`
	Gate string `json:"gate"`
}

// Facts are the node's facts (layout.NodeFacts) as the scripts read them:
// each single-valued key as PGHA_<KEY> (pgdata is PGHA_PGDATA), each port
// as PGHA_PORT_<NAME>, and the lists the scripts build: PGHA_ZONE_PORTS and
// PGHA_MEMBER_PORTS (by the port's role), PGHA_MEMBERS (name=address) and
// PGHA_MASK_UNITS and PGHA_ETCD_INITIAL_MEMBERS (the etcd members a
// joining member starts with), space-separated.
type Facts map[string]string

// FactsOf reads the facts of a node from its payload.
func FactsOf(n payload.Node) (Facts, error) {
	f, ok := n.Lookup(layout.NodeFacts)
	if !ok {
		return nil, fmt.Errorf("node %s: the payload has no %s, the facts install.sh reads", n.Name, layout.NodeFacts)
	}
	return ParseFacts(f.Content)
}

// ParseFacts reads a facts file (layout.ParseFacts's lines).
func ParseFacts(b []byte) (Facts, error) {
	lines, err := layout.ParseFacts(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", layout.NodeFacts, err)
	}
	out := Facts{}
	add := func(k, v string) {
		if out[k] != "" {
			v = out[k] + " " + v
		}
		out[k] = v
	}
	for _, l := range lines {
		switch {
		case l[0] == "port" && len(l) == 4:
			out["PGHA_PORT_"+strings.ToUpper(l[1])] = l[2]
			if l[3] == layout.PortZone {
				add("PGHA_ZONE_PORTS", l[2]+"/tcp")
			} else {
				add("PGHA_MEMBER_PORTS", l[2]+"/tcp")
			}
		case l[0] == "member" && len(l) >= 3:
			add("PGHA_MEMBERS", l[1]+"="+l[2])
		case l[0] == "etcd_initial_member" && len(l) == 2:
			add("PGHA_ETCD_INITIAL_MEMBERS", l[1])
		case l[0] == "mask_unit" && len(l) == 2:
			add("PGHA_MASK_UNITS", l[1])
		case l[0] == "pgbackrest_tls" && len(l) == 4:
			out["PGHA_PGBACKREST_TLS_PORT"], out["PGHA_PGBACKREST_TLS_UNIT"] = l[2], l[3]
		case l[0] == "pgbackrest_peer" && len(l) == 3:
			add("PGHA_PGBACKREST_PEERS", l[2])
		case l[0] == "backup_repo" && len(l) >= 4 && l[2] == "posix":
			out["PGHA_BACKUP_POSIX_REPO"] = l[3]
		case l[0] == "backup_timer" && len(l) == 3:
			add("PGHA_BACKUP_TIMERS", l[2])
		case len(l) == 2:
			out["PGHA_"+strings.ToUpper(l[0])] = l[1]
		}
	}
	return out, nil
}

// ForInstall plans install.sh on each node.
func ForInstall(source string, nodes []Node) (*Install, error) {
	p := &Install{Format: Format, Kind: "install", Source: source, Nodes: []NodeInstall{}}
	for _, n := range nodes {
		ni, cluster, err := nodeInstall(n)
		if err != nil {
			return nil, err
		}
		p.Cluster = cluster
		p.Nodes = append(p.Nodes, ni)
	}
	sort.Slice(p.Nodes, func(i, j int) bool { return p.Nodes[i].Node < p.Nodes[j].Node })
	return p, nil
}

func nodeInstall(n Node) (NodeInstall, string, error) {
	f, err := FactsOf(n.Payload)
	if err != nil {
		return NodeInstall{}, "", err
	}
	ni := NodeInstall{
		Node: n.Payload.Name, Address: f["PGHA_ADDRESS"], OS: f["PGHA_OS"],
		Packages: append([]rpm.Package{}, n.Packages...), Receipt: Receipt,
		Accounts: Accounts(n.Payload), Directories: Directories(n.Payload, f), Files: []File{},
		MaskUnits: strings.Fields(f["PGHA_MASK_UNITS"]),
	}
	sort.Slice(ni.Packages, func(i, j int) bool { return ni.Packages[i].Name < ni.Packages[j].Name })
	zone, members := strings.Fields(f["PGHA_ZONE_PORTS"]), strings.Fields(f["PGHA_MEMBER_PORTS"])
	busy := append(append([]string{}, zone...), members...)
	if p := f["PGHA_PGBACKREST_TLS_PORT"]; p != "" {
		busy = append(busy, p+"/tcp")
	}
	ni.Checks = []string{
		"systemd runs the host",
		"the OS is " + f["PGHA_OS"],
		"the host has the address " + f["PGHA_ADDRESS"],
		"ports free (or ours): " + strings.Join(busy, " "),
		"PGDATA " + f["PGHA_PGDATA"] + " is empty or this cluster's",
		"etcd data " + f["PGHA_ETCD_DATA_DIR"] + " is empty or this cluster's",
		"the bundle's files and packages match its SHA256SUMS and signatures",
	}
	for _, file := range n.Payload.Files {
		ni.Files = append(ni.Files, File{Path: file.Path, Mode: payload.FormatMode(file.Mode), Owner: file.Owner, Group: file.Group, Secret: file.Secret})
	}
	if _, ok := n.Payload.Lookup(hostsBlock); ok {
		ni.HostsBlock = hostsBlock
	}
	ni.Firewall = Firewall{ZonePorts: zone, MemberRules: []Rule{}}
	if ni.Firewall.ZonePorts == nil {
		ni.Firewall.ZonePorts = []string{}
	}
	for _, port := range members {
		for _, m := range strings.Fields(f["PGHA_MEMBERS"]) {
			_, addr, _ := strings.Cut(m, "=")
			ni.Firewall.MemberRules = append(ni.Firewall.MemberRules, Rule{Address: addr, Port: port})
		}
	}
	tls := f["PGHA_PGBACKREST_TLS_PORT"]
	for _, a := range strings.Fields(f["PGHA_PGBACKREST_PEERS"]) {
		ni.Firewall.MemberRules = append(ni.Firewall.MemberRules, Rule{Address: a, Port: tls + "/tcp"})
	}
	ni.Watchdog = f["PGHA_WATCHDOG"] != "" && f["PGHA_WATCHDOG"] != "off"
	if f["PGHA_ROLE"] == "backup-host" {
		backupHostInstall(&ni, f)
		return ni, f["PGHA_CLUSTER"], nil
	}
	ni.Start = []Unit{
		{"etcd", "etcd member healthy"},
		{"patroni", "Patroni healthy (GET /health 200)"},
		{"haproxy", "HAProxy checked every server"},
	}
	if u := f["PGHA_PGBACKREST_TLS_UNIT"]; u != "" {
		ni.Start = append(ni.Start, Unit{u, "pgBackRest's TLS server listening on port " + tls + ", the backup host's reachable"})
	}
	return ni, f["PGHA_CLUSTER"], nil
}

// backupHostInstall is install.sh's short flow on the backup host:
// pgBackRest alone, its repository, its TLS server and timers.
func backupHostInstall(ni *NodeInstall, f Facts) {
	repo := f["PGHA_BACKUP_POSIX_REPO"]
	ni.Checks = []string{
		"systemd runs the host",
		"the OS is " + f["PGHA_OS"],
		"the host has the address " + f["PGHA_ADDRESS"],
		"ports free (or ours): " + f["PGHA_PGBACKREST_TLS_PORT"] + "/tcp",
		"the bundle's files and packages match its SHA256SUMS and signatures",
	}
	ni.Directories = []Dir{{repo, "0750", "postgres", "postgres", "the repository, on this host's disk; never deleted"}}
	ni.Start = []Unit{{f["PGHA_PGBACKREST_TLS_UNIT"], "pgBackRest's TLS server listening on port " + f["PGHA_PGBACKREST_TLS_PORT"]}}
	for _, t := range strings.Fields(f["PGHA_BACKUP_TIMERS"]) {
		ni.Start = append(ni.Start, Unit{t, "enabled"})
	}
}

// Accounts are the service accounts install.sh makes when the packages
// did not: the owners and groups of the payload files, and postgres;
// root aside.
func Accounts(n payload.Node) []string {
	seen := map[string]bool{"postgres": true}
	for _, f := range n.Files {
		seen[f.Owner], seen[f.Group] = true, true
	}
	delete(seen, "root")
	delete(seen, "")
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Directories are the data directories install.sh makes (ensure_dirs):
// PGDATA's parent when missing, PGDATA, etcd's data and the WAL archive.
func Directories(n payload.Node, f Facts) []Dir {
	etcd := "root"
	for _, a := range Accounts(n) {
		if a == "etcd" {
			etcd = "etcd"
		}
	}
	var out []Dir
	if parent := path.Dir(f["PGHA_PGDATA"]); parent != "/" && parent != "." {
		out = append(out, Dir{parent, "0700", "postgres", "postgres", "only when missing; an existing one is left as it is"})
	}
	out = append(out, Dir{f["PGHA_PGDATA"], "0700", "postgres", "postgres", "PGDATA"})
	out = append(out, Dir{f["PGHA_ETCD_DATA_DIR"], "0700", etcd, etcd, "etcd data"})
	if a := f["PGHA_ARCHIVE_DIR"]; a != "" {
		out = append(out, Dir{a, "0700", "postgres", "postgres", "WAL archive"})
	}
	return out
}
