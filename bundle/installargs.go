package bundle

import (
	"fmt"
	"sort"
	"strings"
)

// InstallFlag is one option install.sh takes (its own or lib.sh's
// common_flag), as a seed may pass it (build --install-arg).
type InstallFlag struct {
	// Value names the argument the flag takes ("" for a switch).
	Value string
	// Check, when set, says what is wrong with a value, or "".
	Check func(v string) string
}

func positiveSeconds(v string) string {
	if v == "" || strings.Trim(v, "0123456789") != "" || strings.Trim(v, "0") == "" {
		return "a whole number of seconds, at least 1"
	}
	return ""
}

func pkgTool(v string) string {
	switch v {
	case "yum", "dnf", "rpm":
		return ""
	}
	return "yum, dnf or rpm"
}

func directory(v string) string {
	if !strings.HasPrefix(v, "/") {
		return "an absolute directory"
	}
	return ""
}

func absolute(v string) string {
	if !strings.HasPrefix(v, "/") {
		return "an absolute path"
	}
	return ""
}

// InstallFlags are the flags install.sh accepts, in one place: the build
// checks --install-arg values against them, and a test keeps them equal to
// the scripts' parsers. -h/--help is left out on purpose: install.sh prints
// its usage and installs nothing.
var InstallFlags = map[string]InstallFlag{
	"--dry-run":            {},
	"--force":              {},
	"--no-start":           {},
	"--skip-os-check":      {},
	"--no-packages":        {},
	"--packages-media":     {Value: "PATH", Check: absolute},
	"--root":               {Value: "DIR", Check: directory},
	"--pkg-tool":           {Value: "TOOL", Check: pkgTool},
	"--timeout-etcd":       {Value: "SECONDS", Check: positiveSeconds},
	"--timeout-patroni":    {Value: "SECONDS", Check: positiveSeconds},
	"--timeout-haproxy":    {Value: "SECONDS", Check: positiveSeconds},
	"--timeout-switchover": {Value: "SECONDS", Check: positiveSeconds},
}

// installFlagList is every flag, sorted, for messages.
func installFlagList() string {
	names := make([]string, 0, len(InstallFlags))
	for n, f := range InstallFlags {
		if f.Value != "" {
			n += " " + f.Value
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// CheckInstallArgs checks the arguments a seed passes to install.sh: every
// one a flag install.sh takes, with the value it needs (as the next argument,
// or after '=' for --root). install.sh exits with its usage on anything else,
// and a node would boot without being installed.
func CheckInstallArgs(args []string) error {
	var errs []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, inline := strings.Cut(a, "=")
		f, ok := InstallFlags[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Sprintf("%q is not an install.sh flag", a))
			continue
		case f.Value == "" && inline:
			errs = append(errs, fmt.Sprintf("%s takes no value", name))
			continue
		case f.Value != "" && inline && name != "--root":
			errs = append(errs, fmt.Sprintf("%s takes its %s as the next argument: pass --install-arg %s --install-arg %s", name, f.Value, name, value))
			continue
		case f.Value != "" && !inline:
			if i+1 >= len(args) {
				errs = append(errs, fmt.Sprintf("%s needs a %s after it: pass it as the next --install-arg", name, f.Value))
				continue
			}
			i++
			value = args[i]
		}
		if f.Check != nil {
			if want := f.Check(value); want != "" {
				errs = append(errs, fmt.Sprintf("%s %q: want %s", name, value, want))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("--install-arg: %s (install.sh takes: %s)", strings.Join(errs, "; "), installFlagList())
	}
	return nil
}
