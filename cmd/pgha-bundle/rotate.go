package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
	"github.com/pgha-bundle/pgha-bundle/pipeline"
	"github.com/pgha-bundle/pgha-bundle/secrets"
)

func secretsCommand() *cli.Command {
	return &cli.Command{
		Name:        "secrets",
		Usage:       "change the cluster's secrets file",
		UsageText:   "pgha-bundle secrets rotate|import-backup-passphrase [options]",
		Description: "Subcommands change the secrets file of a cluster; builds create it.",
		Subcommands: []*cli.Command{rotateCommand(), importPassphraseCommand()},
		Action: func(c *cli.Context) error {
			return exitWith(exitUsage, fmt.Errorf("secrets needs a subcommand: rotate or import-backup-passphrase (usage: %s)", c.Command.UsageText))
		},
	}
}

func rotateCommand() *cli.Command {
	return &cli.Command{
		Name:      "rotate",
		Usage:     "make new passwords or node certificates in the secrets file",
		UsageText: "pgha-bundle secrets rotate [-f cluster.yaml] [--secrets FILE] [--password NAME]... [--node-cert NODE]...",
		Description: "Replaces, in the cluster's existing secrets file, the passwords named by --password (" +
			strings.Join(secrets.Rotatable, ", ") + ";\n" +
			"all of them when neither --password nor --node-cert is given) and the certificate and key of each\n" +
			"node named by --node-cert, reissued from the cluster's CA. The file is written as builds write it\n" +
			"(atomically, mode 0600, the previous version kept in FILE.prev); a file that does not exist or is\n" +
			"damaged is refused. The CA is never rotated. What changed is printed by name, never a value.\n\n" +
			"The running cluster takes the new values from the next build: run upgrade.sh on every member,\n" +
			"replicas first and the leader last; the first member upgraded gives the leader the new database\n" +
			"passwords before any Patroni uses them (docs/operations.md, Rotating secrets).\n\n" +
			"Examples:\n" +
			"   pgha-bundle secrets rotate -f cluster.yaml                          # every password\n" +
			"   pgha-bundle secrets rotate -f cluster.yaml --password replication\n" +
			"   pgha-bundle secrets rotate -f cluster.yaml --node-cert pg2          # pg2's certificate only",
		Flags: []cli.Flag{
			specFlag(),
			&cli.StringFlag{Name: "secrets", Usage: "secrets `FILE` (default: <spec>.secrets.yaml beside the spec; required with -f -)", TakesFile: true},
			&cli.StringSliceFlag{Name: "password", Usage: "rotate the password `NAME` (repeatable): " + strings.Join(secrets.Rotatable, ", ")},
			&cli.StringSliceFlag{Name: "node-cert", Usage: "reissue the certificate of `NODE` from the cluster's CA (repeatable)"},
		},
		Action: rotateAction,
	}
}

func rotateAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return exitWith(exitUsage, fmt.Errorf("secrets rotate takes no arguments; name the spec with -f (usage: %s)", c.Command.UsageText))
	}
	spec, path, err := specAndSecrets(c)
	if err != nil {
		return err
	}
	passwords, nodes := c.StringSlice("password"), c.StringSlice("node-cert")
	if len(passwords) == 0 && len(nodes) == 0 {
		passwords = secrets.Rotatable
	}
	rep, err := pipeline.RotateSecrets(pipeline.Rotation{Spec: spec, SecretsPath: path, Passwords: passwords, Nodes: nodes})
	if err != nil {
		return exitWith(exitUsage, fmt.Errorf("secrets rotate: nothing was changed: %w", err))
	}
	w := c.App.Writer
	fmt.Fprintf(w, "rotated in %s (the previous version is kept in %s):\n", path, secrets.PrevPath(path))
	for _, p := range rep.Passwords {
		fmt.Fprintf(w, "  password %s\n", p)
	}
	for _, n := range rep.Certificates {
		fmt.Fprintf(w, "  certificate of %s\n", n)
	}
	fmt.Fprintln(w, "next: build, then run upgrade.sh on every member, replicas first, the leader last (docs/operations.md, Rotating secrets)")
	return nil
}

func importPassphraseCommand() *cli.Command {
	return &cli.Command{
		Name:      "import-backup-passphrase",
		Usage:     "take the backup passphrase of the cluster this one is bootstrapped from",
		UsageText: "pgha-bundle secrets import-backup-passphrase [-f cluster.yaml] [--secrets FILE] --from SOURCE-SECRETS",
		Description: "For a cluster bootstrapped from another cluster's encrypted backups (bootstrap.from_backup):\n" +
			"copies that cluster's backup passphrase (backup_cipher_pass), and nothing else, from its secrets\n" +
			"file into this cluster's, as source_backup_cipher_pass. The source's file is only read; this\n" +
			"cluster's file is written as builds write it (atomically, mode 0600, the previous version kept in\n" +
			"FILE.prev), and created, as a build would, when it does not exist yet. The value is never printed.\n\n" +
			"Example:\n" +
			"   pgha-bundle secrets import-backup-passphrase -f clone.yaml --from ../prod/cluster.secrets.yaml",
		Flags: []cli.Flag{
			specFlag(),
			&cli.StringFlag{Name: "secrets", Usage: "secrets `FILE` (default: <spec>.secrets.yaml beside the spec; required with -f -)", TakesFile: true},
			&cli.StringFlag{Name: "from", Usage: "the source cluster's secrets `FILE`", TakesFile: true},
		},
		Action: importPassphraseAction,
	}
}

func importPassphraseAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return exitWith(exitUsage, fmt.Errorf("secrets import-backup-passphrase takes no arguments (usage: %s)", c.Command.UsageText))
	}
	from := c.String("from")
	if from == "" {
		return exitWith(exitUsage, fmt.Errorf("secrets import-backup-passphrase needs --from, the source cluster's secrets file (usage: %s)", c.Command.UsageText))
	}
	spec, path, err := specAndSecrets(c)
	if err != nil {
		return err
	}
	rep, err := pipeline.ImportBackupPassphrase(pipeline.PassphraseImport{Spec: spec, SecretsPath: path, From: from})
	if err != nil {
		return exitWith(exitUsage, fmt.Errorf("secrets import-backup-passphrase: nothing was changed: %w", err))
	}
	w := c.App.Writer
	src := "the source cluster"
	if rep.SourceCluster != "" {
		src = "cluster " + rep.SourceCluster
	}
	switch {
	case rep.Unchanged:
		fmt.Fprintf(w, "%s already holds the backup passphrase of %s (source_backup_cipher_pass): nothing changed\n", path, src)
	case rep.Created:
		fmt.Fprintf(w, "created %s for cluster %s with the backup passphrase of %s (source_backup_cipher_pass)\n", path, spec.Cluster.Name, src)
	case rep.Replaced:
		fmt.Fprintf(w, "replaced in %s the source backup passphrase by that of %s (the previous version is kept in %s)\n", path, src, secrets.PrevPath(path))
	default:
		fmt.Fprintf(w, "imported into %s the backup passphrase of %s (source_backup_cipher_pass; the previous version is kept in %s)\n", path, src, secrets.PrevPath(path))
	}
	return nil
}

// specAndSecrets loads the spec of -f (its problems printed, the error an
// exit status) and names its secrets file: --secrets, else the default
// beside the spec; a spec read from stdin must name it.
func specAndSecrets(c *cli.Context) (*cluster.Spec, string, error) {
	spec, ps, name, data, err := loadSpecData(c.String("file"))
	var specErr *cluster.SpecError
	if errors.As(err, &specErr) {
		for _, p := range ps {
			fmt.Fprintln(c.App.ErrWriter, p)
		}
		return nil, "", exitWith(exitUsage, errInvalid)
	}
	if err != nil {
		return nil, "", exitWith(exitUsage, err)
	}
	path := c.String("secrets")
	if path == "" {
		if data != nil {
			return nil, "", exitWith(exitUsage, errStdinSecrets)
		}
		path = pipeline.DefaultSecretsPath(name)
	}
	return spec, path, nil
}
