package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"commlab/shared/labtest"
)

// The dashboard test drives the real page in Debian's chromium, headless,
// against a real lab: every panel must receive ticks and show sane figures,
// a dropped connection must come back with no gap, and the page must not
// write a single error to the console.

// httpPatterns are the panels that run a client in the browser.
var httpPatterns = []string{"poll", "longpoll", "sse", "ws"}

// panelView is what a panel shows: its state, and each figure's data-value
// (nil: the panel shows "–", nothing to tell yet).
type panelView struct {
	State string              `json:"state"`
	Figs  map[string]*float64 `json:"figs"`
}

func (p panelView) fig(name string) (float64, bool) {
	v := p.Figs[name]
	if v == nil {
		return 0, false
	}
	return *v, true
}

// readPanelsJS reads every panel's state and figures from the DOM, as a user
// would see them.
const readPanelsJS = `Object.fromEntries([...document.querySelectorAll('#panels .panel')].map((p) => [p.dataset.pattern, {
  state: p.dataset.state || '',
  figs: Object.fromEntries([...p.querySelectorAll('[data-fig]')].map((d) =>
    [d.dataset.fig, d.dataset.value === undefined || d.dataset.value === '' ? null : Number(d.dataset.value)])),
}]))`

func TestDashboard(t *testing.T) {
	url, _ := startRun(t, "--rate", "50")
	ctx, console := newBrowser(t)

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url)); err != nil {
		t.Fatalf("load the dashboard: %v", err)
	}

	// Every panel receives ticks and has figures: latency needs a full second,
	// server bytes two /api/stats snapshots.
	panels := waitPanels(t, ctx, "every panel has ticks and figures", 20*time.Second, func(ps map[string]panelView) bool {
		for _, name := range httpPatterns {
			p := ps[name]
			for _, f := range []string{"seq", "msgs", "p50", "p99", "bytes", "reqs"} {
				if _, ok := p.fig(f); !ok {
					return false
				}
			}
			if p.State != "live" {
				return false
			}
		}
		seq, ok := ps["pubsub"].fig("seq")
		_, hasRate := ps["pubsub"].fig("msgs")
		return ok && seq > 0 && hasRate
	})
	t.Run("figures are sane", func(t *testing.T) {
		for _, name := range httpPatterns {
			p := panels[name]
			seq, _ := p.fig("seq")
			msgs, _ := p.fig("msgs")
			p50, _ := p.fig("p50")
			p99, _ := p.fig("p99")
			bytes, _ := p.fig("bytes")
			gaps, _ := p.fig("gaps")
			dups, _ := p.fig("dups")
			if seq < 1 || msgs <= 0 {
				t.Errorf("%s: seq %v, msgs/s %v, want both > 0", name, seq, msgs)
			}
			// The clock offset is measured to within half a loopback round
			// trip, so a sub-millisecond latency may read a hair below 0.
			if p50 < -5 || p99 < p50 || p99 > 5000 {
				t.Errorf("%s: latency p50 %v ms, p99 %v ms, want -5 <= p50 <= p99 <= 5000", name, p50, p99)
			}
			// A tick is about 75 bytes of JSON; headers and framing add to it.
			if bytes < 60 || bytes > 5000 {
				t.Errorf("%s: server bytes/tick %v, want 60 to 5000", name, bytes)
			}
			if gaps != 0 || dups != 0 {
				t.Errorf("%s: gaps %v, dups %v, want 0 and 0", name, gaps, dups)
			}
		}
		if rows := labtest.Evaluate[int](t, ctx, `document.querySelectorAll('#summary-table tbody tr').length`); rows < 5 {
			t.Errorf("summary table has %d rows, want one per measured pattern (5)", rows)
		}
		// The queue panel shows /api/stats' queue object, or says it is coming.
		if state := panels["queue"].State; state != "live" && state != "coming" {
			t.Errorf("queue panel state %q, want live or coming", state)
		}
	})

	t.Run("rate control", func(t *testing.T) {
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS("#rate"), "100"),
			chromedp.Click(chromedp.CSS(`#rate-form button[type="submit"]`)),
		); err != nil {
			t.Fatal(err)
		}
		labtest.WaitJS(t, ctx, "the header shows rate 100", 10*time.Second, `document.getElementById('feed-rate').textContent === '100 ticks/s'`)
	})

	// The picture for the README: every panel with ten seconds of charts
	// behind it at 100 ticks/s, before any fault is injected.
	t.Run("screenshot", func(t *testing.T) {
		seq, _ := readPanels(t, ctx)["sse"].fig("seq")
		waitPanels(t, ctx, "ten seconds more of ticks", 20*time.Second, func(ps map[string]panelView) bool {
			s, _ := ps["sse"].fig("seq")
			return s > seq+1000
		})
		wide, _ := screenshotPaths(t)
		saveScreenshot(t, ctx, wide, 1280, 900)
	})

	// Drop each streaming connection (and the held long poll): the client
	// reconnects, resumes after its last seq, and no tick goes missing.
	for _, name := range []string{"sse", "ws", "longpoll"} {
		t.Run("drop "+name, func(t *testing.T) {
			before := readPanels(t, ctx)[name]
			reconnects, _ := before.fig("reconnects")
			seq, _ := before.fig("seq")
			click(t, ctx, fmt.Sprintf(`.panel[data-pattern=%q] [data-action="drop"]`, name))
			after := waitPanels(t, ctx, name+" reconnects and moves on", 15*time.Second, func(ps map[string]panelView) bool {
				p := ps[name]
				r, _ := p.fig("reconnects")
				s, _ := p.fig("seq")
				return p.State == "live" && r > reconnects && s > seq+20
			})[name]
			if gaps, _ := after.fig("gaps"); gaps != 0 {
				t.Errorf("%s: %v gaps after the drop, want 0", name, gaps)
			}
			if dups, _ := after.fig("dups"); dups != 0 {
				t.Errorf("%s: %v dups after the drop, want 0", name, dups)
			}
		})
	}

	// Make the SSE and WebSocket connections slow at the socket: the server
	// cuts each one off when its queue is full, counts it, and the client
	// reconnects and resumes with no gap.
	for _, name := range []string{"sse", "ws"} {
		t.Run("slow "+name, func(t *testing.T) {
			before := readPanels(t, ctx)[name]
			reconnects, _ := before.fig("reconnects")
			cutBefore := slowDisconnects(t, url, name)
			click(t, ctx, fmt.Sprintf(`.panel[data-pattern=%q] [data-action="slow"]`, name))
			after := waitPanels(t, ctx, name+" is cut off, reconnects and moves on", 30*time.Second, func(ps map[string]panelView) bool {
				p := ps[name]
				r, _ := p.fig("reconnects")
				return p.State == "live" && r > reconnects
			})[name]
			// The client may see its connection end a moment before the server
			// has counted why: a write timeout closes it inside the library.
			labtest.WaitFor(t, "the server to count a slow-client disconnect", func() bool {
				return slowDisconnects(t, url, name) > cutBefore
			})
			if gaps, _ := after.fig("gaps"); gaps != 0 {
				t.Errorf("%s: %v gaps after the slow connection was cut off, want 0", name, gaps)
			}
		})
	}

	// Pause a WebSocket for a moment and resume it: the new connection asks
	// for the ticks it missed, so there is still no gap.
	t.Run("pause and resume ws", func(t *testing.T) {
		sel := `.panel[data-pattern="ws"] [data-action="pause"]`
		click(t, ctx, sel)
		paused := waitPanels(t, ctx, "ws is paused", 5*time.Second, func(ps map[string]panelView) bool { return ps["ws"].State == "paused" })
		seq, _ := paused["ws"].fig("seq")
		// Resume once the feed has moved on: the ticks in between must come.
		waitPanels(t, ctx, "the feed moves on", 5*time.Second, func(ps map[string]panelView) bool {
			s, _ := ps["sse"].fig("seq")
			return s > seq+50
		})
		click(t, ctx, sel)
		after := waitPanels(t, ctx, "ws is live again", 10*time.Second, func(ps map[string]panelView) bool {
			s, _ := ps["ws"].fig("seq")
			return ps["ws"].State == "live" && s > seq+50
		})["ws"]
		if gaps, _ := after.fig("gaps"); gaps != 0 {
			t.Errorf("ws: %v gaps after pause and resume, want 0", gaps)
		}
	})

	// The wire view shows the bytes of one real exchange per pattern.
	for _, tt := range []struct{ pattern, want string }{
		{"poll", "HTTP/1.1 200 OK"},
		{"longpoll", "wait="},
		{"sse", "event: tick"},
		{"ws", "text frame"},
		{"pubsub", "SUB ticks.>"},
	} {
		t.Run("wire "+tt.pattern, func(t *testing.T) {
			click(t, ctx, fmt.Sprintf(`.panel[data-pattern=%q] [data-action="wire"]`, tt.pattern))
			labtest.WaitJS(t, ctx, "the wire dialog shows the exchange", 10*time.Second, fmt.Sprintf(
				`document.getElementById('wire').open && document.querySelectorAll('#wire .wire-part').length >= 2 && document.querySelector('#wire .wire-body').textContent.includes(%q)`, tt.want))
			if tt.pattern == "ws" {
				saveScreenshot(t, ctx, siblingPath(t, "wire"), 1280, 900)
			}
			click(t, ctx, `#wire button.close`)
			labtest.WaitJS(t, ctx, "the dialog closes", 5*time.Second, `!document.getElementById('wire').open`)
		})
	}

	// Kill a worker of each kind from the queue panel: the core one's held
	// ticks are gone, the JetStream one's come back to the others, and the
	// redelivery counter moves once AckWait has passed.
	t.Run("kill queue workers", func(t *testing.T) {
		const redelivered = `Number([...document.querySelectorAll('.panel[data-pattern="queue"] .kv')].find((k) => k.querySelector('h3')?.textContent === 'jetstream')` +
			`?.querySelector('dl').textContent.match(/redelivered([\d,]+)/)?.[1].replaceAll(',', '') ?? NaN)`
		before := labtest.Evaluate[float64](t, ctx, redelivered)
		if before != before { // NaN: the panel does not show the figure
			t.Fatal("the queue panel shows no JetStream redelivered count")
		}
		// A worker killed between two jobs holds nothing to redeliver: the
		// panel's hint says what it held. Revive it and try again until a
		// kill catches one at work.
		for attempt := 1; ; attempt++ {
			held := killWorker(t, ctx, "js-1")
			if held > 0 {
				break
			}
			if attempt == 20 {
				t.Fatal("js-1 held no unacked tick at any of 20 kills")
			}
			reviveWorker(t, ctx, "js-1")
		}
		killWorker(t, ctx, "core-1")
		labtest.WaitJS(t, ctx, "JetStream redelivers the dead worker's ticks", 20*time.Second, fmt.Sprintf(`%s > %v`, redelivered, before))
		saveScreenshot(t, ctx, siblingPath(t, "queue"), 1280, 900)
		reviveWorker(t, ctx, "core-1")
		reviveWorker(t, ctx, "js-1")
	})

	t.Run("narrow screenshot", func(t *testing.T) {
		_, narrow := screenshotPaths(t)
		saveScreenshot(t, ctx, narrow, 420, 900)
		if overflow := labtest.Evaluate[int](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); overflow > 0 {
			t.Errorf("at 420 px wide the page scrolls sideways by %d px", overflow)
		}
	})

	if errs := console.errors(); len(errs) > 0 {
		t.Errorf("the page logged %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// consoleLog collects every error the page reports: console.error and
// console.assert calls, uncaught exceptions and unhandled rejections, and the
// browser's own error entries (a failed request, a refused WebSocket).
type consoleLog struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleLog) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = fmt.Sprintf("exception: %s %s:%d", d.Text, d.URL, d.LineNumber+1)
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, msg)
}

func (c *consoleLog) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// newBrowser starts the browser (labtest.NewBrowser) with a console log: the
// browser ends before the test's lab stops, so the page's reconnect attempts
// never reach the log.
func newBrowser(t *testing.T) (context.Context, *consoleLog) {
	console := new(consoleLog)
	return labtest.NewBrowser(t, [2]int{1280, 900}, chromedp.WithListener(console.listen)), console
}

func readPanels(t *testing.T, ctx context.Context) map[string]panelView {
	t.Helper()
	raw := labtest.Evaluate[[]byte](t, ctx, readPanelsJS)
	var ps map[string]panelView
	if err := json.Unmarshal(raw, &ps); err != nil {
		t.Fatalf("decode panels %s: %v", raw, err)
	}
	return ps
}

// waitPanels reads the panels until ok says they are what the test waits for,
// and returns them. The page has no event to wait on from outside, so this
// polls, every 100 ms, until the deadline.
func waitPanels(t *testing.T, ctx context.Context, what string, timeout time.Duration, ok func(map[string]panelView) bool) map[string]panelView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ps := readPanels(t, ctx)
		if ok(ps) {
			return ps
		}
		if time.Now().After(deadline) {
			dump, _ := json.MarshalIndent(ps, "", "  ")
			t.Fatalf("waited %v for: %s; the panels show:\n%s", timeout, what, dump)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// click clicks the element selector names, found and clicked in one step in
// the page: the panels re-render from /api/stats every second, and a node
// found by one DevTools call may be gone by the next (chromedp.Click's
// "Could not find node with given id").
func click(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	labtest.WaitJS(t, ctx, selector+" to exist", 5*time.Second, fmt.Sprintf(`document.querySelector(%q) !== null`, selector))
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, selector)
	if !labtest.Evaluate[bool](t, ctx, js) {
		t.Fatalf("click %s: no such element", selector)
	}
}

// screenshotPaths are where the screenshots go: $DASHBOARD_SCREENSHOT (and
// the same name with -narrow for the narrow one), or the test's temp dir.
func screenshotPaths(t *testing.T) (wide, narrow string) {
	wide = os.Getenv("DASHBOARD_SCREENSHOT")
	if wide == "" {
		wide = filepath.Join(t.TempDir(), "dashboard.png")
	}
	ext := filepath.Ext(wide)
	return wide, strings.TrimSuffix(wide, ext) + "-narrow" + ext
}

// killWorker clicks a queue worker's kill button, waits for the panel to show
// it dead, and returns how many ticks the panel's hint says it held.
func killWorker(t *testing.T, ctx context.Context, worker string) int {
	t.Helper()
	button := fmt.Sprintf(`.panel[data-pattern="queue"] button[data-worker=%q]`, worker)
	click(t, ctx, button)
	labtest.WaitJS(t, ctx, worker+" shows dead", 5*time.Second, fmt.Sprintf(`document.querySelector(%q)?.dataset.do === 'revive'`, button))
	hint := fmt.Sprintf(`document.querySelector('.panel[data-pattern="queue"] .hint').textContent.match(/killed %s: the (\d+) ticks/)`, worker)
	labtest.WaitJS(t, ctx, "the hint says what "+worker+" held", 5*time.Second, hint+` !== null`)
	return labtest.Evaluate[int](t, ctx, `Number(`+hint+`[1])`)
}

func reviveWorker(t *testing.T, ctx context.Context, worker string) {
	t.Helper()
	button := fmt.Sprintf(`.panel[data-pattern="queue"] button[data-worker=%q]`, worker)
	click(t, ctx, button)
	labtest.WaitJS(t, ctx, worker+" is alive again", 5*time.Second, fmt.Sprintf(`document.querySelector(%q)?.dataset.do === 'kill'`, button))
}

// slowDisconnects is the server's count of the pattern's clients cut off for
// being too slow, from /api/stats.
func slowDisconnects(t *testing.T, url, pattern string) float64 {
	t.Helper()
	_, _, body := get(t, url+"/api/stats")
	var stats struct {
		Patterns map[string]struct {
			SlowDisconnects float64 `json:"slow_disconnects"`
		} `json:"patterns"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatal(err)
	}
	return stats.Patterns[pattern].SlowDisconnects
}

// siblingPath is where a screenshot named name goes: beside the main one.
func siblingPath(t *testing.T, name string) string {
	wide, _ := screenshotPaths(t)
	ext := filepath.Ext(wide)
	return strings.TrimSuffix(wide, ext) + "-" + name + ext
}

// saveScreenshot sizes the viewport, waits until every chart has been redrawn
// at its new size, and saves the whole page as a PNG.
func saveScreenshot(t *testing.T, ctx context.Context, path string, width, height int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatal(err)
	}
	labtest.WaitJS(t, ctx, "the charts fit the new width", 5*time.Second,
		`[...document.querySelectorAll('#panels canvas')].every((c) => c.clientWidth === 0 || c.width === Math.round(c.clientWidth * devicePixelRatio))`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %dx%d: %s", width, height, path)
}
