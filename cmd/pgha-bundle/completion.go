package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagChoices are the values a flag takes, for completion: the flag's
// Action (or the command) refuses any other.
var flagChoices = map[string][]string{
	"format":  {"text", "json"},
	"color":   {"auto", "always", "never"},
	"os":      {"el7", "el8", "el9"},
	"arch":    {"x86_64", "aarch64"},
	"network": {"static", "dhcp"},
	"nodes":   {"3", "5", "7"},
	"shell":   {"bash", "zsh", "fish"},
	// build --packages-media
	"packages-media": {"per-node", "shared"},
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		UsageText: "pgha-bundle completion bash|zsh|fish",
		Description: "The script is generated from the command definitions: commands, flags, the values of flags\n" +
			"with fixed choices, and file names where a file is expected. make install installs all three.\n\n" +
			"Examples:\n" +
			"   source <(pgha-bundle completion bash)\n" +
			"   pgha-bundle completion zsh > \"${fpath[1]}/_pgha-bundle\"\n" +
			"   pgha-bundle completion fish > ~/.config/fish/completions/pgha-bundle.fish",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return exitWith(exitUsage, fmt.Errorf("completion wants one shell: bash, zsh or fish (usage: %s)", c.Command.UsageText))
			}
			var err error
			switch sh := c.Args().First(); sh {
			case "bash":
				err = writeBashCompletion(c.App.Writer, c.App)
			case "zsh":
				err = writeZshCompletion(c.App.Writer, c.App)
			case "fish":
				var s string
				if s, err = docApp(c.App, true).ToFishCompletion(); err == nil {
					_, err = io.WriteString(c.App.Writer, s)
				}
			default:
				return exitWith(exitUsage, fmt.Errorf("completion %q: want bash, zsh or fish", sh))
			}
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("completion: %w", err))
			}
			return nil
		},
	}
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:      "man",
		Usage:     "print the manual page (roff, section 1)",
		UsageText: "pgha-bundle man",
		Description: "Generated from the command definitions, as --help is. make install installs it.\n\n" +
			"Example:\n" +
			"   pgha-bundle man | man -l -",
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return exitWith(exitUsage, fmt.Errorf("man takes no arguments"))
			}
			s, err := docApp(c.App, false).ToManWithSection(1)
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("man: %w", err))
			}
			_, err = io.WriteString(c.App.Writer, s)
			return err
		},
	}
}

// docApp is app as urfave/cli's fish and man generators should see it:
// the help command and flags it adds while running appear once.
// The fish generator adds --help and --version itself (withoutHelp).
func docApp(app *cli.App, withoutHelp bool) *cli.App {
	d := *app
	d.Commands = nil
	for _, c := range app.Commands {
		if c.Name != "help" {
			d.Commands = append(d.Commands, c)
		}
	}
	d.Flags = nil
	for _, f := range dedupFlags(app.Flags) {
		if n := f.Names()[0]; !withoutHelp || (n != "help" && n != "version") {
			d.Flags = append(d.Flags, f)
		}
	}
	return &d
}

// dedupFlags drops a flag whose name came earlier.
func dedupFlags(fs []cli.Flag) []cli.Flag {
	seen := map[string]bool{}
	var out []cli.Flag
	for _, f := range fs {
		if !seen[f.Names()[0]] {
			seen[f.Names()[0]] = true
			out = append(out, f)
		}
	}
	return out
}

// visible lists the commands completion offers, sorted by name.
func visible(app *cli.App) []*cli.Command {
	var out []*cli.Command
	for _, c := range app.Commands {
		if !c.Hidden && c.Name != "help" { // help is offered on its own
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// flagNames is every spelling of f: --name and -n.
func flagNames(f cli.Flag) []string {
	var out []string
	for _, n := range f.Names() {
		if len(n) == 1 {
			out = append(out, "-"+n)
		} else {
			out = append(out, "--"+n)
		}
	}
	return out
}

func takesValue(f cli.Flag) bool {
	tv, ok := f.(interface{ TakesValue() bool })
	return ok && tv.TakesValue()
}

// commandFlags are c's flags but the help flag urfave/cli adds (each
// script offers --help itself).
func commandFlags(c *cli.Command) []cli.Flag {
	var out []cli.Flag
	for _, f := range c.Flags {
		if f.Names()[0] != "help" {
			out = append(out, f)
		}
	}
	return out
}

// takesDir tells a flag whose value is a directory by its placeholder.
func takesDir(f cli.Flag) bool {
	u := flagUsage0(f)
	i := strings.IndexByte(u, '`')
	return i >= 0 && strings.HasPrefix(u[i+1:], "DIR`")
}

func flagUsage0(f cli.Flag) string {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.GetUsage()
	}
	return ""
}

func takesFile(f cli.Flag) bool {
	switch f := f.(type) {
	case *cli.StringFlag:
		return f.TakesFile
	case *cli.StringSliceFlag:
		return f.TakesFile
	}
	return false
}

func flagUsage(f cli.Flag) string {
	return strings.ReplaceAll(flagUsage0(f), "`", "")
}

// writeBashCompletion writes a bash completion script: commands, each
// command's flags, choices for flags with fixed values, files where a
// file is expected.
func writeBashCompletion(w io.Writer, app *cli.App) error {
	var b strings.Builder
	cmds := visible(app)
	var names []string
	for _, c := range cmds {
		names = append(names, c.Names()...)
	}
	fmt.Fprintf(&b, "# bash completion for %s, generated by `%s completion bash`.\n", app.Name, app.Name)
	fmt.Fprintf(&b, "_pgha_bundle() {\n")
	fmt.Fprintf(&b, "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	fmt.Fprintf(&b, "    COMPREPLY=()\n")
	fmt.Fprintf(&b, "    if [[ $COMP_CWORD -eq 1 ]]; then\n")
	fmt.Fprintf(&b, "        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(append(names, "help", "--help", "--version"), " "))
	fmt.Fprintf(&b, "        return\n    fi\n")
	fmt.Fprintf(&b, "    case \"${COMP_WORDS[1]}\" in\n")
	fmt.Fprintf(&b, "    help)\n        [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W %q -- \"$cur\"))\n        ;;\n", strings.Join(names, " "))
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s)\n", strings.Join(c.Names(), "|"))
		var all, dirs, files, none []string
		choices := map[string][]string{}
		for _, f := range commandFlags(c) {
			ns := flagNames(f)
			all = append(all, ns...)
			if !takesValue(f) {
				continue
			}
			switch {
			case takesDir(f):
				dirs = append(dirs, ns...)
			case takesFile(f):
				files = append(files, ns...)
			case flagChoices[f.Names()[0]] != nil:
				for _, n := range ns {
					choices[n] = flagChoices[f.Names()[0]]
				}
			default:
				none = append(none, ns...)
			}
		}
		all = append(all, "--help")
		if len(dirs)+len(files)+len(choices)+len(none) > 0 {
			fmt.Fprintf(&b, "        case \"$prev\" in\n")
		}
		if len(dirs) > 0 {
			fmt.Fprintf(&b, "        %s)\n            COMPREPLY=($(compgen -d -- \"$cur\"))\n            return\n            ;;\n", strings.Join(dirs, "|"))
		}
		if len(files) > 0 {
			fmt.Fprintf(&b, "        %s)\n            COMPREPLY=($(compgen -f -- \"$cur\"))\n            return\n            ;;\n", strings.Join(files, "|"))
		}
		var keys []string
		for k := range choices {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "        %s)\n            COMPREPLY=($(compgen -W %q -- \"$cur\"))\n            return\n            ;;\n", k, strings.Join(choices[k], " "))
		}
		if len(none) > 0 {
			fmt.Fprintf(&b, "        %s)\n            return\n            ;;\n", strings.Join(none, "|"))
		}
		if len(dirs)+len(files)+len(choices)+len(none) > 0 {
			fmt.Fprintf(&b, "        esac\n")
		}
		fmt.Fprintf(&b, "        if [[ $cur == -* ]]; then\n            COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(all, " "))
		if c.Name == "completion" {
			fmt.Fprintf(&b, "        elif [[ $COMP_CWORD -eq 2 ]]; then\n            COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(flagChoices["shell"], " "))
		} else {
			fmt.Fprintf(&b, "        else\n            COMPREPLY=($(compgen -f -- \"$cur\"))\n")
		}
		fmt.Fprintf(&b, "        fi\n        ;;\n")
	}
	fmt.Fprintf(&b, "    esac\n}\n")
	fmt.Fprintf(&b, "complete -o filenames -o bashdefault -F _pgha_bundle %s\n", app.Name)
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote quotes s for a single-quoted zsh word.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshDesc escapes a description for an _arguments [...] part.
func zshDesc(s string) string {
	return strings.NewReplacer("[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}

// writeZshCompletion writes a zsh completion function (the file
// _pgha-bundle on $fpath).
func writeZshCompletion(w io.Writer, app *cli.App) error {
	var b strings.Builder
	cmds := visible(app)
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s, generated by `%s completion zsh`.\n\n", app.Name, app.Name, app.Name)
	fmt.Fprintf(&b, "_pgha_bundle() {\n    local -a commands\n    commands=(\n")
	for _, c := range cmds {
		for _, n := range c.Names() {
			fmt.Fprintf(&b, "        %s\n", zshQuote(n+":"+strings.ReplaceAll(c.Usage, ":", `\:`)))
		}
	}
	fmt.Fprintf(&b, "        'help:show the commands, or one command'\n    )\n")
	fmt.Fprintf(&b, "    if (( CURRENT == 2 )); then\n        _describe -t commands 'pgha-bundle command' commands\n        return\n    fi\n")
	fmt.Fprintf(&b, "    case $words[2] in\n")
	fmt.Fprintf(&b, "    help)\n        _describe -t commands 'pgha-bundle command' commands\n        ;;\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s)\n        _arguments -s \\\n", strings.Join(c.Names(), "|"))
		for _, f := range commandFlags(c) {
			ns := flagNames(f)
			excl := ""
			if len(ns) > 1 {
				excl = "(" + strings.Join(ns, " ") + ")"
			}
			repeat := ""
			if _, ok := f.(*cli.StringSliceFlag); ok {
				excl, repeat = "", "*"
			}
			action := ""
			if takesValue(f) {
				switch {
				case takesDir(f):
					action = ":" + f.Names()[0] + ":_directories"
				case takesFile(f):
					action = ":" + f.Names()[0] + ":_files"
				case flagChoices[f.Names()[0]] != nil:
					action = ":" + f.Names()[0] + ":(" + strings.Join(flagChoices[f.Names()[0]], " ") + ")"
				default:
					action = ":" + f.Names()[0] + ": "
				}
			}
			desc := "[" + zshDesc(flagUsage(f)) + "]"
			for _, n := range ns {
				fmt.Fprintf(&b, "            %s \\\n", zshQuote(excl+repeat+n+desc+action))
			}
		}
		fmt.Fprintf(&b, "            '--help[show help]' \\\n")
		if c.Name == "completion" {
			fmt.Fprintf(&b, "            '1:shell:(bash zsh fish)'\n        ;;\n")
		} else {
			fmt.Fprintf(&b, "            '*:file:_files'\n        ;;\n")
		}
	}
	fmt.Fprintf(&b, "    esac\n}\n\n")
	fmt.Fprintf(&b, "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n    _pgha_bundle \"$@\"\nelse\n    compdef _pgha_bundle %s\nfi\n", app.Name)
	_, err := io.WriteString(w, b.String())
	return err
}
