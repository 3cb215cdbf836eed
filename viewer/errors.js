/** Errors in the page (never alerts): a dismissible line each, the same message shown once. */

/**
 * @param {HTMLElement} root
 * @returns {(err: unknown) => void}
 */
export function errorBanner(root) {
  return (err) => {
    const message = err instanceof Error ? err.message : String(err);
    const suggestion = /** @type {{ suggestion?: string }} */ (err ?? {}).suggestion;
    for (const el of root.querySelectorAll('.error .message')) if (el.firstChild?.textContent === message) return;
    const item = document.createElement('div');
    item.className = 'error';
    const text = document.createElement('span');
    text.className = 'message';
    text.append(message);
    if (suggestion) {
      const s = document.createElement('span');
      s.className = 'suggestion';
      s.textContent = suggestion;
      text.append(s);
    }
    const close = document.createElement('button');
    close.type = 'button';
    close.textContent = 'dismiss';
    close.addEventListener('click', () => item.remove());
    item.append(text, close);
    root.append(item);
    console.error(err);
  };
}
