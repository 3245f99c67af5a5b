package source

import (
	"errors"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/cloudinit"
	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

// TestSpecUsesTheGivenRenderer: a spec side is what the renderer the command
// supplies returns, with each node's seed files but user-data (it names a
// bundle digest no preview has); a renderer's error names the spec.
func TestSpecUsesTheGivenRenderer(t *testing.T) {
	spec, _, err := cluster.Parse("c.yaml", cluster.Example())
	if err != nil {
		t.Fatal(err)
	}
	file := payload.File{Path: "/etc/x.conf", Mode: 0o644, Content: []byte("x\n")}
	var asked []string
	render := func(path string) (*RenderedSpec, error) {
		asked = append(asked, path)
		if path == "bad.yaml" {
			return nil, errors.New("no secrets file")
		}
		var nodes []payload.Node
		for _, n := range spec.Nodes {
			nodes = append(nodes, payload.Node{Name: n.Name, Files: []payload.File{file}})
		}
		return &RenderedSpec{Spec: spec, Nodes: nodes, Packages: []rpm.Package{{Name: "etcd", NEVRA: "etcd-3.5.0-1.el7.x86_64"}}}, nil
	}
	side, err := Loaders(render)[diff.KindSpec]("c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(side.Nodes) != len(spec.Nodes) {
		t.Fatalf("%d nodes, want %d", len(side.Nodes), len(spec.Nodes))
	}
	for _, n := range side.Nodes {
		if len(n.Files) != 1 || n.Files[0].Path != file.Path || !n.HasPackages || len(n.Packages) != 1 || !n.HasSeed {
			t.Errorf("node %s: %+v", n.Name, n)
		}
		var seed []string
		userData := false
		for _, f := range n.Seed {
			seed = append(seed, f.Path)
			userData = userData || f.Path == cloudinit.NameUserData
		}
		if len(seed) == 0 || userData {
			t.Errorf("node %s: seed files %v, want all but %s", n.Name, seed, cloudinit.NameUserData)
		}
	}
	_, err = Spec(render)("bad.yaml")
	if err == nil || err.Error() != "spec bad.yaml: no secrets file" {
		t.Errorf("error %v", err)
	}
	if len(asked) != 2 || asked[0] != "c.yaml" || asked[1] != "bad.yaml" {
		t.Errorf("renderer asked for %v", asked)
	}
}
