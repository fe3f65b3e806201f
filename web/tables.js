// Small tables and lists built from server JSON, with textContent only: a
// string from the server is never parsed as markup.

import { count } from './format.js';

// list shows an object's fields as a compact, wrapping list of label: value.
export function list(caption, entries) {
  const box = document.createElement('div');
  box.className = 'kv';
  if (caption !== '') box.append(Object.assign(document.createElement('h3'), { textContent: caption }));
  const dl = document.createElement('dl');
  for (const [k, v] of entries) {
    const item = document.createElement('div');
    item.append(Object.assign(document.createElement('dt'), { textContent: k.replaceAll('_', ' ') }),
      Object.assign(document.createElement('dd'), { textContent: show(v) }));
    dl.append(item);
  }
  box.append(dl);
  return box;
}

// show is a JSON value as text: whole numbers grouped, others to 3 decimals.
export function show(v) {
  if (typeof v === 'number') return Number.isInteger(v) ? count(v) : v.toFixed(3);
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function note(text) {
  const p = document.createElement('p');
  p.className = 'note';
  p.textContent = text;
  return p;
}

// table builds a small table of text cells: safe for any server string. A
// table wider than a panel (more than 6 columns) and with fewer rows is
// turned on its side: one column per row, so the workers' counts read across.
export function table(head, rows, caption = '') {
  if (head.length > 6 && rows.length + 1 < head.length) {
    const turned = head.slice(1).map((h, i) => [h.replaceAll('_', ' '), ...rows.map((r) => r[i + 1])]);
    return build([head[0], ...rows.map((r) => r[0])], turned, caption);
  }
  return build(head, rows, caption);
}

// build is a table as given, never turned: for rows that carry controls.
export function build(head, rows, caption = '') {
  const t = document.createElement('table');
  if (caption !== '') t.createCaption().textContent = caption;
  const tr = t.createTHead().insertRow();
  for (const h of head) tr.append(Object.assign(document.createElement('th'), { textContent: h.replaceAll('_', ' ') }));
  const body = t.createTBody();
  for (const row of rows) {
    const r = body.insertRow();
    for (const cell of row) r.insertCell().textContent = cell;
  }
  return t;
}
