package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// target is the server under test, as the contract describes it.
type target struct {
	url string
	hc  *http.Client // bench's own requests: /api/info, /api/rate, /metrics
}

func newTarget(baseURL string, srcIPs int) (*target, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bench: server URL %q: want http://host:port", baseURL)
	}
	if srcIPs > 1 && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("bench: --src-ips binds clients to 127.0.0.x, which reaches only a loopback server, not %s", u.Host)
	}
	return &target{
		url: strings.TrimSuffix(baseURL, "/"),
		// An overloaded server may take many seconds to answer even /api/info;
		// that is worth waiting for, not a reason to give up on the round.
		hc: &http.Client{Timeout: time.Minute},
	}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (t *target) close() { t.hc.CloseIdleConnections() }

// info is what bench reads from /api/info.
type info struct {
	Epoch    string   `json:"epoch"`
	Rate     *float64 `json:"rate"`
	LastSeq  uint64   `json:"last_seq"`
	Patterns map[string]struct {
		URL string `json:"url"`
	} `json:"patterns"`
}

// natsURL is the NATS server a pattern's entry names, if any: a server that
// is not a commlab lab may have none, and a lab started with
// --nats-patterns=false names none for the queue.
func (i info) natsURL(pattern string) string {
	u := i.Patterns[pattern].URL
	if strings.HasPrefix(u, "nats://") || strings.HasPrefix(u, "tls://") {
		return u
	}
	return ""
}

func (t *target) info(ctx context.Context) (info, error) {
	var i info
	body, code, err := t.do(ctx, http.MethodGet, "/api/info")
	if err != nil {
		return i, err
	}
	if code != http.StatusOK {
		return i, fmt.Errorf("bench: GET /api/info: status %d", code)
	}
	if err := json.Unmarshal(body, &i); err != nil {
		return i, fmt.Errorf("bench: GET /api/info: %w", err)
	}
	return i, nil
}

// setRate asks the server to change its feed rate. ok is false when the server
// has no POST /api/rate: not every server a learner writes needs one.
func (t *target) setRate(ctx context.Context, rate int) (ok bool, err error) {
	_, code, err := t.do(ctx, http.MethodPost, "/api/rate?rate="+strconv.Itoa(rate))
	switch {
	case err != nil:
		return false, err
	case code == http.StatusOK:
		return true, nil
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented:
		// 501 is what Python's http.server answers a method it has no
		// do_POST for.
		return false, nil
	}
	return false, fmt.Errorf("bench: POST /api/rate?rate=%d: status %d", rate, code)
}

func (t *target) do(ctx context.Context, method, path string) (body []byte, code int, err error) {
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %w", err)
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("bench: %s %s: %w", method, path, err)
	}
	return body, resp.StatusCode, nil
}
