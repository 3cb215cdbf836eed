/**
 * Two viewers that show the same place: the one the user last touched leads, the other follows
 * every animation frame. (Letting both lead would stop each other's animations.)
 */

/**
 * @param {OpenSeadragon.Viewer} a
 * @param {OpenSeadragon.Viewer} b
 * @returns {() => void} unlink
 */
export function linkViewports(a, b) {
  let leader = a;
  /** @type {(() => void)[]} */
  const undo = [];
  for (const v of [a, b]) {
    const lead = () => {
      leader = v;
    };
    for (const type of ['pointerdown', 'wheel', 'pointerenter', 'keydown']) {
      v.element.addEventListener(type, lead, { capture: true, passive: true });
      undo.push(() => v.element.removeEventListener(type, lead, { capture: true }));
    }
    const follow = () => {
      if (v !== leader) return;
      const other = v === a ? b : a;
      other.viewport.zoomTo(v.viewport.getZoom(true), undefined, true);
      other.viewport.panTo(v.viewport.getCenter(true), true);
    };
    v.addHandler('viewport-change', follow);
    undo.push(() => v.removeHandler('viewport-change', follow));
  }
  // start in step
  b.viewport.zoomTo(a.viewport.getZoom(false), undefined, true);
  b.viewport.panTo(a.viewport.getCenter(false), true);
  return () => undo.forEach((f) => f());
}
