package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// version is set at link time (-ldflags "-X main.version=…").
var version = "0.1.0-dev"

// Exit codes shared by every command.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and found a problem (verify failed, diff differs)
	exitUsage  = 2 // bad usage, invalid spec, I/O error
)

// exitError carries an exit code out of a command's Action.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

// run is the whole CLI, testable in-process with buffers.
func run(args []string, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:  "pgha-bundle",
		Usage: "offline seed ISOs and install bundles for a Patroni/etcd/HAProxy PostgreSQL cluster",
		Description: "From one cluster spec and a directory of verified RPMs, pgha-bundle writes for every node\n" +
			"a cloud-init NoCloud seed ISO, a self-contained install bundle and the rendered configs.\n\n" +
			"Start with:\n" +
			"   pgha-bundle init -o cluster.yaml\n" +
			"   pgha-bundle validate -f cluster.yaml\n" +
			"   pgha-bundle build -f cluster.yaml --packages ./rpms --key RPM-GPG-KEY --out out\n\n" +
			"Exit codes (0 done, 1 found a failure or difference, 2 bad usage or input) and conventions: docs/cli.md",
		Version:         version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: false, // `pgha-bundle help [COMMAND]`
		Suggest:         true,
		Action:          unknownCommand,
		ExitErrHandler:  func(*cli.Context, error) {}, // exit codes are decided below, not by os.Exit inside cli
		Commands:        commands(),
	}
	err := app.Run(flagsFirst(args, app.Commands))
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "pgha-bundle: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "pgha-bundle: %v\n", err)
	return exitUsage
}

// commands lists every subcommand; each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCommand(),
		initCommand(), validateCommand(), buildCommand(),
		diffCommand(), inspectCommand(),
		verifyCommand(),
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version",
		UsageText: "pgha-bundle version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "pgha-bundle %s\n", version)
			return nil
		},
	}
}
