/**
 * Regions of interest: the GeoJSON QuPath writes for annotations (File > Export objects as
 * GeoJSON), which limits an analysis to the regions drawn there (`--roi FILE`, the analysis spec's
 * `roi`). Stated once here: the CLI checks a file with it before any work, the pipeline applies it
 * when it chooses patches (slide/roi.ts).
 *
 * Accepted layouts: a FeatureCollection, one Feature, an array of Features (QuPath's own export),
 * or a bare Polygon / MultiPolygon / GeometryCollection. Areas are Polygons (QuPath's rectangles
 * and ellipses are Polygons too) and MultiPolygons, each with holes; coordinates are level-0
 * pixels of the slide. Features without an area (points, lines, no geometry: QuPath's point
 * annotations) mark no region and are skipped; a file without any area is refused. Sizes are
 * bounded (ROI_LIMITS) so a huge or hostile file is refused before it costs memory or time.
 */
import { z } from 'zod';
import { SdsError } from '../core/errors.js';
import { describeIssues } from './parse.js';

export const ROI_LIMITS = {
  /** bytes of the file (QuPath's export of hundreds of detailed annotations is a few MB) */
  bytes: 32 * 1024 * 1024,
  /** vertices over all rings */
  vertices: 1_000_000,
  /** polygons (a MultiPolygon counts each of its parts) */
  polygons: 100_000,
} as const;

/** One polygon: its exterior ring first, then its holes; [x, y] in level-0 pixels, closing point optional. */
export type RoiRing = [number, number][];
export interface RoiPolygon {
  rings: RoiRing[];
  /** for messages: "feature 3 (Tumor)" */
  label: string;
}
export interface Roi {
  polygons: RoiPolygon[];
}

// GeoJSON positions may carry a third value (z); finite numbers only (JSON has no NaN anyway)
const position = z.array(z.number()).min(2, 'a position needs x and y').max(3, 'a position is [x, y] or [x, y, z]');
const ring = z.array(position).min(3, 'a ring needs at least 3 positions');
const polygonCoordinates = z.array(ring).min(1, 'a polygon needs its exterior ring');
const polygonSchema = z.looseObject({ type: z.literal('Polygon'), coordinates: polygonCoordinates });
const multiPolygonSchema = z.looseObject({ type: z.literal('MultiPolygon'), coordinates: z.array(polygonCoordinates) });
/** geometries that mark no area: skipped */
const NO_AREA = ['Point', 'MultiPoint', 'LineString', 'MultiLineString'];
// a geometry is checked by its own type's schema, so a message names the field that is wrong
const geometryHead = z.looseObject({ type: z.string() });

/** QuPath's properties: objectType "annotation", an optional name and classification {name, color}. */
const propertiesSchema = z
  .looseObject({
    // for messages only: a value of another shape is dropped, never a reason to refuse the regions
    name: z.string().optional().catch(undefined),
    classification: z.looseObject({ name: z.string().optional() }).optional().catch(undefined),
  })
  .nullable()
  .optional()
  .catch(null);

export const roiFeatureSchema = z.looseObject({ type: z.literal('Feature'), geometry: geometryHead.nullable().optional(), properties: propertiesSchema });
export type RoiFeature = z.output<typeof roiFeatureSchema>;

const HINT = 'give the GeoJSON QuPath writes for annotations (File > Export objects as GeoJSON): Polygons or MultiPolygons in level-0 pixels';

function bad(file: string, problem: string): SdsError {
  return new SdsError('BAD_INPUT', `ROI ${file}: ${problem}`, { suggestion: HINT, context: { file } });
}

/** The features of any accepted layout, or a refusal saying what the file is instead. */
function features(value: unknown, file: string): { feature: unknown; where: string }[] {
  if (Array.isArray(value)) return value.map((feature, i) => ({ feature, where: `[${i}]` }));
  const type = value && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  if (type === 'FeatureCollection') {
    const list = (value as { features?: unknown }).features;
    if (!Array.isArray(list)) throw bad(file, 'a FeatureCollection without a "features" array');
    return list.map((feature, i) => ({ feature, where: `features.${i}` }));
  }
  if (type === 'Feature') return [{ feature: value, where: 'feature' }];
  if (typeof type === 'string' && ['Polygon', 'MultiPolygon', 'GeometryCollection'].includes(type)) return [{ feature: { type: 'Feature', geometry: value, properties: null }, where: 'geometry' }];
  throw bad(file, `not GeoJSON features (${type === undefined ? 'no "type"' : `type ${JSON.stringify(type).slice(0, 40)}`}); expected a FeatureCollection, a Feature, an array of Features or a Polygon`);
}

function check<S extends z.ZodType>(schema: S, value: unknown, file: string, where: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw bad(file, describeIssues(r.error, where));
  return r.data;
}

/** The polygons (rings of [x, y]) of one geometry; none for points and lines; `where` locates it in messages. */
function polygonsOf(g: unknown, file: string, where: string, nested = false): number[][][][] {
  if (g === null || g === undefined) return [];
  const { type } = check(geometryHead, g, file, where);
  if (type === 'Polygon') return [check(polygonSchema, g, file, where).coordinates];
  if (type === 'MultiPolygon') return check(multiPolygonSchema, g, file, where).coordinates;
  if (NO_AREA.includes(type)) return [];
  if (type === 'GeometryCollection' && !nested) {
    const list = check(z.looseObject({ geometries: z.array(z.unknown()) }), g, file, where).geometries;
    return list.flatMap((x, i) => polygonsOf(x, file, `${where}.geometries.${i}`, true));
  }
  throw bad(file, `${where}: geometry type ${JSON.stringify(type).slice(0, 40)} is not a GeoJSON geometry sds reads (Polygon, MultiPolygon${nested ? '' : ', GeometryCollection'}; points and lines are skipped)`);
}

/**
 * The regions of a parsed GeoJSON value, checked field by field ("features.3.geometry...: ..."),
 * bounded by ROI_LIMITS; `file` names the source in messages. Coordinates are kept as [x, y].
 */
export function parseRoi(value: unknown, file: string): Roi {
  const polygons: RoiPolygon[] = [];
  let vertices = 0, skipped = 0;
  const list = features(value, file);
  if (!list.length) throw bad(file, 'holds no features');
  for (const [i, { feature, where }] of list.entries()) {
    const f = check(roiFeatureSchema, feature, file, where);
    const p = f.properties;
    const name = p?.name ?? p?.classification?.name;
    const parts = polygonsOf(f.geometry, file, `${where}.geometry`);
    if (!parts.length) skipped++;
    for (const [k, rings] of parts.entries()) {
      vertices += rings.reduce((s, x) => s + x.length, 0);
      if (vertices > ROI_LIMITS.vertices) throw bad(file, `more than ${ROI_LIMITS.vertices} vertices; sds takes at most that many`);
      if (polygons.length >= ROI_LIMITS.polygons) throw bad(file, `more than ${ROI_LIMITS.polygons} polygons; sds takes at most that many`);
      const label = `feature ${i + 1}${parts.length > 1 ? ` part ${k + 1}` : ''}${name ? ` (${name})` : ''}`;
      polygons.push({ label, rings: rings.map((ring) => ring.map((q) => [q[0]!, q[1]!] as [number, number])) });
    }
  }
  if (!polygons.length) throw bad(file, `no Polygon or MultiPolygon among its ${list.length} feature${list.length > 1 ? 's' : ''} (${skipped} without an area: points, lines or no geometry)`);
  return { polygons };
}
