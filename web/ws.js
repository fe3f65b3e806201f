// WebSocket with the browser's own WebSocket: read it next to
// patterns/websocket/client.go.
//
// One upgraded connection; one text frame per tick holding the tick JSON. A
// frame with an "op" field is a control message, never a tick. The browser
// answers the server's pings by itself. Unlike EventSource, a WebSocket does
// not reconnect: when it closes, we open a new one after a backoff, with
// ?since=<last seq>, and the server resumes right after it.

import { Backoff, Tracker, isTick, parseJSON } from './client.js';

// Close codes for "the server refused what this client sent" (unsupported
// data, invalid JSON, policy, too big): reconnecting would get the same answer.
const PERMANENT = new Set([1003, 1007, 1008, 1009]);

// subscribe calls fn(tick) for each new tick, in seq order, once per seq, until
// close(). opts: stats (counters), since (resume after), client (this tab's
// ID, for the fault controls), onState(state, detail).
export function subscribe(fn, { stats, since = 0, client = '', onState }) {
  const tracker = new Tracker(since, stats);
  const backoff = new Backoff(100, 5000);
  let placed = since > 0; // we have a place to resume from, even when it is 0
  let connected = false; // a connection worked before: the next one is a reconnect
  let closed = false;
  let socket = null;
  let retry = null;

  function connect() {
    retry = null;
    const url = new URL('api/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (client !== '') url.searchParams.set('client', client);
    if (placed) url.searchParams.set('since', tracker.last);
    stats.requests++; // the upgrade is one HTTP request
    socket = new WebSocket(url);
    socket.onopen = () => {
      if (connected) stats.reconnects++;
      connected = true;
      onState('live');
    };
    socket.onmessage = (event) => {
      backoff.reset(); // the server spoke: this connection works
      const message = parseJSON(event.data);
      if (message === null || typeof message !== 'object') return;
      if ('op' in message) {
        if (message.op === 'reset' && Number.isSafeInteger(message.next)) {
          tracker.reset(message.next); // our place is gone: go on after next
          placed = true;
        }
        return; // other ops (a symbols ack) need nothing from us
      }
      if (!isTick(message)) return;
      placed = true;
      if (tracker.accept(message.seq)) fn(message);
    };
    socket.onclose = (event) => {
      if (closed) return;
      if (PERMANENT.has(event.code)) {
        onState('error', `closed ${event.code} ${event.reason}`);
        return;
      }
      onState('reconnecting', `closed ${event.code} ${event.reason}`.trim());
      retry = setTimeout(connect, backoff.next());
    };
  }

  onState('connecting');
  connect();
  return {
    get last() { return tracker.last; },
    // drop closes the connection; onclose then reconnects as after a failure.
    // A frame that arrives after close() is not delivered, so the new
    // connection resumes exactly after the last tick we took.
    drop() {
      if (retry !== null || socket.readyState !== WebSocket.OPEN) return false;
      socket.close(4000, 'dropped by the dashboard');
      return true;
    },
    close() {
      closed = true;
      clearTimeout(retry);
      if (socket.readyState === WebSocket.CONNECTING) {
        // Closing a socket that is still connecting is reported as a failed
        // connection; let it open, then close it politely.
        socket.onopen = () => socket.close(1000, 'paused');
        socket.onmessage = null;
      } else {
        socket.close(1000, 'paused');
      }
    },
  };
}
