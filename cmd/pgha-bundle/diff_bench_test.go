package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/diff/source"
	"github.com/pgha-bundle/pgha-bundle/manifest"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
)

// widen writes a build directory of n nodes made from the real build in
// from: node i is a copy of real node i%3 under the name pgNNN, with its tree,
// manifest entries and seed ISO. A spec holds at most 7 nodes (etcd), so a
// 100-node build can only be made this way; the files are real build output.
func widen(tb testing.TB, from, to string, n int) {
	tb.Helper()
	m, err := manifest.Read(from)
	if err != nil {
		tb.Fatal(err)
	}
	real := m.Nodes
	m.Nodes = nil
	for i := 0; i < n; i++ {
		src := real[i%len(real)]
		name := fmt.Sprintf("pg%03d", i)
		tree, err := payload.ReadTree(filepath.Join(from, "nodes", src.Name))
		if err != nil {
			tb.Fatal(err)
		}
		if err := payload.WriteTree(filepath.Join(to, "nodes", name), tree); err != nil {
			tb.Fatal(err)
		}
		iso, err := os.ReadFile(filepath.Join(from, "seeds", src.Name+".iso"))
		if err != nil {
			tb.Fatal(err)
		}
		os.MkdirAll(filepath.Join(to, "seeds"), 0o755)
		if err := os.WriteFile(filepath.Join(to, "seeds", name+".iso"), iso, 0o644); err != nil {
			tb.Fatal(err)
		}
		m.Nodes = append(m.Nodes, manifest.Node{Name: name, Files: src.Files})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "manifest.json"), raw, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkDiff100Nodes is `pgha-bundle diff A B` on two 100-node build
// directories that differ by a parameter on every node: reading both (trees,
// manifests, seed ISOs), comparing and writing the text output.
func BenchmarkDiff100Nodes(b *testing.B) {
	bs := makeBuildsOnce(b)
	dir := b.TempDir()
	a, c := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	widen(b, filepath.Join(bs.root, "base", "demo"), a, 100)
	widen(b, filepath.Join(bs.root, "parameter", "demo"), c, 100)
	loaders := sideLoaders(pipeline.Options{})
	b.ResetTimer()
	defer reportCPU(b)()
	for b.Loop() {
		sa, err := loaders.Load(a)
		if err != nil {
			b.Fatal(err)
		}
		sb, err := loaders.Load(c)
		if err != nil {
			b.Fatal(err)
		}
		res := diff.Compare(sa, sb)
		if !res.Differ() || len(res.Nodes) != 100 {
			b.Fatalf("%d nodes differ, want 100", len(res.Nodes))
		}
		if err := diff.Write(io.Discard, &res, diff.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompare100Nodes is the comparison alone, sides already in memory.
func BenchmarkCompare100Nodes(b *testing.B) {
	bs := makeBuildsOnce(b)
	dir := b.TempDir()
	a, c := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	widen(b, filepath.Join(bs.root, "base", "demo"), a, 100)
	widen(b, filepath.Join(bs.root, "parameter", "demo"), c, 100)
	sa, err := source.Build(a)
	if err != nil {
		b.Fatal(err)
	}
	sb, err := source.Build(c)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	defer reportCPU(b)()
	for b.Loop() {
		res := diff.Compare(sa, sb)
		if len(res.Nodes) != 100 {
			b.Fatalf("%d nodes differ, want 100", len(res.Nodes))
		}
	}
}

// reportCPU adds the process's CPU time (user + system) per operation to the
// benchmark's figures: on a shared machine the wall time per operation says
// more about the other processes than about this code.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
