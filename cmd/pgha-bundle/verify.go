package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/internal/progress"
	"github.com/pgha-bundle/pgha-bundle/rpm"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify RPM packages: digests, OpenPGP signatures, target arch and dist tag",
		UsageText: "pgha-bundle verify [--key FILE]... [--os el7|el8|el9] [--arch x86_64|aarch64] [--format text|json] PKG...",
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
			"   pgha-bundle verify vendor-postgres-15.4-1.el7.x86_64.rpm   # digests only\n" +
			"   pgha-bundle verify --format json --key K rpms/*.rpm        # one JSON document (docs/cli.md)",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "key", Aliases: []string{"k"}, Usage: "public key `FILE` (armored or binary, may hold several keys); repeat for more", TakesFile: true},
			&cli.StringFlag{Name: "os", Usage: "target `OS` (el7, el8, el9): the release's dist tag must match"},
			&cli.StringFlag{Name: "arch", Usage: "target `ARCH` (x86_64, aarch64): packages must be this or noarch"},
			formatFlag(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return exitWith(exitUsage, fmt.Errorf("no package given (usage: %s)", c.Command.UsageText))
			}
			asJSON, err := wantJSON(c)
			if err != nil {
				return err
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
			var bar *progress.Bar
			if isTerminal(c.App.ErrWriter) {
				bar = progress.New(c.App.ErrWriter, nil)
				var total int64
				for _, path := range c.Args().Slice() {
					if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
						total += fi.Size()
					}
				}
				bar.Start("verify", total)
			}
			out, errOut := withBar(bar, c.App.Writer), withBar(bar, c.App.ErrWriter)
			var add func(int64)
			if bar != nil {
				add = bar.Add
			}
			failed, ioErrors := 0, 0
			doc := verifyJSON{Format: jsonFormat, SignaturesChecked: keys != nil, Packages: []verifyPackageJSON{}, Unreadable: []verifyUnreadableJSON{}}
			for _, path := range c.Args().Slice() {
				rep, err := rpm.CheckProgress(path, keys, target, add)
				if err != nil {
					fmt.Fprintf(errOut, "pgha-bundle: %v\n", err)
					doc.Unreadable = append(doc.Unreadable, verifyUnreadableJSON{Path: path, Error: err.Error()})
					ioErrors++
					continue
				}
				if asJSON {
					doc.Packages = append(doc.Packages, verifyPackage(rep))
				} else {
					fmt.Fprintln(out, rep.Line())
				}
				if !rep.OK() {
					failed++
				}
			}
			bar.Clear()
			if keys == nil {
				fmt.Fprintln(c.App.ErrWriter, "pgha-bundle: note: no --key given: signatures were NOT checked, only digests")
			}
			if asJSON {
				doc.OK = failed == 0 && ioErrors == 0
				if err := writeJSON(c.App.Writer, doc); err != nil {
					return err
				}
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

// verifyJSON is verify --format json.
type verifyJSON struct {
	Format            int                    `json:"format"`
	OK                bool                   `json:"ok"`
	SignaturesChecked bool                   `json:"signatures_checked"`
	Packages          []verifyPackageJSON    `json:"packages"`
	Unreadable        []verifyUnreadableJSON `json:"unreadable"`
}

type verifyPackageJSON struct {
	Path        string   `json:"path"`
	NEVRA       string   `json:"nevra"` // "" when the headers could not be read
	Arch        string   `json:"arch"`
	Size        int64    `json:"size"`
	SHA256      string   `json:"sha256"`
	DigestsOK   bool     `json:"digests_ok"`
	Signature   string   `json:"signature"` // the status: verified, unsigned, not-checked, ...
	KeyID       string   `json:"key_id"`
	Fingerprint string   `json:"fingerprint"`
	OK          bool     `json:"ok"`
	Problems    []string `json:"problems"`
	Warnings    []string `json:"warnings"`
}

type verifyUnreadableJSON struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

func verifyPackage(rep *rpm.Report) verifyPackageJSON {
	res := rep.Result
	p := verifyPackageJSON{
		Path: rep.Path, Size: res.Size, SHA256: res.SHA256, DigestsOK: res.DigestsOK,
		Signature: res.SignatureStatus, OK: rep.OK(), Problems: []string{}, Warnings: []string{},
	}
	if res.Info != nil {
		p.NEVRA, p.Arch = res.Info.NEVRA(), res.Info.Arch
	}
	// The signature whose key the text line shows: the first failing one,
	// else the first.
	for i, s := range res.Signatures {
		if i == 0 || s.Err != nil {
			p.KeyID, p.Fingerprint = s.KeyID, s.Fingerprint
		}
		if s.Err != nil {
			break
		}
	}
	if res.Err != nil {
		p.Problems = append(p.Problems, res.Err.Error())
	}
	for _, e := range rep.Problems {
		p.Problems = append(p.Problems, e.Error())
	}
	p.Warnings = append(p.Warnings, rep.Warnings...)
	return p
}
