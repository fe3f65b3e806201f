package sse

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// The reader against the WHATWG rules, one rule per case.
func TestEventReader(t *testing.T) {
	type ev struct{ Type, Data, ID string }
	cases := []struct {
		name      string
		in        string
		want      []ev
		wantRetry time.Duration
	}{
		{"LF endings", "id: 1\nevent: tick\ndata: {}\n\n", []ev{{"tick", "{}", "1"}}, 0},
		{"CRLF endings", "id: 1\r\nevent: tick\r\ndata: {}\r\n\r\n", []ev{{"tick", "{}", "1"}}, 0},
		{"CR endings", "id: 1\revent: tick\rdata: {}\r\r", []ev{{"tick", "{}", "1"}}, 0},
		{"no type means message", "data: x\n\n", []ev{{"message", "x", ""}}, 0},
		{"multi-line data joined with LF", "data: a\ndata: b\ndata\n\n", []ev{{"message", "a\nb\n", ""}}, 0},
		{"one leading space stripped, no more", "data:x\n\ndata:  y\n\n", []ev{{"message", "x", ""}, {"message", " y", ""}}, 0},
		{"comments ignored", ": heartbeat\n\n:\ndata: x\n: mid-event\n\n", []ev{{"message", "x", ""}}, 0},
		{"no data, no event", "event: tick\nid: 7\n\ndata: x\n\n", []ev{{"message", "x", "7"}}, 0},
		{"id kept across events", "id: 3\ndata: a\n\ndata: b\n\n", []ev{{"message", "a", "3"}, {"message", "b", "3"}}, 0},
		{"empty id clears it", "id: 3\ndata: a\n\nid\ndata: b\n\n", []ev{{"message", "a", "3"}, {"message", "b", ""}}, 0},
		{"id with NUL ignored", "id: 3\ndata: a\n\nid: 4\x005\ndata: b\n\n", []ev{{"message", "a", "3"}, {"message", "b", "3"}}, 0},
		{"retry in ms", "retry: 2500\ndata: x\n\n", []ev{{"message", "x", ""}}, 2500 * time.Millisecond},
		{"bad retry ignored", "retry: 25x\nretry: -1\ndata: x\n\n", []ev{{"message", "x", ""}}, 0},
		{"unknown field ignored", "foo: bar\ndata: x\n\n", []ev{{"message", "x", ""}}, 0},
		{"byte-order mark skipped", "\uFEFFdata: x\n\n", []ev{{"message", "x", ""}}, 0},
		{"unfinished event dropped at EOF", "data: x\n\ndata: y\n", []ev{{"message", "x", ""}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// One byte per Read: line endings split across reads must not matter.
			rd := newEventReader(&oneByteReader{r: strings.NewReader(tc.in)})
			var got []ev
			for {
				e, err := rd.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				got = append(got, ev{e.Type, string(e.Data), e.ID})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if rd.retry != tc.wantRetry {
				t.Errorf("got retry %v, want %v", rd.retry, tc.wantRetry)
			}
		})
	}
}

func TestEventReaderRejectsHugeEvents(t *testing.T) {
	in := "data: " + strings.Repeat("x", maxEventSize+1) + "\n\n"
	if _, err := newEventReader(strings.NewReader(in)).next(); !errors.Is(err, errEventTooLarge) {
		t.Fatalf("got %v, want %v", err, errEventTooLarge)
	}
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
