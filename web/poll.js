// Short and long polling with fetch: read it next to patterns/polling/client.go.
//
// Every request carries since = the last seq delivered, so the server keeps no
// state about us: a failed request is simply asked again, after a backoff, and
// resumes where the last good one ended. Short polling sleeps an interval
// between requests; long polling asks the server to hold each request (wait)
// until a tick exists, and asks again as soon as an answer comes.

import { Backoff, Sleeper, Tracker, isTick } from './client.js';

const LIMIT = 500; // the server's default page size, named so we can tell a full page

// Rejected is a 400: the server refused the request itself.
class Rejected extends Error {}

// poll calls fn(tick) for each new tick, in seq order, once per seq, until
// close(). opts: stats (counters), since (resume after), onState(state, detail),
// and two functions read before every request, so a control applies at once:
// interval() in ms (short polling) and wait() in ms (> 0: long polling).
export function poll(fn, { stats, since = 0, onState, interval = () => 1000, wait = () => 0 }) {
  const tracker = new Tracker(since, stats);
  const backoff = new Backoff(100, 5000);
  const sleeper = new Sleeper();
  let hasSince = since > 0; // only a new client's first request goes without since
  let closed = false;
  let inflight = null; // the AbortController of the request in flight

  async function loop() {
    let failing = false;
    while (!closed) {
      const waitMs = wait();
      const query = new URLSearchParams();
      if (hasSince) query.set('since', tracker.last);
      if (waitMs > 0) query.set('wait', `${waitMs}ms`);
      let page;
      try {
        page = await fetchPage(`api/poll?${query}`, waitMs);
      } catch (err) {
        if (closed) return;
        if (err instanceof Rejected) {
          onState('error', err.message);
          return;
        }
        failing = true;
        onState('reconnecting', err.message);
        await sleeper.sleep(backoff.next());
        continue;
      }
      if (closed) return; // a page that arrives after close() is not delivered
      if (failing) stats.reconnects++;
      failing = false;
      backoff.reset();
      hasSince = true;
      onState('live');
      deliver(page);
      // Long polling asks again at once: the server does the waiting. A full
      // page means more ticks are waiting: catch up now, not next interval.
      if (waitMs > 0 || page.ticks.length >= LIMIT) continue;
      await sleeper.sleep(interval());
    }
  }

  // fetchPage makes one request. A request that takes longer than the server
  // may hold it, plus 10 s, is given up: the connection is probably dead.
  async function fetchPage(url, waitMs) {
    const ctl = new AbortController();
    inflight = ctl;
    const timer = setTimeout(() => ctl.abort(new Error('request timed out')), waitMs + 10000);
    stats.requests++;
    try {
      const resp = await fetch(url, { signal: ctl.signal, cache: 'no-store' });
      const body = await resp.json();
      if (resp.status === 400) throw new Rejected(body.error); // asking again the same way cannot help
      if (!resp.ok) throw new Error(`${resp.status}: ${body.error}`);
      return body;
    } finally {
      clearTimeout(timer);
      inflight = null;
    }
  }

  function deliver(page) {
    if (page.reset) {
      // The ticks right after our since are gone, or the feed restarted: count
      // what was lost and go on from just before the page's first tick.
      tracker.reset(page.ticks.length > 0 ? page.ticks[0].seq - 1 : page.next);
    }
    for (const t of page.ticks) {
      if (isTick(t) && tracker.accept(t.seq)) fn(t);
    }
  }

  onState('connecting');
  loop().catch((err) => onState('error', err.message));
  return {
    get last() { return tracker.last; },
    // drop cuts the request in flight, as a network failure would. Between two
    // short polls nothing is in flight: there is no connection to lose.
    drop() {
      if (inflight === null) return false;
      inflight.abort(new Error('dropped by the dashboard'));
      return true;
    },
    close() {
      closed = true;
      sleeper.cancel();
      if (inflight !== null) inflight.abort(new Error('closed'));
    },
  };
}
