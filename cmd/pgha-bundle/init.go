package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:      "init",
		Usage:     "write an annotated example cluster spec, or convert the old playbook's Ansible inventory",
		UsageText: "pgha-bundle init [-o cluster.yaml] [--os el7|el8|el9] [--nodes 3|5|7] [--network static|dhcp] [--no-sync] [--force]\npgha-bundle init --from-ansible INVENTORY [-o cluster.yaml] [--force]",
		Description: "Without --from-ansible, writes an annotated example that validates as written. By default it is\n" +
			"the three-node el7 cluster the old playbook built (co7-node01..03 at 192.168.0.81-83, static\n" +
			"addressing, synchronous replication, WAL archiving); --os, --nodes, --network and --no-sync\n" +
			"choose another start (el8/el9 nodes are named elN-node01.., addresses count up from .81).\n" +
			"With --network dhcp the node addresses must be DHCP reservations.\n" +
			"With --from-ansible, converts the playbook's INI inventory ([postgres-ha], [master], [slave],\n" +
			"[all:vars]); notes on what was ignored or assumed go to stderr, and hosts that cannot be placed\n" +
			"are errors. An existing file is never overwritten without --force.\n\n" +
			"Examples:\n" +
			"   pgha-bundle init                                # writes cluster.yaml\n" +
			"   pgha-bundle init --os el9 --nodes 5 --network dhcp -o el9.yaml\n" +
			"   pgha-bundle init -o - | less                    # print the example\n" +
			"   pgha-bundle init --from-ansible ansible-hosts -o prod.yaml",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "cluster.yaml", Usage: "write the spec to `FILE` (- for standard output)", TakesFile: true},
			&cli.StringFlag{Name: "os", Value: cluster.DefaultExample.OS, Usage: "the nodes' `OS`: el7, el8 or el9"},
			&cli.IntFlag{Name: "nodes", Value: cluster.DefaultExample.Nodes, Usage: "`N` members: 3, 5 or 7"},
			&cli.StringFlag{Name: "network", Value: "static", Usage: "addressing `MODE`: static (cloud-init sets it) or dhcp (addresses are DHCP reservations)"},
			&cli.BoolFlag{Name: "sync", Usage: "synchronous replication: a commit waits for one standby (the default)", DisableDefaultText: true},
			&cli.BoolFlag{Name: "no-sync", Usage: "asynchronous replication: a failover may lose the last commits", DisableDefaultText: true},
			&cli.StringFlag{Name: "from-ansible", Usage: "convert the Ansible INI `INVENTORY` of the old playbook", TakesFile: true},
			&cli.BoolFlag{Name: "force", Usage: "overwrite an existing output file"},
			quietFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitWith(exitUsage, fmt.Errorf("init takes no arguments (usage: %s)", c.Command.UsageText))
			}
			var spec []byte
			if inv := c.String("from-ansible"); inv != "" {
				for _, f := range []string{"os", "nodes", "network", "sync", "no-sync"} {
					if c.IsSet(f) {
						return exitWith(exitUsage, fmt.Errorf("--%s does not apply with --from-ansible: the inventory decides the cluster", f))
					}
				}
				var err error
				if spec, err = convertInventory(inv, c.App.ErrWriter); err != nil {
					return exitWith(exitUsage, err)
				}
			} else {
				o, err := exampleOptions(c)
				if err != nil {
					return exitWith(exitUsage, err)
				}
				if spec, err = cluster.ExampleFor(o); err != nil {
					return exitWith(exitUsage, fmt.Errorf("--os/--nodes: %w", err))
				}
			}
			out := c.String("output")
			if out == "-" {
				_, err := c.App.Writer.Write(spec)
				return err
			}
			if err := writeNew(out, spec, c.Bool("force")); err != nil {
				return exitWith(exitUsage, err)
			}
			if !c.Bool("quiet") {
				fmt.Fprintf(c.App.Writer, "wrote %s; check it with: pgha-bundle validate -f %s\n", out, out)
			}
			return nil
		},
	}
}

// exampleOptions reads init's choices of the example.
func exampleOptions(c *cli.Context) (cluster.ExampleOptions, error) {
	o := cluster.ExampleOptions{OS: c.String("os"), Nodes: c.Int("nodes"), Sync: true}
	switch os := c.String("os"); os {
	case "el7", "el8", "el9":
	default:
		return o, fmt.Errorf("--os %q: use el7, el8 or el9", os)
	}
	switch n := c.Int("nodes"); n {
	case 3, 5, 7:
	default:
		return o, fmt.Errorf("--nodes %d: use 3, 5 or 7 (an odd number keeps an etcd majority through a failure; etcd supports at most 7)", n)
	}
	switch m := c.String("network"); m {
	case "static":
	case "dhcp":
		o.DHCP = true
	default:
		return o, fmt.Errorf("--network %q: use static or dhcp", m)
	}
	if c.Bool("sync") && c.Bool("no-sync") {
		return o, errors.New("--sync and --no-sync contradict each other: give one")
	}
	o.Sync = !c.Bool("no-sync")
	return o, nil
}

// convertInventory converts an Ansible inventory, printing the notes and, on
// failure, every host it could not place.
func convertInventory(path string, stderr io.Writer) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	spec, notes, err := cluster.FromAnsible(f, path)
	for _, n := range notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, fmt.Errorf("%s not converted; nothing written", path)
	}
	return spec, nil
}

// writeNew writes data to path through a temporary file renamed into place,
// refusing to replace an existing file unless force is set.
func writeNew(path string, data []byte, force bool) error {
	if _, err := os.Lstat(path); err == nil && !force {
		return fmt.Errorf("%s exists; use --force to overwrite it", path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
