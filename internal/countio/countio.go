// Package countio counts the bytes written through a writer: the build's
// progress and sizes, the seed image's offsets, the fixture RPMs' cpio
// padding.
package countio

import (
	"context"
	"io"
)

// Writer passes what it is given on to W and counts it in N.
type Writer struct {
	W io.Writer
	N int64
	// Ctx, when not nil, stops a long write once it is done.
	Ctx context.Context
	// Progress, when not nil, is told the size of each write.
	Progress func(int64)
}

func (c *Writer) Write(p []byte) (int, error) {
	if c.Ctx != nil {
		if err := c.Ctx.Err(); err != nil {
			return 0, err
		}
	}
	n, err := c.W.Write(p)
	c.N += int64(n)
	if c.Progress != nil {
		c.Progress(int64(n))
	}
	return n, err
}
