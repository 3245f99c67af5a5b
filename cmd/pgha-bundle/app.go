package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at link time (-ldflags "-X main.version=…").
var version = "0.1.0-dev"

// Exit codes shared by every command.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and found a problem (verify failed, diff differs)
	exitUsage  = 2 // bad usage, invalid spec, I/O error
	// exitInternal is a panic caught at the boundary: a bug, never an
	// answer about the input (sysexits.h's EX_SOFTWARE).
	exitInternal = 70
)

// exitStatusHelp documents the exit codes in the top-level help.
const exitStatusHelp = "Exit status: 0 success; 1 the command found a problem (verify failed, diff differs);\n" +
	"2 bad usage, invalid input or an I/O error; 70 internal error, a bug in pgha-bundle\n" +
	"(the message and stack trace on stderr are what to report)."

// commandList is what run serves; a test adds a command that panics.
var commandList = commands

// exitError carries an exit code out of a command's Action.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

// run is the whole CLI, testable in-process with buffers. A panic in the
// command (the readers turn every input into an error; this is the last
// line) is reported as a bug with its stack, with its own exit code, instead
// of a Go crash that looks like a problem with the input.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "pgha-bundle: internal error (a bug in pgha-bundle, please report it): %v\n\n%s", r, debug.Stack())
			code = exitInternal
		}
	}()
	app := newApp(stdout, stderr)
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

// newApp is the command line: every command, its flags and help, from
// which the help, the completion scripts and the man page are made.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "pgha-bundle",
		Usage: "offline seed ISOs and install bundles for a Patroni/etcd/HAProxy PostgreSQL cluster",
		Description: "From one cluster spec and a directory of verified RPMs, pgha-bundle writes for every node\n" +
			"a cloud-init NoCloud seed ISO, a self-contained install bundle and the rendered configs.\n\n" +
			"Start with:\n" +
			"   pgha-bundle init -o cluster.yaml\n" +
			"   pgha-bundle validate -f cluster.yaml\n" +
			"   pgha-bundle build -f cluster.yaml --packages ./rpms --key RPM-GPG-KEY --out out\n\n" +
			exitStatusHelp + "\nExit codes and conventions: docs/cli.md",
		Version:         version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: false, // `pgha-bundle help [COMMAND]`
		Suggest:         true,
		Action:          unknownCommand,
		ExitErrHandler:  func(*cli.Context, error) {}, // exit codes are decided below, not by os.Exit inside cli
		Commands:        commandList(),
	}
}

// commands lists every subcommand; each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCommand(),
		initCommand(), validateCommand(), buildCommand(),
		diffCommand(), inspectCommand(), planCommand(),
		verifyCommand(), connectCommand(), secretsCommand(),
		completionCommand(), manCommand(),
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
