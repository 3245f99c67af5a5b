package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst moves a command's flags (with their values) ahead of its
// positional arguments, keeping the order within each, so that
// `pgha-bundle verify rpms/*.rpm --key K` means `verify --key K rpms/*.rpm`:
// urfave/cli stops reading flags at the first positional argument. args is
// os.Args; everything after a "--" stays positional, and "-" alone is a
// positional (standard input). A command with subcommands hands the
// reordering to the subcommand named next. A flag the command does not define is moved
// too, so it is reported as unknown rather than taken for a path.
func flagsFirst(args []string, cmds []*cli.Command) []string {
	if len(args) < 3 {
		return args
	}
	var cmd *cli.Command
	for _, c := range cmds {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args
	}
	if len(cmd.Subcommands) > 0 {
		// `secrets rotate …`: the subcommand's flags and arguments.
		return append([]string{args[0]}, flagsFirst(args[1:], cmd.Subcommands)...)
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		tv, ok := f.(interface{ TakesValue() bool })
		for _, n := range f.Names() {
			takesValue[n] = ok && tv.TakesValue()
		}
	}
	var flags, pos []string
	dashdash := false
	rest := args[2:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			dashdash = true
			pos = append(pos, rest[i+1:]...)
			i = len(rest)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	out := append([]string{args[0], args[1]}, flags...)
	if dashdash {
		out = append(out, "--")
	}
	return append(out, pos...)
}
