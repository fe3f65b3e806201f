// The header: the feed's status, and the controls that change the feed (its
// rate, on the server: POST /api/rate) or the browser's clients (the short
// polling interval and the long-poll wait, read before each request).

import { count, ms } from './format.js';

// setupControls wires the header's controls. settings holds intervalMs and
// waitMs, which the polling clients read; server is the ServerStats.
export function setupControls(settings, server) {
  const form = document.getElementById('rate-form');
  const input = document.getElementById('rate');
  const status = document.getElementById('rate-status');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = 'setting…';
    try {
      const resp = await fetch(`api/rate?rate=${encodeURIComponent(input.value)}`, { method: 'POST' });
      const body = await resp.json();
      status.textContent = resp.ok ? '' : body.error;
      if (resp.ok) server.refresh(); // show the new rate at once
    } catch (err) {
      status.textContent = err.message;
    }
  });
  const interval = document.getElementById('interval');
  interval.value = String(settings.intervalMs);
  interval.addEventListener('change', () => { settings.intervalMs = Number(interval.value); });
  const wait = document.getElementById('wait');
  wait.value = String(settings.waitMs);
  wait.addEventListener('change', () => { settings.waitMs = Number(wait.value); });
}

// renderFeed shows the feed's epoch, rate and newest seq, and how well the
// browser's clock is tied to the server's.
export function renderFeed(server, clock, newestSeq) {
  const stats = server.latest;
  const set = (id, text) => {
    const el = document.getElementById(id);
    if (el.textContent !== text) el.textContent = text;
  };
  if (stats !== null) {
    set('feed-epoch', stats.epoch);
    set('feed-rate', `${stats.rate} ticks/s`);
    set('feed-seq', `#${count(Math.max(stats.last_seq, newestSeq))}`);
    const input = document.getElementById('rate');
    if (input.value === '' && document.activeElement !== input) input.value = String(stats.rate);
  }
  const offset = clock.offsetUs / 1000;
  set('feed-clock', Number.isNaN(clock.rttUs)
    ? 'not measured'
    : `${offset >= 0 ? '+' : '−'}${ms(Math.abs(offset))} ± ${ms(clock.rttUs / 2000)}`);
  set('feed-error', server.error ?? '');
}
