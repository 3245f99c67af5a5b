package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/rpm"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify RPM packages: digests, OpenPGP signatures, target arch and dist tag",
		UsageText: "pgha-bundle verify [--key FILE]... [--os el7|el8|el9] [--arch x86_64|aarch64] PKG...",
		Description: "Reads every package once and checks what rpm --checksig checks: the header SHA256/SHA1\n" +
			"digests, the payload digest, the header+payload MD5 and, with --key, every OpenPGP signature\n" +
			"(header-only and header+payload). With keys, an unsigned package or one signed by another key\n" +
			"fails. Without keys only digests are checked, and a note on stderr says so.\n" +
			"--os and --arch also check the release's dist tag and the package arch (noarch always fits).\n\n" +
			"One line per package: FILE NEVRA arch=… digests=ok|BAD signature=STATUS [key=ID fingerprint=FPR]\n" +
			"then OK, or FAILED: and every reason. Exit status: 0 every package verified, 1 any failed,\n" +
			"2 usage or I/O error.\n\n" +
			"Examples:\n" +
			"   pgha-bundle verify --key RPM-GPG-KEY-PGDG-15 rpms/*.rpm\n" +
			"   pgha-bundle verify --key RPM-GPG-KEY-PGDG --key RPM-GPG-KEY-EPEL-7 --os el7 --arch x86_64 rpms/*.rpm\n" +
			"   pgha-bundle verify vendor-postgres-15.4-1.el7.x86_64.rpm   # digests only",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "public key `FILE` (armored or binary, may hold several keys); repeat for more", TakesFile: true},
			&cli.StringFlag{Name: "os", Usage: "target `OS` (el7, el8, el9): the release's dist tag must match"},
			&cli.StringFlag{Name: "arch", Usage: "target `ARCH` (x86_64, aarch64): packages must be this or noarch"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return exitWith(exitUsage, fmt.Errorf("no package given (usage: %s)", c.Command.UsageText))
			}
			target := rpm.Target{OS: c.String("os"), Arch: c.String("arch")}
			switch target.OS {
			case "", "el7", "el8", "el9":
			default:
				return exitWith(exitUsage, fmt.Errorf("--os %q: want el7, el8 or el9", target.OS))
			}
			switch target.Arch {
			case "", "x86_64", "aarch64":
			default:
				return exitWith(exitUsage, fmt.Errorf("--arch %q: want x86_64 or aarch64", target.Arch))
			}
			keys, err := rpm.LoadKeys(c.StringSlice("key"))
			if err != nil {
				return exitWith(exitUsage, err)
			}
			failed, ioErrors := 0, 0
			for _, path := range c.Args().Slice() {
				rep, err := rpm.Check(path, keys, target)
				if err != nil {
					fmt.Fprintf(c.App.ErrWriter, "pgha-bundle: %v\n", err)
					ioErrors++
					continue
				}
				fmt.Fprintln(c.App.Writer, rep.Line())
				if !rep.OK() {
					failed++
				}
			}
			if keys == nil {
				fmt.Fprintln(c.App.ErrWriter, "pgha-bundle: note: no --key given: signatures were NOT checked, only digests")
			}
			switch {
			case ioErrors > 0:
				return exitWith(exitUsage, fmt.Errorf("%d of %d packages could not be read", ioErrors, c.NArg()))
			case failed > 0:
				return exitWith(exitFailed, fmt.Errorf("%d of %d packages failed verification", failed, c.NArg()))
			}
			return nil
		},
	}
}
