// Server-sent events with the browser's own EventSource: read it next to
// patterns/sse/client.go, which does by hand what EventSource does for us.
//
// One GET /api/sse response that never ends; each tick is an event with
// "id: <seq>", "event: tick" and "data: <tick JSON>". When the connection
// breaks, EventSource reconnects by itself and sends the last id it saw as
// Last-Event-ID, so the server continues right after it: no gap, no duplicate.
// What EventSource does not do, we add: it gives up for good on an HTTP error
// (readyState CLOSED), and it cannot be told to resume after a seq of our
// choosing, so a fresh one carries ?since=<last seq> instead of the header.

import { Backoff, Tracker, isTick, parseJSON } from './client.js';

// subscribe calls fn(tick) for each new tick, in seq order, once per seq, until
// close(). opts: stats (counters), since (resume after), client (this tab's
// ID, for the fault controls), onState(state, detail).
export function subscribe(fn, { stats, since = 0, client = '', onState }) {
  const tracker = new Tracker(since, stats);
  const backoff = new Backoff(100, 5000);
  let placed = since > 0; // we have a place to resume from, even when it is 0
  let connected = false; // a connection worked before: the next one is a reconnect
  let source = null;
  let retry = null;

  function connect() {
    retry = null;
    const query = new URLSearchParams();
    if (client !== '') query.set('client', client);
    if (placed) query.set('since', tracker.last);
    const url = query.size > 0 ? `api/sse?${query}` : 'api/sse';
    stats.requests++;
    source = new EventSource(url);
    source.onopen = () => {
      if (connected) stats.reconnects++;
      connected = true;
      onState('live');
    };
    source.addEventListener('tick', (event) => {
      const tick = parseJSON(event.data);
      if (!isTick(tick)) return;
      backoff.reset(); // this connection delivered: start again from a short wait
      placed = true;
      if (tracker.accept(tick.seq)) fn(tick);
    });
    // The server cannot continue our sequence (the ticks after our place are
    // gone, or the feed restarted): the stream goes on after next.
    source.addEventListener('reset', (event) => {
      const control = parseJSON(event.data);
      if (control === null || !Number.isSafeInteger(control.next)) return;
      tracker.reset(control.next);
      placed = true;
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CONNECTING) {
        // EventSource is reconnecting by itself, with Last-Event-ID.
        stats.requests++;
        onState('reconnecting');
        return;
      }
      // CLOSED: the answer was not an event stream (a 503, a proxy's error
      // page). EventSource will not try again; we do, after a backoff.
      source.close();
      onState('reconnecting', 'the answer was not an event stream');
      retry = setTimeout(connect, backoff.next());
    };
  }

  onState('connecting');
  connect();
  return {
    get last() { return tracker.last; },
    // drop closes the stream and opens a new one after a backoff, as if the
    // network had failed; the new one resumes after the last tick we took.
    drop() {
      if (retry !== null) return false;
      source.close();
      onState('reconnecting', 'dropped by the dashboard');
      retry = setTimeout(connect, backoff.next());
      return true;
    },
    close() {
      clearTimeout(retry);
      source.close();
    },
  };
}
