// LivePanel runs one of the browser's own clients (poll.js, sse.js, ws.js)
// and shows what it receives: a Meter measures, a Panel shows, and the
// server's counters for the same pattern fill in what the browser cannot see.

import { clientID, newStats } from './client.js';
import { bytes, count, ms, rate } from './format.js';
import { Meter } from './meter.js';
import { Panel } from './panel.js';
import { showWire } from './wire.js';

export class LivePanel {
  // spec: id, title, how, and start(fn, opts) that opens the client: one of
  // poll.js's poll or sse.js's / ws.js's subscribe.
  constructor(container, spec, { clock, server }) {
    this.spec = spec;
    this.server = server;
    this.panel = new Panel(container, spec);
    this.stats = newStats();
    this.meter = new Meter(clock, this.stats);
    this.state = ['connecting', ''];
    this.figures = {};
    this.client = null;
    this.paused = false;
    this.dropButton = this.panel.on('drop', () => this.drop());
    this.panel.on('pause', () => (this.paused ? this.resume() : this.pause()));
    this.panel.on('wire', () => { showWire(spec.id, spec.title); });
    if (spec.slowable) this.panel.on('slow', () => { this.slow(); });
    this.open(0);
  }

  // open starts a client after seq since (0: live ticks from now on), as a Go
  // client's Since does. A state report from an older, closed client is ignored.
  open(since) {
    const token = {};
    this.token = token;
    const onState = (state, detail = '') => {
      if (this.token === token) this.state = [state, detail];
    };
    this.client = this.spec.start((tick) => this.meter.add(tick), { stats: this.stats, since, client: clientID, onState });
  }

  drop() {
    if (!this.client.drop()) this.panel.hint('nothing to drop: no request or connection is open right now');
    return undefined;
  }

  // slow asks the server to slow this tab's connection down at the socket
  // (POST /api/fault/slow): its writes block, the connection's queue fills,
  // and the server cuts it off. The client reconnects and resumes; the new
  // connection is fast again, and gaps stay 0.
  async slow() {
    try {
      const resp = await fetch(`api/fault/slow?pattern=${this.spec.id}&client=${clientID}`, { method: 'POST' });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error);
      this.panel.hint(`slowed: this connection now carries ${body.link_bytes_per_s} bytes/s, about 5 ticks a second; ` +
        `watch its queue of ${body.queue} ticks fill and the server cut it off (a low feed rate takes longer; at 5 ticks/s or fewer it keeps up)`, 15000);
    } catch (err) {
      this.panel.hint(`slow: ${err.message}`);
    }
  }

  // pause closes the client; resume opens a new one after the last seq seen,
  // so the ticks in between arrive late instead of never (the server keeps a
  // history), and gaps stay 0 unless the pause outlasts it.
  pause() {
    this.token = null;
    this.client.close();
    this.since = this.client.last;
    this.paused = true;
    this.dropButton.disabled = true;
    this.state = ['paused', ''];
    return 'resume';
  }

  resume() {
    this.paused = false;
    this.dropButton.disabled = false;
    this.open(this.since);
    return 'pause';
  }

  // render runs up to 5 times a second: the newest tick and the counters.
  render() {
    const p = this.panel;
    p.setState(...this.state);
    if (this.meter.changed) {
      this.meter.changed = false;
      p.setLatest(this.meter.latest);
      p.setPrices(this.meter.prices);
    }
    for (const name of ['reconnects', 'gaps', 'dups']) p.set(name, count(this.stats[name]), this.stats[name]);
  }

  // everySecond closes the meter's second and redraws the figures and chart.
  everySecond() {
    this.meter.roll();
    const f = this.meter.figures();
    const server = this.server.pattern(this.spec.id);
    this.figures = { ...f, bytesPerTick: server?.bytesPerTick ?? null, gaps: this.stats.gaps };
    const p = this.panel;
    p.set('msgs', rate(f.msgsPerS), f.msgsPerS);
    p.set('p50', ms(f.p50), f.p50);
    p.set('p99', ms(f.p99), f.p99);
    p.set('bytes', bytes(this.figures.bytesPerTick), this.figures.bytesPerTick);
    p.set('reqs', f.reqPerMin === null ? '–' : count(Math.round(f.reqPerMin)), f.reqPerMin);
    p.explain('reqs', `this page's requests per minute; the server counted ${rate(server?.reqPerMin)}/min from all ${this.spec.id} clients`);
    p.drawChart(this.meter.history());
  }
}
