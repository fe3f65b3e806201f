// The comparison dashboard: one feed, every pattern side by side, measured in
// this browser. The four HTTP panels run the browser's own clients (a fetch
// loop, EventSource, WebSocket); the NATS panels show the server's own
// subscribers and workers. Start reading with sse.js, poll.js and ws.js.
//
// The page keeps within the browser's six HTTP/1.1 connections per origin:
// the SSE stream holds one and the long poll another, while the short polls,
// /api/stats and /api/rate share the rest (WebSockets do not count against
// the six). Every tab of this page holds two more: past two or three tabs,
// requests start to queue.

import { clock, syncClock } from './clock.js';
import { renderFeed, setupControls } from './controls.js';
import { LivePanel } from './live.js';
import { PubSubPanel, QueuePanel } from './nats.js';
import { poll } from './poll.js';
import { subscribe as sse } from './sse.js';
import { ServerStats } from './stats.js';
import { renderHead, renderSummary, verdict } from './summary.js';
import { setupWire } from './wire.js';
import { subscribe as ws } from './ws.js';

// The browser's clients read these before each request, so a change applies
// to the next one.
const settings = { intervalMs: 1000, waitMs: 25000 };

const HTTP_PANELS = [
  {
    id: 'poll', title: 'Short polling',
    how: 'Asks <code>GET /api/poll?since=N</code> every interval, mostly to hear there is nothing yet.',
    start: (fn, opts) => poll(fn, { ...opts, interval: () => settings.intervalMs }),
  },
  {
    id: 'longpoll', title: 'Long polling',
    how: '<code>GET /api/poll?since=N&amp;wait=25s</code>: the server holds each request until a tick exists.',
    start: (fn, opts) => poll(fn, { ...opts, wait: () => settings.waitMs }),
  },
  {
    id: 'sse', title: 'Server-sent events',
    how: 'One <code>GET /api/sse</code> answer that never ends; resumes with <code>Last-Event-ID</code>.',
    start: sse,
    slowable: true,
  },
  {
    id: 'ws', title: 'WebSocket',
    how: 'One upgraded connection, one frame per tick; resumes with <code>/api/ws?since=N</code>.',
    start: ws,
    slowable: true,
  },
];
const PUBSUB = {
  id: 'pubsub', title: 'NATS pub/sub', row: 'NATS pub/sub (in the server)',
  how: 'The lab\'s own subscribers, in its process over an in-memory pipe (no socket), on <code>ticks.&gt;</code>, <code>ticks.ACME</code>, <code>ticks.*</code>: each gets every tick of its subject.',
};
const QUEUE = {
  id: 'queue', title: 'NATS queue',
  how: 'Workers in queue group <code>workers</code> share <code>work.ticks</code>: each tick goes to exactly one.',
};

async function main() {
  try {
    await syncClock();
  } catch (err) {
    // Without the offset, latency is off by the clocks' difference, shown as
    // "not measured" in the header; everything else works.
    document.getElementById('feed-error').textContent = `clock: ${err.message}`;
  }
  const server = new ServerStats();
  await server.refresh();
  const container = document.getElementById('panels');
  const live = HTTP_PANELS.map((spec) => new LivePanel(container, spec, { clock, server }));
  const panels = [...live, new PubSubPanel(container, PUBSUB, server), new QueuePanel(container, QUEUE, server)];
  setupControls(settings, server);
  setupWire();
  const summary = document.getElementById('summary-table');
  renderHead(summary);

  // Text at most 5 times a second, in an animation frame (none while the tab
  // is hidden); figures and charts once a second. At 200 ticks/s the clients
  // only count and push, and the page stays light.
  let frame = 0;
  setInterval(() => {
    if (frame === 0) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        for (const p of panels) p.render();
      });
    }
  }, 200);
  setInterval(() => {
    for (const p of panels) p.everySecond();
    // A panel without figures (the queue: its tables are all it has) has no row.
    const rows = panels.map((p) => ({ id: p.spec.id, name: p.spec.row ?? p.spec.title, figures: p.figures }))
      .filter((r) => Object.keys(r.figures).length > 0);
    renderSummary(summary, rows);
    const text = verdict(rows);
    const el = document.getElementById('verdict');
    if (el.textContent !== text) el.textContent = text;
    const newest = Math.max(0, ...live.map((p) => p.meter.latest?.seq ?? 0));
    renderFeed(server, clock, newest);
    server.refresh(); // for the next second; it records its own errors
  }, 1000);
}

main().catch((err) => {
  document.getElementById('feed-error').textContent = `dashboard: ${err.message}`;
});
