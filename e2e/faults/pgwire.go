package faults

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Conn is a minimal PostgreSQL frontend (protocol 3.0, simple queries,
// SCRAM-SHA-256 without channel binding): enough for the workload to see
// exactly what the server said about each commit, notices included, which
// psql would mix into one stream. It is not safe for concurrent use.
type Conn struct {
	nc net.Conn
	r  *bufio.Reader
}

// Result is what the server returned for one simple query.
type Result struct {
	Rows     [][]string // text values; a NULL is ""
	Tag      string     // the last CommandComplete tag
	Notices  []Notice   // NoticeResponse messages, in order
	Err      *PGError   // the ErrorResponse, if any
	Complete bool       // ReadyForQuery arrived
}

// Notice is one NoticeResponse (or ErrorResponse) field set.
type Notice struct {
	Severity, Code, Message string
}

// PGError is a server's ErrorResponse.
type PGError Notice

func (e *PGError) Error() string { return fmt.Sprintf("%s %s: %s", e.Severity, e.Code, e.Message) }

// Dialer opens the TCP connection (the harness dials inside its network
// namespace).
type Dialer func(ctx context.Context, addr string) (net.Conn, error)

// Connect opens a session as user on database db, authenticating with
// password (SCRAM-SHA-256, MD5 refused, cleartext refused).
func Connect(ctx context.Context, dial Dialer, addr, user, password, db string) (*Conn, error) {
	nc, err := dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &Conn{nc: nc, r: bufio.NewReader(nc)}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if err := c.startup(user, password, db); err != nil {
		nc.Close()
		return nil, fmt.Errorf("postgres %s: %w", addr, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// Close ends the session without a Terminate message's courtesy wait.
func (c *Conn) Close() error { return c.nc.Close() }

func (c *Conn) send(typ byte, body []byte) error {
	var b []byte
	if typ != 0 {
		b = append(b, typ)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)+4))
	b = append(b, body...)
	_, err := c.nc.Write(b)
	return err
}

func (c *Conn) recv() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n < 4 || n > 64<<20 {
		return 0, nil, fmt.Errorf("message %q of length %d", h[0], n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return 0, nil, err
	}
	return h[0], body, nil
}

func cstr(b *[]byte, s string) { *b = append(append(*b, s...), 0) }

func (c *Conn) startup(user, password, db string) error {
	var body []byte
	body = binary.BigEndian.AppendUint32(body, 196608)
	for _, kv := range [][2]string{{"user", user}, {"database", db}, {"application_name", "pgha-e2e-faults"}} {
		cstr(&body, kv[0])
		cstr(&body, kv[1])
	}
	body = append(body, 0)
	if err := c.send(0, body); err != nil {
		return err
	}
	var sc *scram
	for {
		typ, msg, err := c.recv()
		if err != nil {
			return err
		}
		switch typ {
		case 'E':
			return (*PGError)(ptr(parseFields(msg)))
		case 'R':
			if len(msg) < 4 {
				return errors.New("short authentication message")
			}
			switch code := binary.BigEndian.Uint32(msg); code {
			case 0: // AuthenticationOk
			case 10: // SASL
				if !strings.Contains(string(msg[4:]), "SCRAM-SHA-256\x00") {
					return fmt.Errorf("server offers SASL %q, not SCRAM-SHA-256", msg[4:])
				}
				sc = newSCRAM(user, password)
				first := sc.clientFirst()
				var b []byte
				cstr(&b, "SCRAM-SHA-256")
				b = binary.BigEndian.AppendUint32(b, uint32(len(first)))
				b = append(b, first...)
				if err := c.send('p', b); err != nil {
					return err
				}
			case 11: // SASLContinue
				if sc == nil {
					return errors.New("SASL continue before SASL")
				}
				final, err := sc.clientFinal(string(msg[4:]))
				if err != nil {
					return err
				}
				if err := c.send('p', []byte(final)); err != nil {
					return err
				}
			case 12: // SASLFinal
				if sc == nil || !sc.verifyServer(string(msg[4:])) {
					return errors.New("SCRAM: the server's signature does not match")
				}
			default:
				return fmt.Errorf("authentication method %d is not supported here", code)
			}
		case 'Z':
			return nil
		case 'S', 'K', 'N':
		default:
			return fmt.Errorf("unexpected message %q during startup", typ)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func parseFields(msg []byte) Notice {
	var n Notice
	for len(msg) > 0 && msg[0] != 0 {
		f := msg[0]
		end := strings.IndexByte(string(msg[1:]), 0)
		if end < 0 {
			break
		}
		v := string(msg[1 : 1+end])
		msg = msg[2+end:]
		switch f {
		case 'V':
			n.Severity = v
		case 'S':
			if n.Severity == "" {
				n.Severity = v
			}
		case 'C':
			n.Code = v
		case 'M':
			n.Message = v
		}
	}
	return n
}

// Query runs one simple-protocol query and reads until ReadyForQuery. A
// deadline on ctx bounds the wait; when it passes, the connection is
// closed (never a cancel request: a cancelled COMMIT waiting for a
// synchronous standby would report success) and Result.Complete is false.
func (c *Conn) Query(ctx context.Context, sql string) (Result, error) {
	var res Result
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetDeadline(dl)
	} else {
		_ = c.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Now()) })
	defer stop()
	var b []byte
	cstr(&b, sql)
	if err := c.send('Q', b); err != nil {
		return res, err
	}
	for {
		typ, msg, err := c.recv()
		if err != nil {
			return res, err
		}
		switch typ {
		case 'D':
			if len(msg) < 2 {
				return res, errors.New("short DataRow")
			}
			n := int(binary.BigEndian.Uint16(msg))
			msg = msg[2:]
			row := make([]string, 0, n)
			for i := 0; i < n; i++ {
				if len(msg) < 4 {
					return res, errors.New("short DataRow")
				}
				l := int32(binary.BigEndian.Uint32(msg))
				msg = msg[4:]
				if l < 0 {
					row = append(row, "")
					continue
				}
				if int(l) > len(msg) {
					return res, errors.New("short DataRow")
				}
				row = append(row, string(msg[:l]))
				msg = msg[l:]
			}
			res.Rows = append(res.Rows, row)
		case 'C':
			res.Tag = strings.TrimRight(string(msg), "\x00")
		case 'N':
			res.Notices = append(res.Notices, parseFields(msg))
		case 'E':
			res.Err = (*PGError)(ptr(parseFields(msg)))
		case 'Z':
			res.Complete = true
			return res, nil
		case 'T', 'I', 'S', 'A':
		default:
			return res, fmt.Errorf("unexpected message %q", typ)
		}
	}
}

// scram is the client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without
// channel binding.
type scram struct {
	user, password  string
	nonce           string
	firstBare       string
	serverSignature []byte
}

func newSCRAM(user, password string) *scram {
	var raw [18]byte
	_, _ = rand.Read(raw[:])
	// PostgreSQL takes the user from the startup message; n= stays empty.
	return &scram{user: user, password: password, nonce: base64.StdEncoding.EncodeToString(raw[:])}
}

func (s *scram) clientFirst() string {
	s.firstBare = "n=,r=" + s.nonce
	return "n,," + s.firstBare
}

func (s *scram) clientFinal(serverFirst string) (string, error) {
	var nonce, salt string
	iter := 0
	for _, kv := range strings.Split(serverFirst, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "r":
			nonce = v
		case "s":
			salt = v
		case "i":
			if _, err := fmt.Sscanf(v, "%d", &iter); err != nil {
				return "", fmt.Errorf("SCRAM iteration count %q", v)
			}
		}
	}
	if !strings.HasPrefix(nonce, s.nonce) || iter < 1 {
		return "", errors.New("SCRAM: bad server-first message")
	}
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		return "", fmt.Errorf("SCRAM salt: %w", err)
	}
	return s.final(serverFirst, nonce, rawSalt, iter)
}

func (s *scram) final(serverFirst, nonce string, salt []byte, iter int) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, s.password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + nonce
	authMsg := s.firstBare + "," + serverFirst + "," + withoutProof
	sig := hmacSHA(storedKey[:], authMsg)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	s.serverSignature = hmacSHA(hmacSHA(salted, "Server Key"), authMsg)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof), nil
}

func (s *scram) verifyServer(serverFinal string) bool {
	v, ok := strings.CutPrefix(strings.TrimSpace(serverFinal), "v=")
	if !ok {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(v)
	return err == nil && hmac.Equal(got, s.serverSignature)
}

func hmacSHA(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
