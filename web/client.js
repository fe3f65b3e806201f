// What every pattern client shares, as in shared/client.go: a Tracker that
// accounts for every seq, a jittered Backoff between reconnects, and the
// counters a client keeps (ClientStats).

// clientID names this tab's streams (?client=ID), so that the dashboard's fault
// controls (POST /api/fault/slow) reach this tab's connections and no one else's.
export const clientID = [...crypto.getRandomValues(new Uint8Array(8))]
  .map((b) => b.toString(16).padStart(2, '0')).join('');

// newStats returns a client's counters; the pattern clients add to them and
// the dashboard reads them.
export function newStats() {
  return { messages: 0, gaps: 0, dups: 0, resets: 0, requests: 0, reconnects: 0 };
}

// Tracker follows a client's place in the feed: each seq is delivered once, or
// counted as a gap or a duplicate. last is where a reconnect resumes.
export class Tracker {
  constructor(since, stats) {
    this.last = since;
    this.stats = stats;
  }

  // accept reports whether a tick with this seq should be delivered: false for a
  // duplicate. A jump forward is delivered, and the seqs it skipped are gaps.
  accept(seq) {
    if (this.last !== 0 && seq <= this.last) {
      this.stats.dups++;
      return false;
    }
    if (this.last !== 0 && seq > this.last + 1) this.stats.gaps += seq - this.last - 1;
    this.last = seq;
    this.stats.messages++;
    return true;
  }

  // reset handles the server's reset control: the stream goes on after next.
  // The seqs between last and next are lost (gaps); a next behind last is a
  // restarted feed, and the count starts afresh.
  reset(next) {
    this.stats.resets++;
    if (this.last !== 0 && next > this.last) this.stats.gaps += next - this.last;
    this.last = next;
  }
}

// Backoff spaces out reconnects: exponential from min to max ms, full jitter,
// so clients cut off together do not all come back together.
export class Backoff {
  constructor(min = 100, max = 5000) {
    this.min = min;
    this.max = max;
    this.attempt = 0;
  }

  next() {
    const ceiling = Math.min(this.max, this.min * 2 ** this.attempt);
    this.attempt++;
    return 1 + Math.random() * ceiling;
  }

  reset() { this.attempt = 0; }
}

// isTick checks the fields the dashboard relies on; the server never sends
// anything else as a tick, but a client should not trust that blindly.
export function isTick(m) {
  return m !== null && typeof m === 'object' && Number.isSafeInteger(m.seq) && m.seq > 0 &&
    typeof m.symbol === 'string' && typeof m.price === 'number' && Number.isFinite(m.t_us);
}

// parseJSON returns the value, or null when text is not JSON: a broken
// message is skipped, not allowed to stop the client.
export function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// Sleeper is a wait that close() can cut short, like shared.Sleep with a ctx.
export class Sleeper {
  sleep(ms) {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  cancel() {
    clearTimeout(this.timer);
    if (this.wake) this.wake();
  }
}
