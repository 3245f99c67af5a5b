package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
)

// errInvalid ends a validate run that printed its problems: nothing more to say.
var errInvalid = errors.New("")

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check a cluster spec and report every problem at once",
		UsageText: "pgha-bundle validate [-f cluster.yaml] [--strict] [--major N] [--packages DIR [--key FILE]... [--base-provides FILE]]\n" +
			"                     [--quiet] [--format text|json]",
		Description: "Loads the spec strictly (unknown keys, wrong types, duplicated keys), applies the defaults and\n" +
			"checks it as a whole. Every problem is printed on stderr, one per line, as FILE:LINE:COL: message;\n" +
			"warnings start with \"warning: \", and notes (what to know, never a failure) with \"note: \". Exit status: 0 valid, 2 errors (or warnings with --strict).\n" +
			"With --packages, a valid spec is then checked as build checks it before writing: every RPM verified\n" +
			"(digests, signatures with the keys), the components found, postgresql.major and the parameters against\n" +
			"the packages' PostgreSQL, the Patroni version gates. Nothing is written: no secrets file, no output.\n\n" +
			"Examples:\n" +
			"   pgha-bundle validate                       # checks cluster.yaml\n" +
			"   pgha-bundle validate -f prod.yaml --strict # warnings fail too (for CI)\n" +
			"   pgha-bundle validate --major 16            # also check the parameters against PostgreSQL 16\n" +
			"   pgha-bundle validate --packages ./rpms --key RPM-GPG-KEY   # and against the packages, as build would\n" +
			"   pgha-bundle init --os el9 -o - | pgha-bundle validate -f -   # a spec on standard input\n" +
			"   pgha-bundle validate --format json         # one JSON document on stdout (docs/cli.md)",
		Flags: []cli.Flag{
			specFlag(),
			&cli.BoolFlag{Name: "strict", Usage: "treat warnings as errors"},
			quietFlag(),
			&cli.IntFlag{Name: "major", Usage: "check postgresql.parameters against PostgreSQL major `N` (the packages' major)"},
			&cli.StringFlag{Name: "packages", Usage: "also verify the RPMs of `DIR` and check the spec against them, as build does (writes nothing)", TakesFile: true},
			&cli.StringSliceFlag{Name: "key", Usage: "with --packages: OpenPGP public key `FILE` the RPMs must be signed with (repeatable; default: packages.keys)", TakesFile: true},
			&cli.StringFlag{Name: "base-provides", Usage: "with --packages: `FILE` with `rpm -qa --provides` of the target image", TakesFile: true},
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
			for _, f := range []string{"key", "base-provides"} {
				if c.IsSet(f) && !c.IsSet("packages") {
					return exitWith(exitUsage, fmt.Errorf("--%s checks packages: name them with --packages DIR", f))
				}
			}
			s, ps, file, data, err := loadSpecData(c.String("file"))
			var specErr *cluster.SpecError
			if err != nil && !errors.As(err, &specErr) {
				return exitWith(exitUsage, err)
			}
			if m := c.Int("major"); s != nil && m != 0 && m != s.PostgreSQL.Major {
				ps = append(ps, s.CheckForMajor(m)...)
				ps.Sort()
			}
			var pkgs *packagesJSON
			if dir := c.String("packages"); dir != "" && len(ps.Errors()) == 0 {
				r, err := pipeline.CheckPackages(pipeline.Options{
					SpecPath: file, SpecData: data, PackagesDir: dir,
					Keys: c.StringSlice("key"), BaseProvides: c.String("base-provides"),
				})
				var pe *cluster.SpecError
				switch {
				case errors.As(err, &pe):
					ps = mergeProblems(ps, pe.Problems)
				case err != nil:
					// Not a spec problem, but one of this check: reported
					// with the others (and in the JSON document).
					ps = append(ps, cluster.Problem{File: dir, Message: "the packages do not pass: " + err.Error()})
				default:
					ps = mergeProblems(ps, r.Warnings)
					pkgs = packagesDoc(dir, r)
				}
			}
			errs, warns := len(ps.Errors()), len(ps.Warnings())
			valid := !(errs > 0 || (c.Bool("strict") && warns > 0))
			if asJSON {
				doc := validateJSON{Format: jsonFormat, Spec: file, Valid: valid, Errors: errs, Warnings: warns, Packages: pkgs}
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
				if pkgs != nil {
					sig := "signatures checked"
					if !pkgs.SignaturesChecked {
						sig = "signatures NOT checked (packages.allow_unsigned)"
					}
					fmt.Fprintf(c.App.Writer, "%s: fit the spec: PostgreSQL %d, %s, %s\n", pkgs.Dir, pkgs.PostgreSQLMajor, plural(len(pkgs.Packages), "package"), sig)
				}
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
	Packages *packagesJSON `json:"packages,omitempty"` // with --packages, when they fit
	Problems []jsonProblem `json:"problems"`
}

// packagesJSON is what validate --packages checked.
type packagesJSON struct {
	Dir               string   `json:"dir"`
	SignaturesChecked bool     `json:"signatures_checked"`
	PostgreSQLMajor   int      `json:"postgresql_major"`
	Packages          []string `json:"packages"` // NEVRAs
}

func packagesDoc(dir string, r *pipeline.Rendered) *packagesJSON {
	p := &packagesJSON{Dir: dir, SignaturesChecked: r.Packages.SignaturesChecked, PostgreSQLMajor: r.Packages.Components.PostgreSQL.Major, Packages: []string{}}
	for _, pk := range r.Packages.Packages {
		p.Packages = append(p.Packages, pk.NEVRA)
	}
	return p
}

// mergeProblems adds to ps those of more it does not hold (the pipeline's
// problems repeat the spec's own), in position order.
func mergeProblems(ps, more cluster.Problems) cluster.Problems {
	seen := map[cluster.Problem]bool{}
	for _, p := range ps {
		seen[p] = true
	}
	for _, p := range more {
		if !seen[p] {
			seen[p] = true
			ps = append(ps, p)
		}
	}
	ps.Sort()
	return ps
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
