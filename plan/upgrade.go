package plan

import (
	"bytes"
	"sort"
	"strings"
)

// Upgrade is the plan of upgrade.sh taking every node from one build to
// the next.
type Upgrade struct {
	Format  int           `json:"format"`
	Kind    string        `json:"kind"` // "upgrade"
	From    string        `json:"from"`
	To      string        `json:"to"`
	Cluster string        `json:"cluster"`
	Nodes   []NodeUpgrade `json:"nodes"`
	// Order is the order to run upgrade.sh in, step by step. Which node
	// leads is known only on the running cluster: LeaderCheck says where
	// that is decided.
	Order       []string `json:"order"`
	LeaderCheck string   `json:"leader_check"`
}

// NodeUpgrade is what upgrade.sh does on one node.
type NodeUpgrade struct {
	Node string `json:"node"`
	// Mode: "none" (the receipt is updated only), "configs" (files
	// replaced and the daemons that read them reloaded or restarted),
	// "rolling" (Patroni stopped, packages upgraded, started again; a
	// leader first switches over), "added" or "removed" (not an upgrade:
	// install.sh or uninstall.sh).
	Mode     string          `json:"mode"`
	Files    []FileChange    `json:"files"`
	Packages []PackageChange `json:"packages"`
	// Actions are the restarts, reloads and cluster changes, in order.
	Actions []string `json:"actions"`
}

// FileChange is one payload file that differs.
type FileChange struct {
	Path   string `json:"path"`
	Change string `json:"change"` // added, changed, removed, mode/owner
}

// PackageChange is one package whose version differs ("" when absent).
type PackageChange struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
}

// ForUpgrade compares two builds of a cluster node by node, as upgrade.sh
// would on each.
func ForUpgrade(from, to string, old, new []Node) (*Upgrade, error) {
	u := &Upgrade{Format: Format, Kind: "upgrade", From: from, To: to, Nodes: []NodeUpgrade{},
		LeaderCheck: "the live leader decides the order: run 'patronictl -c /etc/patroni/patroni.yml list' on any member right before starting, and again before each node (a failover may have moved it)"}
	byName := map[string]Node{}
	for _, n := range old {
		byName[n.Payload.Name] = n
	}
	seen := map[string]bool{}
	for _, n := range new {
		seen[n.Payload.Name] = true
		if f, err := FactsOf(n.Payload); err == nil {
			u.Cluster = f["PGHA_CLUSTER"]
		}
		o, ok := byName[n.Payload.Name]
		if !ok {
			u.Nodes = append(u.Nodes, NodeUpgrade{Node: n.Payload.Name, Mode: "added", Files: []FileChange{}, Packages: []PackageChange{},
				Actions: []string{"a new member: install it with install.sh once the others run the new build"}})
			continue
		}
		u.Nodes = append(u.Nodes, nodeUpgrade(o, n))
	}
	for _, n := range old {
		if !seen[n.Payload.Name] {
			u.Nodes = append(u.Nodes, NodeUpgrade{Node: n.Payload.Name, Mode: "removed", Files: []FileChange{}, Packages: []PackageChange{},
				Actions: []string{"no longer a member: remove it from the cluster and run uninstall.sh"}})
		}
	}
	sort.Slice(u.Nodes, func(i, j int) bool { return u.Nodes[i].Node < u.Nodes[j].Node })
	u.Order = order(u.Nodes)
	return u, nil
}

func nodeUpgrade(old, new Node) NodeUpgrade {
	nu := NodeUpgrade{Node: new.Payload.Name, Files: []FileChange{}, Packages: []PackageChange{}, Actions: []string{}}
	changed := map[string]bool{}
	for _, f := range new.Payload.Files {
		o, ok := old.Payload.Lookup(f.Path)
		switch {
		case !ok:
			nu.Files = append(nu.Files, FileChange{f.Path, "added"})
		case !bytes.Equal(o.Content, f.Content):
			nu.Files = append(nu.Files, FileChange{f.Path, "changed"})
		case o.Mode != f.Mode || o.Owner != f.Owner || o.Group != f.Group:
			nu.Files = append(nu.Files, FileChange{f.Path, "mode/owner"})
		default:
			continue
		}
		changed[f.Path] = true
	}
	for _, f := range old.Payload.Files {
		if _, ok := new.Payload.Lookup(f.Path); !ok {
			nu.Files = append(nu.Files, FileChange{f.Path, "removed"})
		}
	}
	oldPk := map[string]string{}
	for _, p := range old.Packages {
		oldPk[p.Name] = p.NEVRA
	}
	newPk := map[string]bool{}
	for _, p := range new.Packages {
		newPk[p.Name] = true
		if oldPk[p.Name] != p.NEVRA {
			nu.Packages = append(nu.Packages, PackageChange{p.Name, oldPk[p.Name], p.NEVRA})
		}
	}
	for _, p := range old.Packages {
		if !newPk[p.Name] {
			nu.Packages = append(nu.Packages, PackageChange{p.Name, p.NEVRA, ""})
		}
	}
	sort.Slice(nu.Packages, func(i, j int) bool { return nu.Packages[i].Name < nu.Packages[j].Name })

	services := map[string]bool{}
	for p := range changed {
		for _, s := range servicesOf(p) {
			services[s] = true
		}
	}
	dcs := changed["/etc/patroni/dcs.yml"]
	switch {
	case len(nu.Packages) > 0 || changed["/etc/systemd/system/patroni.service"]:
		nu.Mode = "rolling"
		nu.Actions = append(nu.Actions,
			"if this node leads: patronictl switchover to a healthy replica, wait until it leads",
			"stop Patroni (and with it PostgreSQL)")
		if len(nu.Packages) > 0 {
			nu.Actions = append(nu.Actions, "upgrade the packages")
		}
		nu.Actions = append(nu.Actions, "install the changed files, merge /etc/hosts, write the receipt", "systemctl daemon-reload")
		if services["etcd"] {
			nu.Actions = append(nu.Actions, "restart etcd, wait until the member is healthy")
		}
		nu.Actions = append(nu.Actions, "start Patroni, wait for GET /health 200 and until it streams from the leader")
	case len(nu.Files) > 0:
		nu.Mode = "configs"
		nu.Actions = append(nu.Actions, "install the changed files, merge /etc/hosts, write the receipt", "systemctl daemon-reload")
		if services["etcd"] {
			nu.Actions = append(nu.Actions, "restart etcd, wait until the member is healthy")
		}
		if services["patroni"] {
			nu.Actions = append(nu.Actions, "reload Patroni, wait for GET /health 200")
		}
	default:
		nu.Mode = "none"
		nu.Actions = append(nu.Actions, "files and packages already match: only the receipt names the new build")
		return nu
	}
	if dcs {
		nu.Actions = append(nu.Actions, "apply bootstrap.dcs changes with patronictl edit-config (once for the cluster); a parameter pending a restart is reported, restarted with --restart-pending")
	}
	if services["haproxy"] {
		nu.Actions = append(nu.Actions, "reload HAProxy, wait until it checked every server")
	}
	return nu
}

// servicesOf maps a payload file to the daemons that read it, as
// upgrade.sh's mark_service does.
func servicesOf(p string) []string {
	switch {
	case p == "/etc/systemd/system/etcd.service" || hasPrefix(p, "/etc/etcd/") || p == "/etc/pgha-bundle/pki/etcd.key":
		return []string{"etcd"}
	case p == "/etc/patroni/patroni.yml" || p == "/etc/systemd/system/patroni.service" || p == "/etc/pgha-bundle/pki/patroni.key":
		return []string{"patroni"}
	case p == "/etc/systemd/system/haproxy.service" || hasPrefix(p, "/etc/haproxy/"):
		return []string{"haproxy"}
	case hasPrefix(p, "/etc/pgha-bundle/pki/"):
		return []string{"etcd", "patroni", "haproxy"}
	}
	return nil
}

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }

// order is the sequence to run upgrade.sh in.
func order(nodes []NodeUpgrade) []string {
	var work []string
	rolling := false
	for _, n := range nodes {
		switch n.Mode {
		case "configs", "rolling", "none":
			work = append(work, n.Node)
		}
		rolling = rolling || n.Mode == "rolling"
	}
	if len(work) == 0 {
		return []string{"nothing to upgrade"}
	}
	out := []string{
		"find the leader: patronictl -c /etc/patroni/patroni.yml list (on any member); upgrade.sh refuses to start on an unhealthy cluster",
		"on each replica in turn, one at a time (" + joinNames(work) + ", leader excepted): bundle/upgrade.sh, and wait for it to finish (it waits until the replica streams again) before the next",
	}
	if rolling {
		out = append(out, "on the leader last: bundle/upgrade.sh switches the leadership over to a healthy replica first, then upgrades it as a replica")
	} else {
		out = append(out, "on the leader last: bundle/upgrade.sh (configuration only: no switchover, Patroni is reloaded)")
	}
	return out
}

func joinNames(ns []string) string { return strings.Join(ns, ", ") }
