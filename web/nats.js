// The NATS panels. A browser does not speak NATS, so these show the lab's own
// server-side subscribers and workers, as GET /api/stats reports them:
// latency there is measured by the subscriber, from the feed's t_us to the
// moment it took the message, over its last 1024 ticks.

import { count, ms, rate } from './format.js';
import { Panel } from './panel.js';
import { build, list, note, show, table } from './tables.js';
import { showWire } from './wire.js';

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
    this.panel.on('wire', () => { showWire(spec.id, spec.title); });
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

// QueuePanel shows the queue workers, core and JetStream side by side, with
// a kill / revive button per worker: kill one and watch the core group lose
// the ticks it held while JetStream redelivers them. The totals are shown as
// /api/stats has them, so a new counter on the server shows up here unchanged.
export class QueuePanel {
  constructor(container, spec, server) {
    this.spec = spec;
    this.server = server;
    this.panel = new Panel(container, spec);
    this.panel.root.classList.add('server-only'); // no per-tick figures: the tables say it all
    this.figures = {};
    // The tables are rebuilt every second: one listener on their box serves
    // every button they will ever hold.
    this.panel.extra.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-worker]');
      if (button !== null) this.toggle(button.dataset.worker, button.dataset.do);
    });
  }

  // toggle kills or revives a worker: POST /api/queue/kill?worker=core-1.
  async toggle(worker, action) {
    try {
      const resp = await fetch(`api/queue/${action}?worker=${encodeURIComponent(worker)}`, { method: 'POST' });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error);
      // A core worker's unfinished ticks die with it; JetStream keeps them.
      const fate = body.kind === 'core'
        ? `the ${body.held} ticks it held are lost`
        : `the ${body.held} ticks it held unacked go to the others after AckWait`;
      this.panel.hint(action === 'kill' ? `killed ${worker}: ${fate}` : `revived ${worker}`);
      await this.server.refresh();
      this.everySecond();
    } catch (err) {
      this.panel.hint(`${action} ${worker}: ${err.message}`);
    }
  }

  render() {}

  everySecond() {
    const queue = this.server.latest?.queue;
    const p = this.panel;
    if (typeof queue !== 'object' || queue === null) {
      p.setState('waiting', 'the lab runs no queue workers (see --nats-patterns)');
      p.extra.replaceChildren(note('No queue workers in /api/stats.'));
      return;
    }
    p.setState('live', '');
    const parts = [];
    if (Array.isArray(queue.workers)) parts.push(this.workers(queue.workers));
    for (const [key, value] of Object.entries(queue)) {
      if (key === 'workers') continue;
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) parts.push(list(key, Object.entries(value)));
      else if (typeof value !== 'object') parts.push(list('', [[key, value]]));
    }
    p.extra.replaceChildren(...parts);
  }

  // workers is the table of workers, one row each, with its button.
  workers(rows) {
    const columns = ['name', 'kind', 'alive', 'processed', 'pending', 'redelivered', 'lost'];
    const t = build([...columns, ''], rows.map((w) => columns.map((c) => show(w[c] ?? '–'))), 'workers');
    t.querySelectorAll('tbody tr').forEach((tr, i) => {
      const w = rows[i];
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.worker = w.name;
      button.dataset.do = w.alive ? 'kill' : 'revive';
      button.textContent = w.alive ? 'kill' : 'revive';
      tr.lastElementChild.replaceChildren(button);
      if (!w.alive) tr.classList.add('dead');
    });
    return t;
  }
}
