/** The render target: stain optical densities per pixel of a rectangle in level-0 coordinates. */

export interface Canvas {
  /** Level-0 position of pixel 0 and the size. */
  x0: number;
  y0: number;
  w: number;
  h: number;
  /** Hematoxylin, eosin and red-cell (haemoglobin + eosin) optical density. */
  hOD: Float32Array;
  eOD: Float32Array;
  rOD: Float32Array;
  /** 1 where a nucleus covers at least half the pixel. */
  nuclei: Uint8Array;
}

export function makeCanvas(x0: number, y0: number, w: number, h: number): Canvas {
  const n = w * h;
  return { x0, y0, w, h, hOD: new Float32Array(n), eOD: new Float32Array(n), rOD: new Float32Array(n), nuclei: new Uint8Array(n) };
}

/** The canvas pixels [x0, x1) x [y0, y1) (level-0) that a disc of `reach` around (cx, cy) can touch. */
export function clipBox(c: Canvas, cx: number, cy: number, reach: number): [number, number, number, number] {
  return [
    Math.max(c.x0, Math.floor(cx - reach)),
    Math.max(c.y0, Math.floor(cy - reach)),
    Math.min(c.x0 + c.w, Math.ceil(cx + reach) + 1),
    Math.min(c.y0 + c.h, Math.ceil(cy + reach) + 1),
  ];
}
