// The server's side of the story, from GET /api/stats once a second: what
// each pattern put on the wire (headers, SSE framing and WebSocket frame
// headers included, counted below HTTP), which the browser cannot see, and
// the NATS subscribers and workers, which live in the server.
//
// The counters are for all clients of a pattern (a terminal demo too), so
// bytes are divided by the messages the server sent, not by what this page
// received: a ratio that holds whoever is connected.

import { fetchStats } from './clock.js';

const KEEP = 11; // snapshots kept: 10 s of deltas
const WINDOW_S = 5;

export class ServerStats {
  constructor() {
    this.snapshots = []; // { at (ms), body }, oldest first
    this.error = null;
    this.busy = false;
  }

  get latest() {
    const s = this.snapshots.at(-1);
    return s === undefined ? null : s.body;
  }

  // refresh fetches one snapshot; it never throws, it records the error.
  async refresh() {
    if (this.busy) return; // the last one is still out: do not pile up
    this.busy = true;
    try {
      const { resp, body } = await fetchStats(); // also a clock sample
      if (!resp.ok) throw new Error(`GET /api/stats: ${resp.status}`);
      this.snapshots.push({ at: performance.now(), body });
      if (this.snapshots.length > KEEP) this.snapshots.shift();
      this.error = null;
    } catch (err) {
      this.error = err.message;
    } finally {
      this.busy = false;
    }
  }

  // span returns the newest snapshot and the one about WINDOW_S seconds
  // before it (or the oldest we have), with the seconds between them.
  span() {
    const n = this.snapshots.length;
    if (n < 2) return null;
    const now = this.snapshots[n - 1];
    const then = this.snapshots[Math.max(0, n - 1 - WINDOW_S)];
    return { now: now.body, then: then.body, seconds: (now.at - then.at) / 1000 };
  }

  // pattern returns one HTTP pattern's server-side figures over the window:
  // bytes on the wire per tick sent, requests per minute, ticks sent per
  // second, clients connected now.
  pattern(name) {
    const s = this.span();
    const now = s?.now.patterns?.[name];
    const then = s?.then.patterns?.[name];
    if (!now || !then) return null;
    const messages = now.messages - then.messages;
    return {
      bytesPerTick: messages > 0 ? (now.bytes - then.bytes) / messages : null,
      reqPerMin: ((now.requests - then.requests) * 60) / s.seconds,
      msgsPerS: messages / s.seconds,
      clients: now.clients,
    };
  }

  // received returns, per NATS subscriber name, ticks received per second
  // over the window.
  pubsubRates() {
    const s = this.span();
    const rates = new Map();
    if (!s || !Array.isArray(s.now.pubsub)) return rates;
    for (const sub of s.now.pubsub) {
      const before = (s.then.pubsub || []).find((b) => b.name === sub.name);
      if (before) rates.set(sub.name, (sub.received - before.received) / s.seconds);
    }
    return rates;
  }
}
