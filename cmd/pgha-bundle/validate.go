package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// errInvalid ends a validate run that printed its problems: nothing more to say.
var errInvalid = errors.New("")

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a cluster spec and report every problem at once",
		UsageText: "pgha-bundle validate [-f cluster.yaml] [--strict] [--major N] [--format text|json]",
		Description: "Loads the spec strictly (unknown keys, wrong types, duplicated keys), applies the defaults and\n" +
			"checks it as a whole. Every problem is printed on stderr, one per line, as FILE:LINE:COL: message;\n" +
			"warnings start with \"warning: \", and notes (what to know, never a failure) with \"note: \". Exit status: 0 valid, 2 errors (or warnings with --strict).\n\n" +
			"Examples:\n" +
			"   pgha-bundle validate                       # checks cluster.yaml\n" +
			"   pgha-bundle validate -f prod.yaml --strict # warnings fail too (for CI)\n" +
			"   pgha-bundle validate --major 16            # also check the parameters against PostgreSQL 16\n" +
			"   pgha-bundle init --os el9 -o - | pgha-bundle validate -f -   # a spec on standard input\n" +
			"   pgha-bundle validate --format json         # one JSON document on stdout (docs/cli.md)",
		Flags: []cli.Flag{
			specFlag(),
			&cli.BoolFlag{Name: "strict", Usage: "treat warnings as errors"},
			quietFlag(),
			&cli.IntFlag{Name: "major", Usage: "check postgresql.parameters against PostgreSQL major `N` (the packages' major)"},
			formatFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitWith(exitUsage, fmt.Errorf("validate takes no arguments; name the spec with -f (usage: %s)", c.Command.UsageText))
			}
			asJSON, err := wantJSON(c)
			if err != nil {
				return err
			}
			s, ps, file, err := loadSpec(c.String("file"))
			var specErr *cluster.SpecError
			if err != nil && !errors.As(err, &specErr) {
				return exitWith(exitUsage, err)
			}
			if m := c.Int("major"); s != nil && m != 0 && m != s.PostgreSQL.Major {
				ps = append(ps, s.CheckForMajor(m)...)
				ps.Sort()
			}
			errs, warns := len(ps.Errors()), len(ps.Warnings())
			valid := !(errs > 0 || (c.Bool("strict") && warns > 0))
			if asJSON {
				doc := validateJSON{Format: jsonFormat, Spec: file, Valid: valid, Errors: errs, Warnings: warns}
				var notes cluster.Problems
				if s != nil {
					doc.Nodes = len(s.Nodes)
					notes = s.Notes()
				}
				doc.Problems = jsonProblems(ps, notes)
				if err := writeJSON(c.App.Writer, doc); err != nil {
					return err
				}
				if !valid {
					return exitWith(exitUsage, errInvalid)
				}
				return nil
			}
			for _, p := range ps {
				fmt.Fprintln(c.App.ErrWriter, p)
			}
			if s != nil && !c.Bool("quiet") {
				for _, n := range s.Notes() {
					fmt.Fprintln(c.App.ErrWriter, "note: "+n.String())
				}
			}
			if !valid {
				fmt.Fprintf(c.App.Writer, "%s: invalid: %s, %s\n", file, plural(errs, "error"), plural(warns, "warning"))
				return exitWith(exitUsage, errInvalid)
			}
			if !c.Bool("quiet") {
				fmt.Fprintf(c.App.Writer, "%s: valid: %s, %s\n", file, plural(len(s.Nodes), "node"), plural(warns, "warning"))
			}
			return nil
		},
	}
}

// validateJSON is validate --format json.
type validateJSON struct {
	Format   int           `json:"format"`
	Spec     string        `json:"spec"`
	Valid    bool          `json:"valid"`
	Nodes    int           `json:"nodes"`
	Errors   int           `json:"errors"`
	Warnings int           `json:"warnings"`
	Problems []jsonProblem `json:"problems"`
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
