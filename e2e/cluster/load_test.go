//go:build e2e

package e2ecluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pgha-bundle/pgha-bundle/internal/testutil"
)

// pgConn is how psql reaches the cluster; the password travels in the
// environment (PGPASSWORD), never on a command line or in a log.
type pgConn struct {
	ns                 *nsRoot
	user, password, db string
}

func (c pgConn) env() []string {
	return []string{"PATH=/usr/bin:/bin", "PGPASSWORD=" + c.password, "PGCONNECT_TIMEOUT=3", "PGAPPNAME=pgha-e2e"}
}

func (c pgConn) dsn(host string, port int) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s", host, port, c.user, c.db)
}

// query runs one SQL statement through psql and returns its unaligned,
// tuples-only output.
func (c pgConn) query(ctx context.Context, host string, port int, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := c.ns.run(ctx, c.env(), "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", c.dsn(host, port), "-c", sql)
	if err != nil {
		return "", fmt.Errorf("psql %s:%d: %w", host, port, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// loadWriter inserts numbered rows one by one through a HAProxy read-write
// port and records which ones the server acknowledged (the commit returned).
// A row sent but not acknowledged when the connection broke is in doubt: it
// may or may not be there afterwards. An acknowledged row must be.
type loadWriter struct {
	conn  pgConn
	host  string
	port  int
	table string

	mu         sync.Mutex
	next       int64
	acked      []int64
	ackAt      []time.Time
	errs       int
	lastErr    string
	reconnects int
}

func (w *loadWriter) ack(id int64) {
	w.mu.Lock()
	w.acked = append(w.acked, id)
	w.ackAt = append(w.ackAt, time.Now())
	w.mu.Unlock()
}

// snapshot returns the acknowledged ids so far.
func (w *loadWriter) snapshot() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int64(nil), w.acked...)
}

// firstAckAfter returns when the first row sent after t was acknowledged.
func (w *loadWriter) firstAckAfter(t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, at := range w.ackAt {
		if at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// acksSince counts acknowledgements after t.
func (w *loadWriter) acksSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.ackAt {
		if at.After(t) {
			n++
		}
	}
	return n
}

// run writes until ctx ends, reconnecting whenever the session breaks.
// Rows are paced (every interval) to keep the load modest on a small machine.
func (w *loadWriter) run(ctx context.Context, interval time.Duration) {
	for ctx.Err() == nil {
		err := w.session(ctx, interval)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		w.errs++
		w.reconnects++
		if err != nil {
			w.lastErr = err.Error()
		}
		w.mu.Unlock()
		select { // back-off between reconnection attempts
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// session is one psql process fed INSERTs on stdin; each acknowledged row is
// echoed back by RETURNING, which is psql's only output in -At -q mode.
func (w *loadWriter) session(ctx context.Context, interval time.Duration) error {
	argv := w.conn.ns.netArgv("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", w.conn.dsn(w.host, w.port))
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = w.conn.env()
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := c.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr testutil.SyncBuffer
	c.Stderr = &stderr
	if err := startCmd(c); err != nil {
		return err
	}
	defer func() {
		stdin.Close()
		_ = c.Process.Kill()
		_ = c.Wait()
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		go func() { // drain so the reader goroutine ends
			for range lines {
			}
		}()
	}()
	// A row number is spent only once the session is known to work, so that
	// failed connection attempts do not count as rows in doubt.
	if _, err := io.WriteString(stdin, "SELECT 'ready';\n"); err != nil {
		return fmt.Errorf("connect: %w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	select {
	case <-ctx.Done():
		return nil
	case line, ok := <-lines:
		if !ok || line != "ready" {
			return fmt.Errorf("connect: %q %s", line, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(10 * time.Second):
		return fmt.Errorf("connect: no answer within 10s")
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		w.mu.Lock()
		w.next++
		id := w.next
		w.mu.Unlock()
		if _, err := io.WriteString(stdin, fmt.Sprintf("INSERT INTO %s (id) VALUES (%d) RETURNING id;\n", w.table, id)); err != nil {
			return fmt.Errorf("row %d: write: %w (%s)", id, err, strings.TrimSpace(stderr.String()))
		}
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				return fmt.Errorf("row %d: session ended: %s", id, strings.TrimSpace(stderr.String()))
			}
			got, err := strconv.ParseInt(line, 10, 64)
			if err != nil || got != id {
				return fmt.Errorf("row %d: unexpected reply %q", id, line)
			}
			w.ack(id)
		case <-time.After(10 * time.Second):
			return fmt.Errorf("row %d: no acknowledgement within 10s", id)
		}
	}
}

// sent returns how many row numbers were handed out (acknowledged or not).
func (w *loadWriter) sent() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}
