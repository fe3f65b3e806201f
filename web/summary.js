// The summary: every pattern in one table, ranked, with live numbers: the
// course's "why not just use REST?" answered by measurement. Rebuilt once a
// second; six rows cost nothing.

import { NONE, bytes, count, ms, rate } from './format.js';

// Columns marked wide are left out on a narrow screen (style.css), so the
// three rankings fit a phone without scrolling sideways.
const COLUMNS = [
  { key: 'p50', label: 'latency p50', short: 'p50', show: ms, rank: true },
  { key: 'p99', label: 'latency p99', show: ms, rank: true, wide: true },
  { key: 'bytesPerTick', label: 'server bytes/tick', short: 'B/tick', show: bytes, rank: true },
  { key: 'reqPerMin', label: 'requests/min', short: 'req/min', show: (v) => count(Math.round(v)), rank: true },
  { key: 'msgsPerS', label: 'msgs/s', show: rate, wide: true },
  { key: 'gaps', label: 'gaps', show: count, wide: true },
];

// renderSummary fills table's body with rows ({id, name, figures}), fastest
// p50 first; in each ranked column, lower is better: the best cell is marked
// "best" and the worst "worst".
export function renderSummary(table, rows) {
  const sorted = [...rows].sort((a, b) => order(a.figures.p50) - order(b.figures.p50));
  const body = document.createElement('tbody');
  for (const row of sorted) {
    const tr = body.insertRow();
    tr.dataset.pattern = row.id;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = row.name;
    tr.append(th);
    for (const col of COLUMNS) {
      const value = row.figures[col.key] ?? null;
      const td = tr.insertCell();
      td.textContent = value === null ? NONE : col.show(value);
      td.dataset.value = value === null ? '' : String(value);
      if (col.rank && value !== null) td.classList.add(mark(rows, col.key, value));
      if (col.wide) td.classList.add('wide');
    }
  }
  table.tBodies[0].replaceWith(body);
}

export function renderHead(table) {
  const tr = table.createTHead().insertRow();
  for (const col of [{ label: 'pattern' }, ...COLUMNS]) {
    const th = Object.assign(document.createElement('th'), { scope: 'col', className: col.wide ? 'wide' : '' });
    th.append(Object.assign(document.createElement('span'), { className: 'long', textContent: col.label }));
    if (col.short) th.append(Object.assign(document.createElement('span'), { className: 'short', textContent: col.short }));
    tr.append(th);
  }
  table.append(document.createElement('tbody'));
}

// verdict is one sentence comparing short polling with the best push pattern,
// or '' while the numbers are not in yet.
export function verdict(rows) {
  const byId = new Map(rows.map((r) => [r.id, r.figures]));
  const poll = byId.get('poll');
  const push = ['ws', 'sse'].map((id) => [id, byId.get(id)]).filter(([, f]) => f?.p50 != null)
    .sort((a, b) => a[1].p50 - b[1].p50)[0];
  if (!poll || poll.p50 == null || poll.reqPerMin == null || !push) return '';
  const [id, f] = push;
  const name = id === 'ws' ? 'WebSocket' : 'SSE';
  const times = poll.p50 / Math.max(f.p50, 0.01);
  return `Short polling makes ${count(Math.round(poll.reqPerMin))} requests a minute and still hears of a tick ` +
    `${ms(poll.p50)} late (median); ${name} pushes it in ${ms(f.p50)}, ${times >= 10 ? Math.round(times) : times.toFixed(1)}× sooner, ` +
    `over one connection${f.bytesPerTick != null ? `, at ${bytes(f.bytesPerTick)} a tick on the wire` : ''}.`;
}

function order(v) {
  return v === null || v === undefined ? Infinity : v;
}

// mark is "best" or "worst" when value is the lowest or highest of its column
// (and the column has more than one value), otherwise "middle".
function mark(rows, key, value) {
  const values = rows.map((r) => r.figures[key]).filter((v) => v !== null && v !== undefined);
  if (values.length < 2) return 'middle';
  if (value === Math.min(...values)) return 'best';
  if (value === Math.max(...values)) return 'worst';
  return 'middle';
}
