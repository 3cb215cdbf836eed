/**
 * An overlay's identity: `<variant>/<method>/<layer>` (saliency) or `model/output/<class>` (the
 * model's own output). The key names the overlay's folders on disk, its URL segments and the
 * viewer's URL state, so it is made and read in this one place.
 */

export interface OverlayId {
  variant: string;
  method: string;
  layer: string;
}

export function overlayKey(o: OverlayId): string {
  return `${o.variant}/${o.method}/${o.layer}`;
}

/** The parts of a key; undefined when it is not three non-empty parts. */
export function parseOverlayKey(key: string): OverlayId | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || parts.some((p) => !p)) return undefined;
  const [variant, method, layer] = parts as [string, string, string];
  return { variant, method, layer };
}
