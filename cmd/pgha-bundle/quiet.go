package main

import (
	"bytes"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// buildSteps are the progress lines of a build that --quiet drops. Every
// other line (a new cluster's secrets, secrets updated, waiting for a lock)
// is kept: it says something the user must know.
var buildSteps = []string{"==> load spec ", "==> verify packages", "    ", "==> render ", "==> node ", "==> wrote "}

// quietWriter passes to w the whole lines that are not progress steps.
type quietWriter struct {
	w       io.Writer
	pending []byte
}

func (q *quietWriter) Write(p []byte) (int, error) {
	q.pending = append(q.pending, p...)
	for {
		i := bytes.IndexByte(q.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := q.pending[:i+1]
		q.pending = q.pending[i+1:]
		if !isBuildStep(string(line)) {
			if _, err := q.w.Write(line); err != nil {
				return len(p), err
			}
		}
	}
}

func isBuildStep(line string) bool {
	for _, s := range buildSteps {
		if strings.HasPrefix(line, s) {
			return true
		}
	}
	return false
}

// buildLog is where build writes its progress: all of it, or with --quiet
// only what is not a progress step. With --format json standard output
// holds the document alone, and the progress goes to standard error.
func buildLog(c *cli.Context, asJSON bool) io.Writer {
	w := c.App.Writer
	if asJSON {
		w = c.App.ErrWriter
	}
	if c.Bool("quiet") {
		return &quietWriter{w: w}
	}
	return w
}
