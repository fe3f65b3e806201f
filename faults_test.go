package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"commlab/shared/labtest"
)

// TestSlowFault slows a real SSE connection at the socket and watches the
// server cut it off as too slow, while the endpoint refuses what it must.
func TestSlowFault(t *testing.T) {
	url, _ := startRun(t, "--rate", "200")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/sse?client=tab-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() {
		t.Fatalf("the stream sent nothing: %v", lines.Err())
	}

	status, body := post(t, url+"/api/fault/slow?pattern=sse&client=tab-1")
	if status != http.StatusOK || !strings.Contains(body, `"slowed":1`) || !strings.Contains(body, `"link_bytes_per_s":400`) {
		t.Fatalf("slow: %d %s, want 200 with slowed 1 and the link's 400 bytes/s", status, body)
	}
	// Read on at full speed: the server's writes now crawl, its queue for
	// this client fills, and it ends the stream: cleanly, or, when even the
	// end of the response cannot get through the slowed link in time, by
	// cutting the connection.
	for lines.Scan() {
	}
	if err := lines.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the stream ended with %v, want the server to end it", err)
	}
	// The stream's end reaches the client as the handler returns; the count
	// is made just before, so it may still be on its way to /api/stats.
	labtest.WaitFor(t, "one slow-client disconnect", func() bool { return slowDisconnects(t, url, "sse") == 1 })

	for _, tt := range []struct {
		query  string
		status int
		reason string
	}{
		{"pattern=poll&client=tab-1", http.StatusBadRequest, "pattern must be sse or ws"},
		{"pattern=sse", http.StatusBadRequest, "client must be"},
		{"pattern=sse&client=<script>", http.StatusBadRequest, "client must be"},
		{"pattern=ws&client=tab-1", http.StatusNotFound, "has no open ws connection"},
		{"pattern=sse&client=%zz", http.StatusBadRequest, "malformed query"},
	} {
		status, body := post(t, url+"/api/fault/slow?"+tt.query)
		if status != tt.status || !strings.Contains(body, tt.reason) {
			t.Errorf("%s: %d %s, want %d with %q", tt.query, status, body, tt.status, tt.reason)
		}
	}
}

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b.String()
}
