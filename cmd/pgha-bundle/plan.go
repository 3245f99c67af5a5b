package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/diff"
	"github.com/pgha-bundle/pgha-bundle/payload"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
	"github.com/pgha-bundle/pgha-bundle/plan"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "say, offline, what install.sh does on each node, or in which order upgrade.sh takes two builds",
		UsageText: "pgha-bundle plan [-f cluster.yaml] [--packages DIR] [--key FILE]... [--secrets FILE] [--format text|json]\n" +
			"pgha-bundle plan [--format text|json] BUILD\n" +
			"pgha-bundle plan [--format text|json] OLD NEW",
		Description: "Without arguments, renders the spec as build would (the packages verified, nothing written) and\n" +
			"prints, for each node, the steps its install.sh takes: checks, packages, accounts, directories\n" +
			"and files with their modes and owners, /etc/hosts, masked units, firewall ports and rules,\n" +
			"the receipt and the units started. A spec never built is planned with throwaway secrets\n" +
			"(a plan shows no file content). With BUILD (a build output, a bundle or a spec), plans that.\n" +
			"With OLD and NEW (two builds of the cluster), prints what upgrade.sh does on each node (files\n" +
			"and packages that change, restarts and reloads) and the order to run it in: replicas one at a\n" +
			"time, the leader last (its upgrade.sh switches over first). Which node leads is known only on\n" +
			"the running cluster: the plan says where that is read. The plan reads the same payload and\n" +
			"node facts install.sh reads.\n\n" +
			"Examples:\n" +
			"   pgha-bundle plan -f cluster.yaml --packages ./rpms --key RPM-GPG-KEY\n" +
			"   pgha-bundle plan out/pgcluster\n" +
			"   pgha-bundle plan --format json old/pgcluster out/pgcluster",
		Flags: []cli.Flag{
			specFlag(),
			&cli.StringFlag{Name: "packages", Usage: "RPM `DIR` (default: packages.dir of the spec)", TakesFile: true},
			&cli.StringSliceFlag{Name: "key", Usage: "OpenPGP public key `FILE` the RPMs are signed with (repeatable; default: packages.keys)", TakesFile: true},
			&cli.StringFlag{Name: "secrets", Usage: "secrets `FILE` (default: <spec>.secrets.yaml; throwaway secrets when there is none); never created", TakesFile: true},
			formatFlag(),
		},
		Action: func(c *cli.Context) error {
			asJSON, err := wantJSON(c)
			if err != nil {
				return err
			}
			switch c.NArg() {
			case 0:
				label, nodes, err := planSpec(c)
				if err != nil {
					return err
				}
				p, err := plan.ForInstall(label, nodes)
				if err != nil {
					return exitWith(exitUsage, err)
				}
				return writePlan(c, asJSON, p, p.WriteText)
			case 1:
				nodes, err := planSide(c.Args().Get(0))
				if err != nil {
					return exitWith(exitUsage, err)
				}
				p, err := plan.ForInstall(c.Args().Get(0), nodes)
				if err != nil {
					return exitWith(exitUsage, err)
				}
				return writePlan(c, asJSON, p, p.WriteText)
			case 2:
				old, err := planSide(c.Args().Get(0))
				if err != nil {
					return exitWith(exitUsage, err)
				}
				nw, err := planSide(c.Args().Get(1))
				if err != nil {
					return exitWith(exitUsage, err)
				}
				u, err := plan.ForUpgrade(c.Args().Get(0), c.Args().Get(1), old, nw)
				if err != nil {
					return exitWith(exitUsage, err)
				}
				return writePlan(c, asJSON, u, u.WriteText)
			default:
				return exitWith(exitUsage, fmt.Errorf("plan takes at most two builds (usage: %s)", c.Command.UsageText))
			}
		},
	}
}

func writePlan(c *cli.Context, asJSON bool, doc any, text func(w io.Writer) error) error {
	if asJSON {
		return writeJSON(c.App.Writer, doc)
	}
	if err := text(c.App.Writer); err != nil {
		return exitWith(exitUsage, err)
	}
	return nil
}

// planSide reads a build, bundle or spec (as diff does) into plan nodes.
func planSide(path string) ([]plan.Node, error) {
	side, err := sideLoaders(pipeline.Options{Now: clock()}).Load(path)
	if err != nil {
		return nil, err
	}
	return planNodes(side), nil
}

func planNodes(side *diff.Side) []plan.Node {
	var out []plan.Node
	for _, n := range side.Nodes {
		out = append(out, plan.Node{Payload: payload.Node{Name: n.Name, Files: n.Files}, Packages: n.Packages})
	}
	return out
}

// planSpec renders the spec named by -f with the pipeline's preview.
func planSpec(c *cli.Context) (string, []plan.Node, error) {
	specPath, data, err := specInput(c.String("file"))
	if err != nil {
		return "", nil, exitWith(exitUsage, err)
	}
	secretsPath := c.String("secrets")
	if secretsPath == "" && data == nil {
		secretsPath = pipeline.DefaultSecretsPath(specPath)
	}
	if _, err := os.Stat(secretsPath); secretsPath == "" || errors.Is(err, fs.ErrNotExist) {
		// A spec never built: throwaway secrets, in a directory removed
		// below. The plan shows paths, modes and owners, never content.
		tmp, err := os.MkdirTemp("", "pgha-plan-")
		if err != nil {
			return "", nil, exitWith(exitUsage, err)
		}
		defer os.RemoveAll(tmp)
		if secretsPath, err = throwawaySecrets(tmp, specPath, data); err != nil {
			return "", nil, err
		}
	}
	r, err := pipeline.Preview(pipeline.Options{
		SpecPath: specPath, SpecData: data, SecretsPath: secretsPath,
		PackagesDir: c.String("packages"), Keys: c.StringSlice("key"), Now: clock(),
	})
	var specErr *cluster.SpecError
	if errors.As(err, &specErr) {
		for _, p := range specErr.Problems {
			fmt.Fprintln(c.App.ErrWriter, p)
		}
		return "", nil, exitWith(exitUsage, fmt.Errorf("plan stopped: %s", plural(len(specErr.Problems.Errors()), "spec error")))
	}
	if err != nil {
		return "", nil, exitWith(exitUsage, fmt.Errorf("plan: %w", err))
	}
	var nodes []plan.Node
	for _, n := range r.Nodes {
		nodes = append(nodes, plan.Node{Payload: n, Packages: r.PackagesOf(n.Name)})
	}
	return specPath, nodes, nil
}

// throwawaySecrets writes a new secrets file for the spec's cluster in dir.
func throwawaySecrets(dir, specPath string, data []byte) (string, error) {
	if data == nil {
		var err error
		if data, err = os.ReadFile(specPath); err != nil {
			return "", exitWith(exitUsage, fmt.Errorf("read spec: %w", err))
		}
	}
	s, _, _ := cluster.Parse(specPath, data)
	if s == nil {
		return "", exitWith(exitUsage, fmt.Errorf("%s: not a spec (pgha-bundle validate -f %s says why)", specPath, specPath))
	}
	p := filepath.Join(dir, "throwaway.secrets.yaml")
	if _, _, err := secrets.LoadOrCreate(p, secrets.Reader, secrets.Want{Cluster: s.Cluster.Name, Now: time.Now()}); err != nil {
		return "", exitWith(exitUsage, fmt.Errorf("throwaway secrets: %w", err))
	}
	return p, nil
}
