// Number formatting shared by the panels and the summary: short, fixed
// precision, "–" for "nothing to tell yet".

export const NONE = '–';

export function ms(v) {
  if (v === null || v === undefined) return NONE;
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (Math.abs(v) >= 100) return `${v.toFixed(0)} ms`;
  if (Math.abs(v) >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

export function bytes(v) {
  if (v === null || v === undefined) return NONE;
  if (v >= 10240) return `${(v / 1024).toFixed(0)} KiB`;
  return `${v.toFixed(0)} B`;
}

export function rate(v) {
  if (v === null || v === undefined) return NONE;
  if (v >= 100) return v.toFixed(0);
  return v.toFixed(1);
}

export function count(v) {
  if (v === null || v === undefined) return NONE;
  return v.toLocaleString('en-US');
}

export function price(v) {
  return v.toFixed(2);
}
