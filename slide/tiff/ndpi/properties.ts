/**
 * The properties OpenSlide 3.4.1 gives an NDPI, from its first directory: the `tiff.*` ones every TIFF-based
 * driver stores, `hamamatsu.*` from the NDPI tags (SourceLens, the offsets from the slide centre, Reference) and
 * from the `key=value` lines of tag 65449, the objective power (SourceLens) and MPP (resolution in pixels per
 * centimetre only). Doubles are written as OpenSlide writes them (glib's "%.17g").
 */
import type { Mpp } from '../../types.js';
import type { NdpiTags } from './ifd.js';

export const NDPI_SOURCE_LENS = 65421;
const NDPI_X_OFFSET = 65422;
const NDPI_Y_OFFSET = 65423;
const NDPI_REFERENCE = 65427;
const NDPI_PROPERTY_MAP = 65449;

/** A double as C's printf("%.17g") writes it (shortest is not what OpenSlide prints: 0.1 is "0.10000000000000001"). */
export function formatDoubleLikeOpenSlide(d: number): string {
  if (Number.isNaN(d)) return 'nan';
  if (!Number.isFinite(d)) return d > 0 ? 'inf' : '-inf';
  if (d === 0) return Object.is(d, -0) ? '-0' : '0';
  const [mantissa, e] = Math.abs(d).toExponential(16).split('e') as [string, string];
  const exp = Number(e);
  const digits = mantissa.replace('.', '');
  const sign = d < 0 ? '-' : '';
  const trim = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exp < -4 || exp >= 17) return `${sign}${trim(`${digits[0]}.${digits.slice(1)}`)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  const fixed = exp >= 0 ? `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}` : `0.${'0'.repeat(-exp - 1)}${digits}`;
  return sign + trim(fixed);
}

const TIFF_STRINGS: [string, number][] = [
  ['tiff.ImageDescription', 270],
  ['tiff.Make', 271],
  ['tiff.Model', 272],
  ['tiff.Software', 305],
  ['tiff.DateTime', 306],
  ['tiff.Artist', 315],
  ['tiff.HostComputer', 316],
  ['tiff.Copyright', 33432],
  ['tiff.DocumentName', 269],
];
const TIFF_FLOATS: [string, number][] = [
  ['tiff.XResolution', 282],
  ['tiff.YResolution', 283],
  ['tiff.XPosition', 286],
  ['tiff.YPosition', 287],
];
const RESOLUTION_UNITS: Record<number, string> = { 1: 'none', 2: 'inch', 3: 'centimeter' };

export interface NdpiMetadata {
  properties: Record<string, string>;
  mpp?: Mpp;
  objectivePower?: number;
}

/** What OpenSlide reads from directory 0 (`tags`). */
export async function ndpiMetadata(tags: NdpiTags): Promise<NdpiMetadata> {
  const properties: Record<string, string> = {};
  const description = await tags.text(270);
  if (description !== undefined) properties['openslide.comment'] = description;
  for (const [name, tag] of TIFF_STRINGS) {
    const v = await tags.text(tag);
    if (v !== undefined) properties[name] = v;
  }
  for (const [name, tag] of TIFF_FLOATS) {
    const v = await tags.float(tag);
    if (v !== undefined) properties[name] = formatDoubleLikeOpenSlide(v);
  }
  // ResolutionUnit defaults to inch; a value of another type leaves MPP unset and reads as the default here.
  const unitTag = tags.has(296);
  const unit = unitTag ? await tags.uint(296) : 2;
  properties['tiff.ResolutionUnit'] = RESOLUTION_UNITS[unit ?? 2] ?? 'unknown';

  const lens = await tags.float(NDPI_SOURCE_LENS);
  if (lens !== undefined) properties['hamamatsu.SourceLens'] = formatDoubleLikeOpenSlide(lens);
  const xOffset = await tags.sint(NDPI_X_OFFSET);
  if (xOffset !== undefined) properties['hamamatsu.XOffsetFromSlideCentre'] = String(xOffset);
  const yOffset = await tags.sint(NDPI_Y_OFFSET);
  if (yOffset !== undefined) properties['hamamatsu.YOffsetFromSlideCentre'] = String(yOffset);
  const reference = await tags.text(NDPI_REFERENCE);
  if (reference !== undefined) properties['hamamatsu.Reference'] = reference;
  const map = await tags.text(NDPI_PROPERTY_MAP);
  for (const record of map?.split('\r\n') ?? []) {
    const eq = record.indexOf('=');
    if (eq <= 0 || eq === record.length - 1) continue; // empty keys and empty values are skipped
    properties[`hamamatsu.${record.slice(0, eq)}`] = record.slice(eq + 1);
  }

  let mpp: Mpp | undefined;
  if (unit === 3) {
    const x = await tags.float(282);
    const y = await tags.float(283);
    const xm = x === undefined ? undefined : 10000 / x;
    const ym = y === undefined ? undefined : 10000 / y;
    if (xm !== undefined) properties['openslide.mpp-x'] = formatDoubleLikeOpenSlide(xm);
    if (ym !== undefined) properties['openslide.mpp-y'] = formatDoubleLikeOpenSlide(ym);
    if (xm !== undefined && ym !== undefined && Number.isFinite(xm) && Number.isFinite(ym) && xm > 0 && ym > 0) mpp = { x: xm, y: ym };
  }
  if (lens !== undefined) properties['openslide.objective-power'] = formatDoubleLikeOpenSlide(lens);
  return { properties, mpp, objectivePower: lens !== undefined && Number.isFinite(lens) ? lens : undefined };
}
