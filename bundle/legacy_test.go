package bundle

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/layout"
)

// formatOneReceipt renders r as bundles of format 1 wrote receipt.json:
// JSON, one entry per line, in their write_receipt's exact layout.
func formatOneReceipt(r receipt) string {
	var b strings.Builder
	array := func(name string, elems []string) {
		fmt.Fprintf(&b, "  %q: [", name)
		if len(elems) > 0 {
			b.WriteString("\n    " + strings.Join(elems, ",\n    ") + "\n  ")
		}
		b.WriteString("]")
	}
	q := func(ss []string) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = `"` + s + `"`
		}
		return out
	}
	var files, pkgs, backups, rules, fcs []string
	for _, f := range r.Files {
		files = append(files, fmt.Sprintf(`{"path": "%s", "sha256": "%s", "mode": "%s", "owner": "%s", "group": "%s"}`, f.Path, f.SHA256, f.Mode, f.Owner, f.Group))
	}
	for _, p := range r.Packages {
		pkgs = append(pkgs, fmt.Sprintf(`{"name": "%s", "nevra": "%s"}`, p.Name, p.NEVRA))
	}
	for _, x := range r.Backups {
		backups = append(backups, fmt.Sprintf(`{"path": "%s", "backup": "%s"}`, x.Path, x.Backup))
	}
	for _, x := range r.Rules {
		rules = append(rules, fmt.Sprintf(`{"address": "%s", "port": "%s"}`, x.Address, x.Port))
	}
	for _, x := range r.Contexts {
		fcs = append(fcs, fmt.Sprintf(`{"path": "%s", "type": "%s"}`, x.Path, x.Type))
	}
	fmt.Fprintf(&b, "{\n  \"format\": 1,\n  \"bundle_id\": \"%s\",\n  \"cluster\": \"%s\",\n  \"node\": \"%s\",\n", r.BundleID, r.Cluster, r.Node)
	array("files", files)
	b.WriteString(",\n")
	array("packages", pkgs)
	b.WriteString(",\n")
	array("backups", backups)
	b.WriteString(",\n")
	array("firewall_ports", q(r.Ports))
	b.WriteString(",\n")
	array("masked_units", q(r.Masked))
	b.WriteString(",\n")
	array("users", q(r.Users))
	b.WriteString(",\n")
	array("firewall_rules", rules)
	b.WriteString(",\n")
	array("selinux_fcontexts", fcs)
	b.WriteString("\n}\n")
	return b.String()
}

// asFormatOne turns h's install into what a format 1 bundle left: its
// receipt.json in place of the receipt, node.env in place of node.facts.
func asFormatOne(t *testing.T, h *host) receipt {
	t.Helper()
	r, ok := h.receipt()
	if !ok {
		t.Fatal("no receipt after install")
	}
	writeFile(t, h.root+layout.ReceiptJSON, formatOneReceipt(r))
	must(t, os.Remove(h.root+layout.Receipt))
	return r
}

// TestUpgradeReadsFormatOneReceipt: upgrade.sh on a member a format 1
// bundle installed reads its receipt.json (the files it installed, the
// packages it owns, the bundle it ran), upgrades, and leaves the
// line-based receipt in its place.
func TestUpgradeReadsFormatOneReceipt(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	old := asFormatOne(t, h)
	if len(old.Files) == 0 || len(old.Packages) == 0 {
		t.Fatalf("test setup: the install recorded %d files, %d packages", len(old.Files), len(old.Packages))
	}
	v2 := newer(t, h, in, "v2", func(n *Input) {
		setContent(n, "/etc/haproxy/haproxy.cfg", "listen stats\n    stats auth haproxy:"+testStatsPassword+"\n# v2\n")
	})
	h.extract(v2)
	out, code := h.run("upgrade.sh")
	if code != 0 {
		t.Fatalf("upgrade exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "plan: bundle "+in.BuildID+" -> v2") || !strings.Contains(out, "file: update /etc/haproxy/haproxy.cfg") ||
		strings.Contains(out, "file: update /etc/patroni/patroni.yml") {
		t.Errorf("upgrade did not plan from the format 1 receipt:\n%s", out)
	}
	if _, err := os.Stat(h.root + layout.ReceiptJSON); err == nil {
		t.Error("receipt.json left beside the new receipt")
	}
	r, ok := h.receipt()
	if !ok || r.BundleID != "v2" || len(r.Files) != len(old.Files) || len(r.Packages) != len(old.Packages) {
		t.Errorf("receipt after the upgrade: %+v (was %+v)", r, old)
	}
}

// TestUninstallReadsFormatOneReceipt: uninstall.sh on a member a format 1
// bundle installed removes what its receipt.json lists, and purges the
// data directories its installed node.env names.
func TestUninstallReadsFormatOneReceipt(t *testing.T) {
	t.Parallel()
	h, in := installed(t)
	old := asFormatOne(t, h)
	// What a format 1 install put in place of node.facts.
	must(t, os.Remove(h.root+layout.NodeFacts))
	writeFile(t, h.root+layout.NodeEnv, "PGHA_CLUSTER='demo'\nPGHA_NODE='pg2'\nPGHA_PGDATA='/var/lib/pgsql/16/old'\nPGHA_ETCD_DATA_DIR='/var/lib/etcd/old'\n")
	writeFile(t, h.root+"/var/lib/pgsql/16/old/PG_VERSION", "16\n")
	writeFile(t, h.root+"/var/lib/etcd/old/member/snap/db", "x")
	h.extract(in)
	out, code := h.run("uninstall.sh", "--purge", "--yes")
	if code != 0 {
		t.Fatalf("uninstall exit %d\n%s", code, out)
	}
	for _, f := range old.Files {
		if f.Path == layout.NodeFacts {
			continue
		}
		if _, err := os.Stat(h.root + f.Path); err == nil {
			t.Errorf("%s left behind", f.Path)
		}
	}
	for _, p := range []string{layout.ReceiptJSON, layout.Receipt, "/var/lib/pgsql/16/old", "/var/lib/etcd/old"} {
		if _, err := os.Stat(h.root + p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if index(h.calls(), "rpm -e") < 0 {
		t.Errorf("the packages the format 1 receipt lists were not removed:\n%s", strings.Join(h.calls(), "\n"))
	}
}
