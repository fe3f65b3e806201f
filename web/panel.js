// Panel is the DOM of one pattern's panel, cloned from index.html's
// <template id="panel">. It only writes what changed, so rendering a panel
// five times a second costs next to nothing when little moves.

import { drawLatency } from './chart.js';
import { price } from './format.js';

export class Panel {
  constructor(container, { id, title, how }) {
    const template = document.getElementById('panel');
    this.root = template.content.firstElementChild.cloneNode(true);
    this.root.dataset.pattern = id;
    this.root.querySelector('h2').textContent = title;
    this.root.querySelector('.how').innerHTML = how; // our own markup: <code> for endpoints
    this.badge = this.root.querySelector('.state');
    this.canvas = this.root.querySelector('canvas');
    this.prices = this.root.querySelector('.prices');
    this.extra = this.root.querySelector('.extra');
    this.cells = new Map(); // figure name -> <dd>
    for (const dd of this.root.querySelectorAll('[data-fig]')) this.cells.set(dd.dataset.fig, dd);
    this.priceCells = new Map(); // symbol -> <span> holding its price
    container.append(this.root);
  }

  // setState shows the connection state: connecting, live, reconnecting,
  // paused, error; detail (why) goes to the tooltip.
  setState(state, detail = '') {
    if (this.badge.dataset.state === state && this.badge.title === detail) return;
    this.badge.dataset.state = state;
    this.badge.textContent = state;
    this.badge.title = detail;
    this.root.dataset.state = state;
  }

  // set shows one figure: text for people, value (a number, or '' for none)
  // in data-value for the browser test.
  set(name, text, value) {
    const dd = this.cells.get(name);
    if (dd === undefined) return;
    if (dd.textContent !== text) dd.textContent = text;
    const v = value === null || value === undefined ? '' : String(value);
    if (dd.dataset.value !== v) dd.dataset.value = v;
  }

  // explain sets a figure's tooltip: where the number comes from.
  explain(name, text) {
    const dd = this.cells.get(name);
    if (dd !== undefined && dd.title !== text) dd.title = text;
  }

  // setPrices shows the newest price of every symbol, in alphabetical order,
  // so a symbol sits in the same place in every panel.
  setPrices(prices) {
    for (const [symbol, tick] of prices) {
      let cell = this.priceCells.get(symbol);
      if (cell === undefined) {
        cell = document.createElement('span');
        const item = document.createElement('li');
        item.dataset.symbol = symbol;
        item.append(symbol, ' ', cell);
        const after = [...this.prices.children].find((li) => li.dataset.symbol > symbol);
        this.prices.insertBefore(item, after ?? null);
        this.priceCells.set(symbol, cell);
      }
      const text = price(tick.price);
      if (cell.textContent !== text) cell.textContent = text;
    }
  }

  // setLatest shows the newest tick: its seq makes the same tick visibly reach
  // each panel at a different moment.
  setLatest(tick) {
    if (tick === null) return;
    this.set('seq', `#${tick.seq}`, tick.seq);
    this.set('symbol', tick.symbol, null);
    this.set('price', price(tick.price), tick.price);
  }

  drawChart(points) {
    drawLatency(this.canvas, points);
  }

  // on calls handler when the panel's button data-action=name is clicked; the
  // handler returns the button's new label, or undefined to keep it.
  on(name, handler) {
    const button = this.root.querySelector(`[data-action="${name}"]`);
    button.hidden = false;
    button.addEventListener('click', () => {
      const label = handler();
      if (label !== undefined) button.textContent = label;
    });
    return button;
  }

  // hint shows a short note beside the buttons for a few seconds.
  hint(text, ms = 4000) {
    const el = this.root.querySelector('.hint');
    el.textContent = text;
    clearTimeout(this.hintTimer);
    this.hintTimer = setTimeout(() => { el.textContent = ''; }, ms);
  }
}
