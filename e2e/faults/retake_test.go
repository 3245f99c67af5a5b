//go:build e2e

package faults

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// patroniJournal returns n's Patroni unit's journal since since.
func (n *node) patroniJournal(ctx context.Context, since time.Time) ([]journalLine, error) {
	out, err := n.exec(ctx, "journalctl", "--no-pager", "-o", "short-unix", "-u", "patroni.service",
		"--since", fmt.Sprintf("@%d", since.Unix()-1))
	if err != nil {
		return nil, fmt.Errorf("%s: journal: %w", n.name, err)
	}
	return parseJournal(string(out), since), nil
}

// leaderKeyRetaken reads the Patroni journals since the fault for the trace
// of patroni/patroni#2689 (see detectRetake).
func (h *harness) leaderKeyRetaken(ctx context.Context, old *node, since time.Time) (retake, error) {
	var oldLines []journalLine
	others := map[string][]journalLine{}
	for _, n := range h.nodes {
		if n.pid == 0 {
			continue
		}
		lines, err := n.patroniJournal(ctx, since)
		if err != nil {
			return retake{}, err
		}
		if n == old {
			oldLines = lines
		} else {
			others[n.name] = lines
		}
	}
	return detectRetake(old.name, oldLines, others, since), nil
}

// syncKeyStuck reports (as a description, "" when not) whether lead's
// Patroni keeps finding the synchronous replication key written by another
// leader: three "Synchronous replication key updated by someone else" in
// the last 20s and no standby assigned since.
func (h *harness) syncKeyStuck(ctx context.Context, lead *node) (string, error) {
	since := time.Now().Add(-20 * time.Second)
	lines, err := lead.patroniJournal(ctx, since)
	if err != nil {
		return "", err
	}
	n := 0
	for _, l := range lines {
		switch {
		case strings.Contains(l.text, "Synchronous replication key updated by someone else"):
			n++
		case strings.Contains(l.text, "Synchronous standby status assigned to"):
			n = 0
		}
	}
	if n < 3 {
		return "", nil
	}
	return fmt.Sprintf("%s logged %q %d times in 20s", lead.name, "Synchronous replication key updated by someone else", n), nil
}

// resetSyncMode turns synchronous_mode off, waits until lead's Patroni has
// deleted the synchronous replication key ("Disabled synchronous
// replication"), and turns it on again: lead then writes the key afresh.
// Meanwhile lead acknowledges commits alone, as synchronous_mode off does.
func (h *harness) resetSyncMode(ctx context.Context, lead *node) error {
	from := time.Now()
	if err := h.setConfig(ctx, lead, map[string]any{"synchronous_mode": false}); err != nil {
		return err
	}
	var disabled bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); sleep(ctx, time.Second) {
		lines, err := lead.patroniJournal(ctx, from)
		if err != nil {
			return err
		}
		if _, disabled = firstAfter(lines, "Disabled synchronous replication", from, time.Time{}); disabled {
			break
		}
	}
	if err := h.setConfig(ctx, lead, map[string]any{"synchronous_mode": true}); err != nil {
		return err
	}
	if !disabled {
		return fmt.Errorf("%s did not delete the synchronous replication key within 30s of synchronous_mode off", lead.name)
	}
	return nil
}
