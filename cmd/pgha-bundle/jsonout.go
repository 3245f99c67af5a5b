package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/cluster"
)

// The --format json documents. Their shapes are documented in docs/cli.md
// and in docs/cli-json.schema.json, which the tests check every document
// against: a field is added only with the schema, and never removed or
// changed in meaning while "format" stays 1.

// jsonFormat is the "format" member of every document.
const jsonFormat = 1

// formatFlag is --format of the commands that print JSON on request.
func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json (one JSON document on standard output; see docs/cli.md)"}
}

// wantJSON reads --format: true for json, false for text, an error otherwise.
func wantJSON(c *cli.Context) (bool, error) {
	switch f := c.String("format"); f {
	case "text":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, exitWith(exitUsage, fmt.Errorf("--format %q: want text or json", f))
	}
}

// writeJSON writes v as one indented JSON document and a newline.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return exitWith(exitInternal, fmt.Errorf("encode JSON: %w", err))
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return exitWith(exitUsage, fmt.Errorf("write JSON: %w", err))
	}
	return nil
}

// jsonProblem is one problem of a spec: an error, a warning or a note.
type jsonProblem struct {
	Severity string `json:"severity"` // error, warning or note
	File     string `json:"file"`
	Line     int    `json:"line"`   // 1-based; 0 when the problem has no position
	Column   int    `json:"column"` // 1-based; 0 when the problem has no position
	Path     string `json:"path"`   // the spec element (nodes[1].address); "" for the whole document
	Message  string `json:"message"`
}

func jsonProblems(ps cluster.Problems, notes cluster.Problems) []jsonProblem {
	out := []jsonProblem{}
	for _, p := range ps {
		sev := "error"
		if p.Warning {
			sev = "warning"
		}
		out = append(out, jsonProblem{sev, p.File, p.Line, p.Column, p.Path, p.Message})
	}
	for _, p := range notes {
		out = append(out, jsonProblem{"note", p.File, p.Line, p.Column, p.Path, p.Message})
	}
	return out
}
