package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// unknownCommand is the root action: with no arguments it shows the help,
// otherwise the first argument named no command, and the nearest command
// name, when one is near, is offered.
func unknownCommand(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.ShowAppHelp(c)
	}
	name := c.Args().First()
	msg := fmt.Sprintf("unknown command %q", name)
	if s := suggest(name, c.App.Commands); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return exitWith(exitUsage, fmt.Errorf("%s (see: pgha-bundle help)", msg))
}

func init() {
	// `pgha-bundle help NAME` offers the same suggestion as a mistyped
	// command, and none when no command is near.
	cli.SuggestCommand = func(cmds []*cli.Command, provided string) string {
		if s := suggest(provided, cmds); s != "" {
			return fmt.Sprintf(cli.SuggestDidYouMeanTemplate, s)
		}
		return ""
	}
}

// suggest returns the command name (or alias) nearest to name, or "" when
// none is within a third of the name's length in edits (at least one edit),
// or when name starts one.
func suggest(name string, cmds []*cli.Command) string {
	best, bestD := "", len(name)/3+1
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, n := range c.Names() {
			d := cluster.EditDistance(name, n)
			if len(name) >= 2 && len(n) > len(name) && n[:len(name)] == name {
				d = 1 // a prefix: "val" for "validate"
			}
			if d <= bestD && (best == "" || d < bestD) {
				best, bestD = n, d
			}
		}
	}
	return best
}
