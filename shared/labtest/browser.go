package labtest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's headless Chromium through chromedp: the
// dashboard's (../../dashboard_test.go) and the SSE lesson's six connections
// per origin (../../patterns/sse/connlimit_test.go).

// NewBrowser starts a headless Chromium with a fresh profile, kept off the
// network: no proxy it could reach (loopback bypasses it), no background
// traffic. Without chromium the test is skipped, except in CI (CI set), where
// it fails: there the browser tests must run. The browser ends with the test.
func NewBrowser(t testing.TB, window [2]int, ctxOpts ...chromedp.ContextOption) context.Context {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("chromium is not installed: apt-get install chromium to run the browser tests")
		}
		t.Fatalf("chromium is required in CI: %v", err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.ProxyServer("127.0.0.1:9"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.WindowSize(window[0], window[1]),
	)
	ctx, cancel := chromedp.NewContext(allocCtx, ctxOpts...)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// Evaluate runs a JavaScript expression in the page and returns its value.
func Evaluate[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.60s: %v", js, err)
	}
	return v
}

// WaitJS waits, for at most timeout, until a JavaScript expression is true in
// the page, checking every 20 ms.
func WaitJS(t testing.TB, ctx context.Context, what string, timeout time.Duration, js string) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waited %v for %s: %v", timeout, what, err)
	}
}
