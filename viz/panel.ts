/** Side-by-side PNG panels (image | map | map ...), rows labelled: what people look at. */
import sharp, { type OverlayOptions } from 'sharp';
import { absQuantile, divergingRgb, resizeNearestRgb } from '../maps/colormap.js';

export interface PanelCell {
  /** RGB bytes (h*w*3) already, or a signed map to colour. */
  rgb?: Uint8Array;
  map?: Float32Array;
  height: number;
  width: number;
  title?: string;
}

/** Escapes text for SVG. */
function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/**
 * Writes a grid of cells, each `size` px square; maps are scaled to the 99th percentile of |value|
 * per cell (red positive, blue negative), as the reference figure does.
 */
export async function writePanel(path: string, rows: PanelCell[][], size = 256, rowTitles: string[] = []): Promise<void> {
  const label = 22;
  const left = rowTitles.length ? 150 : 0;
  const cols = Math.max(...rows.map((r) => r.length));
  const W = left + cols * (size + 4);
  const H = rows.length * (size + label + 4);
  const composites: OverlayOptions[] = [];
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><style>text{font-family:sans-serif;font-size:14px;fill:#222}</style>`;
  rows.forEach((row, r) => {
    const top = r * (size + label + 4);
    if (rowTitles[r]) svg += `<text x="4" y="${top + label + size / 2}">${esc(rowTitles[r]!)}</text>`;
    row.forEach((cell, c) => {
      const x = left + c * (size + 4);
      const rgb = cell.rgb ?? divergingRgb(cell.map!, absQuantile(cell.map!, 0.99));
      const big = resizeNearestRgb(rgb, cell.height, cell.width, size, size);
      composites.push({ input: Buffer.from(big), raw: { width: size, height: size, channels: 3 }, left: x, top: top + label });
      if (cell.title) svg += `<text x="${x + 2}" y="${top + 16}">${esc(cell.title)}</text>`;
    });
  });
  svg += '</svg>';
  composites.unshift({ input: Buffer.from(svg), left: 0, top: 0 });
  await sharp({ create: { width: W, height: H, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .png()
    .toFile(path);
}

/** Normalized NCHW image (ImageNet) back to display RGB bytes (HWC). */
export function denormalizeImagenet(data: Float32Array, h: number, w: number): Uint8Array {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const out = new Uint8Array(h * w * 3);
  for (let c = 0; c < 3; c++)
    for (let p = 0; p < h * w; p++) out[p * 3 + c] = Math.max(0, Math.min(255, Math.round((data[c * h * w + p]! * std[c]! + mean[c]!) * 255)));
  return out;
}
