// Meter measures what one browser client receives: latency per tick on the
// server's clock, collected in one-second buckets for the chart, and the
// figures a panel shows. It does the least work per tick (one subtraction,
// one push) and the rest once a second, so 200 ticks/s stays cheap.

export const WINDOW_S = 5; // figures are over the last 5 s: steady, yet quick to follow a change
const HISTORY_S = 60; // the chart shows the last minute

export class Meter {
  constructor(clock, stats) {
    this.clock = clock;
    this.stats = stats; // the client's counters (client.js newStats)
    this.current = []; // latencies (ms) of the ticks received this second
    this.seconds = []; // one bucket per second, oldest first: { n, p50, p99, sorted }
    // The client's request count at each second, for requests/min; it starts
    // with the count now, so the connect a stream makes at once is counted.
    this.counts = [stats.requests];
    this.latest = null; // the newest tick
    this.prices = new Map(); // symbol -> its newest tick
    this.changed = false; // something to render since the last frame
  }

  // add records one delivered tick.
  add(tick) {
    this.current.push((this.clock.nowUs() - tick.t_us) / 1000);
    this.latest = tick;
    this.prices.set(tick.symbol, tick);
    this.changed = true;
  }

  // roll closes the current second; call it once a second.
  roll() {
    const sorted = Float64Array.from(this.current).sort();
    this.current = [];
    this.seconds.push({ n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), sorted });
    if (this.seconds.length > HISTORY_S) this.seconds.shift();
    // Only the window's buckets keep their samples: older ones are chart points.
    const old = this.seconds.length - 1 - WINDOW_S;
    if (old >= 0) this.seconds[old].sorted = null;
    this.counts.push(this.stats.requests);
    if (this.counts.length > HISTORY_S + 1) this.counts.shift();
    this.changed = true;
  }

  // history is the chart's data: p50 and p99 per second, null for a second
  // without ticks.
  history() {
    return this.seconds.map((b) => (b.n > 0 ? b : null));
  }

  // figures are the panel's numbers over the last WINDOW_S seconds; null where
  // there is nothing to tell yet.
  figures() {
    const window = this.seconds.slice(-WINDOW_S);
    const all = new Float64Array(window.reduce((n, b) => n + b.n, 0));
    let at = 0;
    for (const b of window) {
      all.set(b.sorted, at);
      at += b.n;
    }
    all.sort();
    // Requests per minute over as much of the last minute as we have.
    const spanS = this.counts.length - 1;
    const reqPerMin = spanS > 0 ? ((this.counts[spanS] - this.counts[0]) * 60) / spanS : null;
    return {
      msgsPerS: window.length > 0 ? all.length / window.length : null,
      p50: percentile(all, 0.5),
      p99: percentile(all, 0.99),
      reqPerMin,
    };
  }
}

// percentile of sorted values, null when there are none: the same rule as the
// Go side's latency windows (index n*q, rounded down).
export function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
}
