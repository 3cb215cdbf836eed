/** The slide list: thumbnail, name, size and resolution, and how many analyses each slide has. */

/** @typedef {import('./api.js').SlideSummary} SlideSummary */

/**
 * @param {HTMLUListElement} list
 * @param {SlideSummary[]} slides
 * @param {string | null} current
 * @param {(id: string) => void} onOpen
 */
export function renderSlideList(list, slides, current, onOpen) {
  list.replaceChildren(
    ...slides.map((s) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.slide = s.id;
      b.setAttribute('aria-current', String(s.id === current));
      const img = document.createElement('img');
      img.src = s.thumbnail;
      img.alt = '';
      img.loading = 'lazy';
      const text = document.createElement('span');
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = s.name;
      const meta = document.createElement('span');
      meta.className = 'meta';
      const res = [`${s.width.toLocaleString('en')} × ${s.height.toLocaleString('en')} px`];
      if (s.mpp) res.push(`${Number(s.mpp.x.toPrecision(3))} µm/px`);
      if (s.magnification) res.push(`${s.magnification}×`);
      res.push(s.vendor);
      meta.textContent = res.join(' · ');
      text.append(name, document.createElement('br'), meta);
      if (s.analyses.length) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = s.analyses.length === 1 ? 'analysed' : `${s.analyses.length} analyses`;
        text.append(' ', badge);
      }
      b.append(img, text);
      b.addEventListener('click', () => onOpen(s.id));
      li.append(b);
      return li;
    }),
  );
}
