package main

import (
	"bytes"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/pgha-bundle/pgha-bundle/internal/progress"
)

// progressBar is the bar of a long command when standard error is a
// terminal and output is not silenced; nil otherwise, and then only the
// plain step lines are printed (CI, logs, pipes).
func progressBar(c *cli.Context) *progress.Bar {
	if c.Bool("quiet") || !isTerminal(c.App.ErrWriter) {
		return nil
	}
	return progress.New(c.App.ErrWriter, nil)
}

// barWriter passes whole lines to w through the bar, so that they appear
// above it and never inside it.
type barWriter struct {
	bar     *progress.Bar
	w       io.Writer
	pending []byte
}

func (b *barWriter) Write(p []byte) (int, error) {
	b.pending = append(b.pending, p...)
	for {
		i := bytes.IndexByte(b.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		b.bar.Print(b.w, string(b.pending[:i+1]))
		b.pending = b.pending[i+1:]
	}
}

// withBar routes w's lines through bar; w itself when there is no bar.
func withBar(bar *progress.Bar, w io.Writer) io.Writer {
	if bar == nil {
		return w
	}
	return &barWriter{bar: bar, w: w}
}
