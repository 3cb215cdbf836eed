/** Numbers for people: saliency values span 1e-6 .. 1e3, so small and large ones get exponents. */

/** @param {number} v */
export function formatValue(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-2 && a < 1e4) return String(Number(v.toPrecision(3)));
  const [m, e] = v.toExponential(2).split('e');
  return `${Number(m)}e${Number(e)}`;
}

/** @param {number} seconds */
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** @param {number} um a length in micrometres */
export function formatLength(um) {
  if (um >= 1000) return `${Number((um / 1000).toPrecision(3))} mm`;
  if (um >= 1) return `${Number(um.toPrecision(3))} µm`;
  return `${Number((um * 1000).toPrecision(3))} nm`;
}
