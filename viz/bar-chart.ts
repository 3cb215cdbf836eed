/** Minimal SVG grouped bar charts: one group per x label, one bar per series (e.g. AUROC per layer and variant). */
import sharp from 'sharp';
import { writeFile } from 'node:fs/promises';
import type { Series } from './line-plot.js';

export interface BarChartOptions {
  /** y range (default: 0 to the largest value, padded) */
  yRange?: [number, number];
  /** a dashed horizontal line, e.g. chance level 0.5 for AUROC */
  reference?: { value: number; label: string };
  /** x axis title (default "layer") */
  xTitle?: string;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function ticks(lo: number, hi: number): number[] {
  const step0 = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

export function barChartSvg(title: string, xLabels: string[], series: Series[], yLabel: string, o: BarChartOptions = {}): string {
  const W = Math.max(640, 150 + 64 + xLabels.length * (series.length * 22 + 24));
  const H = 380;
  const m = { l: 64, r: 150, t: 36, b: 48 };
  const finite = series.flatMap((s) => s.values).filter(Number.isFinite);
  let [lo, hi] = o.yRange ?? [Math.min(0, ...finite), Math.max(0, ...finite)];
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, lo + 0.5];
  if (!o.yRange) hi += (hi - lo) * 0.05;
  const plotW = W - m.l - m.r;
  const groupW = plotW / Math.max(1, xLabels.length);
  const barW = Math.min(22, (groupW * 0.8) / Math.max(1, series.length));
  const y = (v: number) => m.t + (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (H - m.t - m.b);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`;
  svg += `<rect width="${W}" height="${H}" fill="#fff"/>`;
  svg += `<text x="${m.l + plotW / 2}" y="20" text-anchor="middle" font-size="15">${esc(title)}</text>`;
  for (const t of ticks(lo, hi)) {
    svg += `<line x1="${m.l}" x2="${W - m.r}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`;
    svg += `<text x="${m.l - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`;
  }
  const base = y(Math.max(lo, Math.min(hi, 0)));
  xLabels.forEach((label, i) => {
    const gx = m.l + i * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, k) => {
      const v = s.values[i]!;
      if (!Number.isFinite(v)) return;
      const top = Math.min(y(v), base);
      svg += `<rect x="${(gx + k * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(0.5, Math.abs(y(v) - base)).toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}"><title>${esc(`${s.name} ${label}: ${v}`)}</title></rect>`;
    });
    svg += `<text x="${(m.l + (i + 0.5) * groupW).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${esc(label)}</text>`;
  });
  if (o.reference) {
    const ry = y(o.reference.value);
    svg += `<line x1="${m.l}" x2="${W - m.r}" y1="${ry}" y2="${ry}" stroke="#555" stroke-dasharray="5 4"/><text x="${W - m.r - 4}" y="${ry - 4}" text-anchor="end" fill="#555">${esc(o.reference.label)}</text>`;
  }
  svg += `<text x="${m.l + plotW / 2}" y="${H - 10}" text-anchor="middle">${esc(o.xTitle ?? 'layer')}</text>`;
  svg += `<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  svg += `<rect x="${m.l}" y="${m.t}" width="${plotW}" height="${H - m.t - m.b}" fill="none" stroke="#888"/>`;
  series.forEach((s, k) => {
    const ly = m.t + 10 + k * 18;
    svg += `<rect x="${W - m.r + 12}" y="${ly - 6}" width="20" height="12" fill="${PALETTE[k % PALETTE.length]}"/><text x="${W - m.r + 38}" y="${ly + 4}">${esc(s.name)}</text>`;
  });
  return `${svg}</svg>`;
}

/** Writes `<base>.svg` and `<base>.png`. */
export async function writeBarChart(base: string, title: string, xLabels: string[], series: Series[], yLabel: string, o: BarChartOptions = {}): Promise<void> {
  const svg = barChartSvg(title, xLabels, series, yLabel, o);
  await writeFile(`${base}.svg`, svg);
  await sharp(Buffer.from(svg)).png().toFile(`${base}.png`);
}
