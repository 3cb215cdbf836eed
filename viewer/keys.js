/** Keyboard shortcuts, ignored while the user types in a field. */

/** @typedef {'layerDown' | 'layerUp' | 'toggleOverlay' | 'curtain' | 'side' | 'help'} Action */

/** @type {Record<string, Action>} */
export const KEYS = {
  '[': 'layerDown',
  PageDown: 'layerDown',
  ']': 'layerUp',
  PageUp: 'layerUp',
  o: 'toggleOverlay',
  c: 'curtain',
  b: 'side',
  '?': 'help',
};

/** @param {(action: Action) => void} run */
export function bindKeys(run) {
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const t = /** @type {HTMLElement | null} */ (e.target);
    if (t && (t.isContentEditable || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || (t.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button'].includes(/** @type {HTMLInputElement} */ (t).type)))) return;
    if (document.querySelector('dialog[open]:not(#help)')) return;
    const action = KEYS[e.key];
    if (!action) return;
    e.preventDefault();
    run(action);
  });
}
