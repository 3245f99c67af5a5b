package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

func connectCommand() *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "print the cluster's client connection strings",
		UsageText: "pgha-bundle connect [-f cluster.yaml]",
		Description: "Prints the libpq connection URIs clients use, derived from the spec (the build writes the same\n" +
			"lines to OUT/<cluster>/connect.txt): read-write, every member's PostgreSQL port with\n" +
			"target_session_attrs=read-write, so libpq keeps the primary wherever it is; read-only, every\n" +
			"member's HAProxy read-only port; and with a vip section, the same through the virtual IP.\n\n" +
			"Examples:\n" +
			"   pgha-bundle connect                  # from cluster.yaml\n" +
			"   psql \"$(pgha-bundle connect | awk '$1 == \"read-write\" { print $2 }')\"",
		Flags: []cli.Flag{
			specFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitWith(exitUsage, fmt.Errorf("connect takes no arguments; name the spec with -f (usage: %s)", c.Command.UsageText))
			}
			s, ps, _, _, err := loadSpecData(c.String("file"))
			var specErr *cluster.SpecError
			if err != nil {
				if errors.As(err, &specErr) {
					for _, p := range ps {
						fmt.Fprintln(c.App.ErrWriter, p)
					}
					return exitWith(exitUsage, errInvalid)
				}
				return exitWith(exitUsage, err)
			}
			fmt.Fprint(c.App.Writer, s.ConnectText())
			return nil
		},
	}
}
