// A first look at the feed: follow /api/sse with the browser's own EventSource
// and show the newest price per symbol. EventSource reconnects by itself and sends
// Last-Event-ID, so the server resumes exactly after the last tick we saw.
const rows = new Map();
const tbody = document.querySelector('#prices tbody');
const status = document.querySelector('#status');

const source = new EventSource('api/sse');
source.onopen = () => { status.textContent = 'live over SSE'; };
source.onerror = () => { status.textContent = 'reconnecting…'; };
source.addEventListener('tick', (event) => {
  const tick = JSON.parse(event.data);
  const latencyMs = (Date.now() * 1000 - tick.t_us) / 1000;
  let row = rows.get(tick.symbol);
  if (!row) {
    row = tbody.insertRow();
    row.insertCell().textContent = tick.symbol;
    for (let i = 0; i < 3; i++) row.insertCell();
    rows.set(tick.symbol, row);
    [...rows.keys()].sort().forEach((s) => tbody.appendChild(rows.get(s)));
  }
  row.cells[1].textContent = tick.price.toFixed(4);
  row.cells[2].textContent = tick.seq;
  row.cells[3].textContent = `${latencyMs.toFixed(1)} ms`;
});
