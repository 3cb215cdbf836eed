/**
 * The independent truth for ROI tests: a winding-number point-in-polygon test (not the scanline
 * even-odd rule slide/roi.ts uses), QuPath's feature layout, and test regions whose vertices lie off
 * the lattice of patch centres (32 + 64k for 64 px patches), so no centre sits on an edge.
 */
export type Ring = [number, number][];

/** Winding number of a closed ring around (x, y): not 0 = inside. */
export function winding(ring: Ring, x: number, y: number): number {
  let w = 0;
  for (let i = 0; i < ring.length; i++) {
    const [ax, ay] = ring[i]!;
    const [bx, by] = ring[(i + 1) % ring.length]!;
    const side = (bx - ax) * (y - ay) - (x - ax) * (by - ay);
    if (ay <= y && by > y && side > 0) w++;
    else if (ay > y && by <= y && side < 0) w--;
  }
  return w;
}

/** Inside a polygon = inside its exterior ring and in none of its holes; a set of polygons = any of them. */
export const insidePolygon = (rings: Ring[], x: number, y: number): boolean => winding(rings[0]!, x, y) !== 0 && rings.slice(1).every((h) => winding(h, x, y) === 0);
export const insideAny = (polys: Ring[][], x: number, y: number): boolean => polys.some((p) => insidePolygon(p, x, y));
/** Whether a patch of side `size` at (x, y) has its centre inside. */
export const centreIn = (polys: Ring[][], size: number) => (p: { x: number; y: number }): boolean => insideAny(polys, p.x + size / 2, p.y + size / 2);
export const key = (p: { col: number; row: number }): string => `${p.col},${p.row}`;
export const keys = (ps: { col: number; row: number }[]): string[] => ps.map(key).sort();

/** A 640 x 512 slide's regions: an exterior with a hole, and three triangles (the last two overlap). */
export const OUTER: Ring = [[150.3, 70.7], [530.1, 110.9], [560.7, 380.2], [301.9, 470.3], [130.2, 400.6], [150.3, 70.7]];
export const HOLE: Ring = [[270.1, 200.3], [400.7, 215.9], [390.2, 330.1], [280.6, 320.4], [270.1, 200.3]];
export const TRI_A: Ring = [[40.5, 60.5], [300.3, 70.1], [60.2, 330.9], [40.5, 60.5]];
export const TRI_B: Ring = [[570.1, 470.7], [350.9, 440.3], [560.4, 130.6], [570.1, 470.7]];
export const TRI_C: Ring = [[575.3, 150.1], [420.2, 300.9], [578.5, 420.5], [575.3, 150.1]];

/** QuPath's layout of an annotation: a uuid, objectType and classification {name, color}. */
export const qupath = (geometry: unknown, name = 'Tumor'): Record<string, unknown> => ({ type: 'Feature', id: '2f0b4e6e-35d4-4a65-a8e6-5b1a3bd7d1c2', geometry, properties: { objectType: 'annotation', classification: { name, color: [200, 0, 0] }, isLocked: false } });
export const polygon = (...rings: Ring[]): { type: 'Polygon'; coordinates: Ring[] } => ({ type: 'Polygon', coordinates: rings });

/** Every patch of a `cols` x `rows` grid of `size` px patches at level 0. */
export function gridPatches(cols: number, rows: number, size: number): { x: number; y: number; col: number; row: number; tissue: number }[] {
  const out = [];
  for (let row = 0; row < rows; row++) for (let col = 0; col < cols; col++) out.push({ x: col * size, y: row * size, col, row, tissue: 1 });
  return out;
}
