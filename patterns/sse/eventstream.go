package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"time"
)

// This file is a text/event-stream reader that follows the WHATWG HTML spec,
// section "Server-sent events", "Interpreting an event stream". It is what a
// browser's EventSource does with the bytes, minus the reconnecting, which
// Subscribe does.

// maxEventSize bounds one line and one event's data, so a broken or hostile
// server cannot make the reader grow without limit.
const maxEventSize = 1 << 20

var errEventTooLarge = errors.New("sse: event larger than 1 MiB")

// event is one dispatched event.
type event struct {
	Type string // the event field; "message" when the server sent none
	Data []byte // the data fields joined with "\n"; valid until the next call to next
	ID   string // the last event id seen so far, what a reconnect sends back
}

type eventReader struct {
	br      *bufio.Reader
	line    []byte
	skipLF  bool // the last line ended in '\r': a '\n' right after it is part of that ending
	started bool // past the first line, the only place a byte-order mark may be

	data   []byte // the data buffer: each data field's value plus '\n'
	typ    string // the event type buffer
	lastID string // the last event ID buffer: kept across events
	retry  time.Duration
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{br: bufio.NewReaderSize(r, 4096)}
}

// next returns the next event. Comments (lines starting with ':', such as the
// server's heartbeats) and blocks without data dispatch nothing. At the end of
// the stream it returns io.EOF, dropping an unfinished event, as the spec says.
func (r *eventReader) next() (event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return event{}, err
		}
		if len(line) == 0 {
			if ev, ok := r.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := r.field(line); err != nil {
			return event{}, err
		}
	}
}

// readLine returns the next line without its ending: "\r\n", "\n" or "\r".
func (r *eventReader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		// Peek(1) waits for at least one byte; then take all that arrived.
		if _, err := r.br.Peek(1); err != nil {
			return nil, err
		}
		buf, _ := r.br.Peek(r.br.Buffered())
		if r.skipLF {
			// Decided only now, not right after the '\r': waiting there for the
			// next byte would delay an event until the server sends more.
			r.skipLF = false
			if buf[0] == '\n' {
				_, _ = r.br.Discard(1) // buffered: cannot fail
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			r.line = append(r.line, buf...)
			_, _ = r.br.Discard(len(buf))
			if len(r.line) > maxEventSize {
				return nil, errEventTooLarge
			}
			continue
		}
		r.line = append(r.line, buf[:i]...)
		r.skipLF = buf[i] == '\r'
		_, _ = r.br.Discard(i + 1)
		if !r.started {
			r.started = true
			r.line = bytes.TrimPrefix(r.line, []byte("\uFEFF"))
		}
		return r.line, nil
	}
}

// field processes one non-empty line: "name: value", "name:value", a bare
// "name", or a comment.
func (r *eventReader) field(line []byte) error {
	name, value, _ := bytes.Cut(line, []byte(":"))
	if len(name) == 0 {
		return nil // a comment
	}
	value = bytes.TrimPrefix(value, []byte(" ")) // one space only
	switch string(name) {
	case "event":
		r.typ = string(value)
	case "data":
		if len(r.data)+len(value) > maxEventSize {
			return errEventTooLarge
		}
		r.data = append(append(r.data, value...), '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 { // an id holding NUL is ignored
			r.lastID = string(value)
		}
	case "retry":
		// ASCII digits only: ParseUint takes no sign, space or underscore.
		if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
			r.retry = time.Duration(ms) * time.Millisecond
		}
	default:
		// Unknown fields are ignored, so the format can grow.
	}
	return nil
}

// dispatch ends the block at a blank line: an event if any data came.
func (r *eventReader) dispatch() (event, bool) {
	typ := r.typ
	r.typ = ""
	if len(r.data) == 0 {
		return event{}, false
	}
	data := r.data[:len(r.data)-1] // drop the last '\n'
	r.data = r.data[:0]
	if typ == "" {
		typ = "message"
	}
	return event{Type: typ, Data: data, ID: r.lastID}, true
}
