// The NATS panels. A browser does not speak NATS, so these show the lab's own
// server-side subscribers and workers, as GET /api/stats reports them:
// latency there is measured by the subscriber, from the feed's t_us to the
// moment it took the message, over its last 1024 ticks.

import { count, ms, rate } from './format.js';
import { Panel } from './panel.js';
import { list, note, show, table } from './tables.js';

// PubSubPanel shows the subscribers on ticks.>, ticks.ACME, ticks.* and a
// deliberately slow one: every subscriber gets every tick of its subject.
export class PubSubPanel {
  constructor(container, spec, server) {
    this.spec = spec;
    this.server = server;
    this.panel = new Panel(container, spec);
    this.points = []; // the chart: the main subscriber's p50/p99, one per second
    this.figures = {};
    for (const name of ['bytes', 'reqs', 'reconnects']) this.panel.set(name, 'n/a', null);
    this.panel.explain('bytes', 'the NATS connections\' byte counts are not in /api/stats');
    this.panel.explain('reqs', 'no requests: one subscription, then the server pushes');
  }

  render() {}

  everySecond() {
    const subs = this.server.latest?.pubsub;
    const p = this.panel;
    if (!Array.isArray(subs) || subs.length === 0) {
      p.setState('waiting', 'no subscribers in /api/stats');
      return;
    }
    const rates = this.server.pubsubRates();
    // The main subscriber sees every tick and does not dawdle: it stands for
    // the pattern; the others show what subjects and slowness change.
    const main = subs.find((s) => s.sees_every_tick && s.delay_ms === 0) ?? subs[0];
    const up = subs.filter((s) => s.subscribed).length;
    p.setState(up === subs.length ? 'live' : 'reconnecting', `${up} of ${subs.length} subscribed`);
    // The figures are the main subscriber's; the slow one's losses show in
    // the table, where they belong to it and not to the pattern.
    const msgsPerS = rates.get(main.name) ?? null;
    this.figures = { p50: main.latency_p50_ms, p99: main.latency_p99_ms, msgsPerS, bytesPerTick: null, reqPerMin: null, gaps: main.gaps };
    p.set('seq', `#${main.last_seq}`, main.last_seq);
    p.set('symbol', `on ${main.subject}`, null);
    p.set('msgs', rate(msgsPerS), msgsPerS);
    p.set('p50', ms(main.latency_p50_ms), main.latency_p50_ms);
    p.set('p99', ms(main.latency_p99_ms), main.latency_p99_ms);
    p.set('gaps', count(this.figures.gaps), this.figures.gaps);
    p.set('dups', count(main.dups), main.dups);
    this.points.push(msgsPerS > 0 ? { p50: main.latency_p50_ms, p99: main.latency_p99_ms } : null);
    if (this.points.length > 60) this.points.shift();
    p.drawChart(this.points);
    p.extra.replaceChildren(table(
      ['subscriber', 'subject', 'msgs/s', 'p50', 'p99', 'gaps', 'dropped', 'pending'],
      subs.map((s) => [s.name, s.subject, rate(rates.get(s.name)), ms(s.latency_p50_ms), ms(s.latency_p99_ms),
        s.sees_every_tick ? count(s.gaps) : 'n/a', count(s.dropped), count(s.pending)]),
      'subscribers',
    ));
  }
}

// QueuePanel shows the queue workers. Until /api/stats carries a "queue"
// object it says the pattern is coming; after that it shows whatever the
// object holds, so the panel follows the server without a change here: its
// arrays of objects as tables, its objects and numbers as labelled lists.
export class QueuePanel {
  constructor(container, spec, server) {
    this.spec = spec;
    this.server = server;
    this.panel = new Panel(container, spec);
    this.panel.root.classList.add('server-only'); // no per-tick figures: the tables say it all
    this.figures = {};
  }

  render() {}

  everySecond() {
    const queue = this.server.latest?.queue;
    const p = this.panel;
    if (typeof queue !== 'object' || queue === null) {
      p.setState('coming', 'the queue pattern is not in /api/stats yet');
      p.extra.replaceChildren(note('Coming: workers in queue group "workers" share work.ticks, each tick to exactly one of them.'));
      return;
    }
    p.setState('live', '');
    const parts = [];
    const scalars = Object.entries(queue).filter(([, v]) => typeof v !== 'object' || v === null);
    if (scalars.length > 0) parts.push(list('', scalars));
    for (const [key, value] of Object.entries(queue)) {
      if (Array.isArray(value) && value.every((v) => v !== null && typeof v === 'object')) {
        const columns = [...new Set(value.flatMap((v) => Object.keys(v)))];
        parts.push(table(columns, value.map((v) => columns.map((c) => show(v[c]))), key));
      } else if (value !== null && typeof value === 'object') {
        parts.push(list(key, Object.entries(value)));
      }
    }
    p.extra.replaceChildren(...parts);
  }
}
