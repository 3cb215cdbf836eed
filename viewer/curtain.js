/** The curtain's divider: dragged with the pointer or moved with the arrow keys. */

/**
 * @param {HTMLElement} root the .curtain element (covers the pane)
 * @param {HTMLElement} handle
 * @param {{ onMove: (fraction: number) => void, onDone: () => void }} on
 */
export function bindCurtain(root, handle, on) {
  const at = (/** @type {number} */ clientX) => {
    const r = root.getBoundingClientRect();
    return Math.min(1, Math.max(0, (clientX - r.left) / r.width));
  };
  handle.addEventListener('pointerdown', (e) => {
    handle.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  handle.addEventListener('pointermove', (e) => {
    if (handle.hasPointerCapture(e.pointerId)) on.onMove(at(e.clientX));
  });
  handle.addEventListener('pointerup', (e) => {
    if (!handle.hasPointerCapture(e.pointerId)) return;
    handle.releasePointerCapture(e.pointerId);
    on.onDone();
  });
  handle.addEventListener('keydown', (e) => {
    const step = e.key === 'ArrowLeft' ? -0.02 : e.key === 'ArrowRight' ? 0.02 : 0;
    if (!step) return;
    e.preventDefault();
    e.stopPropagation();
    const now = Number(root.style.getPropertyValue('--split').replace('%', '')) / 100;
    on.onMove(Math.min(1, Math.max(0, (Number.isFinite(now) ? now : 0.5) + step)));
    on.onDone();
  });
}

/** @param {HTMLElement} root @param {number} fraction */
export function placeCurtain(root, fraction) {
  root.style.setProperty('--split', `${(fraction * 100).toFixed(2)}%`);
}
