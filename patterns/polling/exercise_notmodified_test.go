//go:build exercise

package polling

import (
	"io"
	"net/http"
	"testing"

	"commlab/shared"
)

// conditionalGet makes one GET /api/poll?query on a real connection, with
// If-None-Match when ifNoneMatch is not empty, and returns the answer and the
// bytes the client read for it, status line and headers included.
func conditionalGet(t *testing.T, tl *testLab, query, ifNoneMatch string) (res result, wire uint64) {
	t.Helper()
	stats := new(shared.ClientStats)
	client := shared.NewHTTPClient(stats) // counts every byte it reads
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, tl.srv.URL+"/api/poll?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: body}, stats.Bytes.Load()
}

// TestExerciseNotModified: every answer carries ETag: "<next>", and a poll that
// already has everything (If-None-Match: "<since>", nothing newer) gets a 304
// with no body, short or long. A poll with news still gets its ticks.
func TestExerciseNotModified(t *testing.T) {
	tl := startLab(t, nil)
	all := tl.Publish(t, 5)

	t.Run("every answer is tagged with its next", func(t *testing.T) {
		res, _ := conditionalGet(t, tl, "since=3", "")
		wantPage(t, res, pageJSON(seqs(all, 4, 5), 5, false))
		if got := res.header.Get("ETag"); got != `"5"` {
			t.Errorf(`got ETag %q on an answer with next 5; want "5" on every answer, so a client learns what to send in If-None-Match`, got)
		}
	})

	t.Run("news beats If-None-Match", func(t *testing.T) {
		res, _ := conditionalGet(t, tl, "since=3", `"3"`)
		wantPage(t, res, pageJSON(seqs(all, 4, 5), 5, false))
	})

	for _, tags := range []string{`W/"5"`, `"4", "5"`} {
		t.Run("nothing new, If-None-Match: "+tags, func(t *testing.T) {
			res, _ := conditionalGet(t, tl, "since=5", tags)
			if res.status != http.StatusNotModified {
				t.Errorf("got %d for ?since=5 with If-None-Match: %s; want 304: the list names \"5\" (tags are comma-separated, and compared weakly: W/ aside)", res.status, tags)
			}
		})
	}

	t.Run("news beats If-None-Match: *", func(t *testing.T) {
		// "*" matches any version of a resource that exists, and a poll
		// always has an answer: taken literally, no poll would get news.
		res, _ := conditionalGet(t, tl, "since=3", `*`)
		wantPage(t, res, pageJSON(seqs(all, 4, 5), 5, false))
	})

	for _, query := range []string{"since=5", "since=5&wait=50ms"} {
		t.Run("nothing new: "+query, func(t *testing.T) {
			res, _ := conditionalGet(t, tl, query, `"5"`)
			if res.status != http.StatusNotModified {
				t.Fatalf(`got %d with a %d-byte body for ?%s with If-None-Match: "5"; want 304 Not Modified and no body: `+
					`the client already has everything up to 5 (notModified, exercise_notmodified.go)`, res.status, len(res.body), query)
			}
			if len(res.body) != 0 {
				t.Errorf("got a %d-byte body with the 304, want none", len(res.body))
			}
			for name, want := range map[string]string{"ETag": `"5"`, "Cache-Control": "no-store", "Content-Type": ""} {
				if got := res.header.Get(name); got != want {
					t.Errorf("got %s %q on the 304, want %q", name, got, want)
				}
			}
		})
	}

	t.Run("a plain poll is answered as before", func(t *testing.T) {
		res, _ := conditionalGet(t, tl, "since=5", "")
		wantPage(t, res, pageJSON(nil, 5, false))
	})
}

// TestExerciseNotModifiedSavesBytes counts what the client reads for ten empty
// polls, plain and conditional: each 304 must save at least the empty body.
func TestExerciseNotModifiedSavesBytes(t *testing.T) {
	tl := startLab(t, nil)
	tl.Publish(t, 5)
	const polls = 10

	var plain, conditional uint64
	var emptyBody int
	for range polls {
		res, wire := conditionalGet(t, tl, "since=5", "")
		plain += wire
		emptyBody = len(res.body)
		_, wire = conditionalGet(t, tl, "since=5", `"5"`)
		conditional += wire
	}
	t.Logf("%d empty polls: plain %d B, conditional %d B (%d B an answer, %d B of it the body)",
		polls, plain, conditional, plain/polls, emptyBody)
	if saved := int64(plain) - int64(conditional); saved < int64(polls*emptyBody) {
		t.Errorf("%d conditional empty polls read %d B, %d B fewer than %d plain ones (%d B); "+
			"want at least the %d B of their empty bodies saved: answer them 304 with no body",
			polls, conditional, saved, polls, plain, polls*emptyBody)
	}
}
