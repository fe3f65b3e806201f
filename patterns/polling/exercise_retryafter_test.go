//go:build exercise

package polling

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"commlab/shared"
	"commlab/shared/labtest"
)

// busyFront stands in front of the lab like a rate-limiting proxy: it answers
// the first request with status and a Retry-After header, passes every later one
// to the lab, and notes when each request arrived.
type busyFront struct {
	status     int
	retryAfter func(now time.Time) string // the header's value, from the time of refusal

	mu       sync.Mutex
	arrivals []time.Time
	header   string // the Retry-After it sent
}

func (f *busyFront) wrap(lab http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		f.mu.Lock()
		f.arrivals = append(f.arrivals, now)
		first := len(f.arrivals) == 1
		if first {
			f.header = f.retryAfter(now)
		}
		header := f.header
		f.mu.Unlock()
		if !first {
			lab.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", header)
		shared.WriteError(w, f.status, "slow down")
	})
}

// secondRequest waits for the request after the refusal, and returns when the
// refusal and it arrived.
func (f *busyFront) secondRequest(t *testing.T) (refused, next time.Time) {
	t.Helper()
	labtest.WaitFor(t, "the request after the refusal", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.arrivals) >= 2
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.arrivals[0], f.arrivals[1]
}

// TestExerciseRetryAfterSeconds: a 429 with Retry-After: 1 must keep Poll away
// for at least a second, and then it goes on with no tick lost or repeated.
func TestExerciseRetryAfterSeconds(t *testing.T) {
	for _, style := range styles {
		t.Run(style.name, func(t *testing.T) {
			front := &busyFront{status: http.StatusTooManyRequests, retryAfter: func(time.Time) string { return "1" }}
			tl := startLabWith(t, nil, front.wrap)
			all := tl.Publish(t, 5)
			opts := style.opts
			opts.Since = 2
			p := startPoll(t, tl.srv.URL, opts)
			p.expect(t, all, 3, 5)

			refused, next := front.secondRequest(t)
			if waited := next.Sub(refused); waited < time.Second {
				t.Errorf("Poll asked again %v after a 429 with Retry-After: 1; want at least 1s. "+
					"retryAfter (exercise_retryafter.go) must read the seconds, and Poll wait that long", waited.Round(time.Millisecond))
			}
			all = append(all, tl.Publish(t, 10)...)
			p.expect(t, all, 6, 15)
			p.wantCounts(t, 0, 0, 0)
		})
	}
}

// TestExerciseRetryAfterDate: the other form of the header, an HTTP date, on a
// 503. The date has whole seconds, so two seconds ahead is one to two from now.
func TestExerciseRetryAfterDate(t *testing.T) {
	front := &busyFront{status: http.StatusServiceUnavailable, retryAfter: func(now time.Time) string {
		return now.Add(2 * time.Second).UTC().Format(http.TimeFormat)
	}}
	tl := startLabWith(t, nil, front.wrap)
	all := tl.Publish(t, 5)
	p := startPoll(t, tl.srv.URL, Options{Interval: 5 * time.Millisecond, Since: 2})
	p.expect(t, all, 3, 5)

	refused, next := front.secondRequest(t)
	due, err := http.ParseTime(front.header)
	if err != nil {
		t.Fatal(err)
	}
	// The client counts from its own wall clock and sleeps on the monotonic
	// one; 10 ms covers any drift between the two.
	want := due.Sub(refused) - 10*time.Millisecond
	if waited := next.Sub(refused); waited < want {
		t.Errorf("Poll asked again %v after a 503 with Retry-After: %s; want at least %v. "+
			"retryAfter (exercise_retryafter.go) must read an HTTP date too (http.ParseTime)",
			waited.Round(time.Millisecond), front.header, want.Round(time.Millisecond))
	}
	all = append(all, tl.Publish(t, 10)...)
	p.expect(t, all, 6, 15)
	p.wantCounts(t, 0, 0, 0)
}
