/**
 * One OpenSeadragon viewer showing a slide and, as more TiledImages over it, named overlay layers
 * (model output, saliency, comparison) drawn from the server's live overlay tiles. Each layer can be
 * clipped to the left or right of a vertical line (the curtain).
 */
import { getDzi } from './api.js';

/** @typedef {import('./api.js').OverlayInfo} OverlayInfo */
/** @typedef {import('./api.js').SlideSummary} SlideSummary */
/** @typedef {import('./state.js').Colormap} Colormap */
/** @typedef {'output' | 'main' | 'compare'} LayerName */
/**
 * @typedef {object} LayerSpec
 * @property {OverlayInfo} info
 * @property {Colormap} colormap
 * @property {number} lo
 * @property {number} hi
 * @property {number} opacity  0 hides the layer
 * @property {'left' | 'right' | null} clip  side of the curtain line it is shown on
 * @property {number} [version]  of a running analysis' overlay: a new one loads the tiles again (more of it is computed)
 */
/** @typedef {{ spec: LayerSpec | null, item: OpenSeadragon.TiledImage | null, url: string, token: number }} Layer */

const OSD = OpenSeadragon;
/** bottom to top */
const ORDER = /** @type {const} */ (['output', 'main', 'compare']);
// descriptors are fetched once per overlay
/** @type {Map<string, ReturnType<typeof getDzi>>} */
const dziCache = new Map();

export class SlideView {
  /**
   * @param {HTMLElement} element
   * @param {{ navigator: boolean, onError: (message: string) => void, onLoaded?: (loaded: boolean) => void }} options
   */
  constructor(element, options) {
    this.element = element;
    this.onError = options.onError;
    this.swapping = 0;
    /** @type {SlideSummary | null} */
    this.slide = null;
    /** @type {Map<LayerName, Layer>} */
    this.layers = new Map(ORDER.map((n) => [n, { spec: null, item: null, url: '', token: 0 }]));
    /** curtain line in viewer-element pixels */
    this.splitPx = 0;
    this.generation = 0;
    this.viewer = OSD({
      element,
      prefixUrl: '/vendor/openseadragon/images/',
      // the 2D canvas drawer: per-image clip and opacity, and pixels a test can read
      drawer: 'canvas',
      showNavigationControl: false,
      showNavigator: options.navigator,
      navigatorPosition: 'BOTTOM_RIGHT',
      navigatorSizeRatio: 0.16,
      navigatorAutoFade: false,
      // 4 screen pixels per slide pixel at the deepest zoom: single nuclei fill the screen
      maxZoomPixelRatio: 4,
      // overlay pixels stay sharp squares (each is one value of the layer), slide pixels too
      imageSmoothingEnabled: false,
      // entering side-by-side halves the pane: keep the magnification, not the field of view
      preserveImageSizeOnResize: true,
      visibilityRatio: 0.2,
      animationTime: 0.5,
      zoomPerScroll: 1.5,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
      timeout: 60_000,
    });
    // OpenSeadragon 6 hands its viewport the very Point it keeps as the previous container size, so
    // the first resize mutates both and the magnification is not kept: give the viewport its own.
    const vp = /** @type {{ containerSize: OpenSeadragon.Point }} */ (/** @type {unknown} */ (this.viewer.viewport));
    vp.containerSize = vp.containerSize.clone();
    const failed = new Set();
    this.viewer.addHandler('tile-load-failed', (e) => {
      // one message per image, not one per tile
      const ev = /** @type {{ tiledImage?: OpenSeadragon.TiledImage, message?: string }} */ (/** @type {unknown} */ (e));
      if (ev.tiledImage && failed.has(ev.tiledImage)) return;
      failed.add(ev.tiledImage);
      this.onError(`some tiles could not be loaded: ${ev.message ?? 'unknown error'}`);
    });
    this.viewer.addHandler('viewport-change', () => this.updateClips());
    this.viewer.addHandler('resize', () => this.updateClips());
    // whether every image has the tiles of the current view, for the page (and for tests); the
    // viewer's own aggregate event misses images added while it already reads "loaded"
    this.onLoaded = options.onLoaded;
    this.viewer.world.addHandler('add-item', (e) => {
      const item = /** @type {{ item: OpenSeadragon.TiledImage }} */ (/** @type {unknown} */ (e)).item;
      item.addHandler('fully-loaded-change', () => this.checkLoaded());
      this.checkLoaded();
    });
    this.viewer.world.addHandler('remove-item', () => this.checkLoaded());
  }

  /**
   * Opens a slide (overlays are dropped: set them again).
   * @param {SlideSummary} slide
   * @returns {Promise<void>}
   */
  open(slide) {
    this.generation++;
    this.slide = slide;
    for (const [name, layer] of this.layers) {
      Object.assign(layer, { spec: null, item: null, url: '', token: layer.token + 1 });
      delete this.element.dataset[name];
    }
    this.swapping = 0;
    this.element.dataset.swapping = '0';
    this.element.dataset.loaded = 'false';
    return new Promise((resolve, reject) => {
      const ok = () => {
        this.viewer.removeHandler('open-failed', fail);
        resolve();
      };
      const fail = (/** @type {unknown} */ e) => {
        this.viewer.removeHandler('open', ok);
        reject(new Error(`the slide ${slide.name} could not be opened: ${/** @type {{ message?: string }} */ (e).message ?? 'unknown error'}`));
      };
      this.viewer.addOnceHandler('open', ok);
      this.viewer.addOnceHandler('open-failed', fail);
      this.viewer.open({ tileSource: slide.dzi });
    });
  }

  /** The slide's TiledImage (level-0 pixel coordinates), once open. */
  get slideItem() {
    const item = this.viewer.world.getItemAt(0);
    return item && this.slide ? item : null;
  }

  /** @returns {{ x: number, y: number, zoom: number } | null} centre in level-0 px, screen px per level-0 px */
  getView() {
    const item = this.slideItem;
    if (!item) return null;
    const vp = this.viewer.viewport;
    const c = item.viewportToImageCoordinates(vp.getCenter(false));
    return { x: c.x, y: c.y, zoom: item.viewportToImageZoom(vp.getZoom(false)) };
  }

  /** @param {{ x: number, y: number, zoom: number }} view @param {boolean} [immediately] */
  setView(view, immediately = true) {
    const item = this.slideItem;
    if (!item) return;
    const vp = this.viewer.viewport;
    vp.zoomTo(item.imageToViewportZoom(view.zoom), undefined, immediately);
    vp.panTo(item.imageToViewportCoordinates(view.x, view.y), immediately);
    vp.applyConstraints(immediately);
  }

  /** Screen pixels per level-0 pixel now (during animations too). */
  imageZoom() {
    const item = this.slideItem;
    return item ? item.viewportToImageZoom(this.viewer.viewport.getZoom(true)) : 0;
  }

  /**
   * Shows (or removes, with null) a layer; only the opacity changes in place, anything else loads
   * new tiles, and the old image stays until the new one has drawn (no blank flash).
   * @param {LayerName} name
   * @param {LayerSpec | null} spec
   */
  async setLayer(name, spec) {
    const layer = /** @type {Layer} */ (this.layers.get(name));
    const token = ++layer.token;
    const generation = this.generation;
    layer.spec = spec;
    if (!spec || !this.slide) {
      if (layer.item) this.viewer.world.removeItem(layer.item);
      Object.assign(layer, { item: null, url: '' });
      delete this.element.dataset[name];
      return;
    }
    const url = `${spec.info.live}|${spec.colormap}|${spec.lo}|${spec.hi}|${spec.version ?? ''}`;
    if (layer.item && layer.url === url) {
      layer.item.setOpacity(spec.opacity);
      this.updateClips();
      return;
    }
    const slide = this.slide;
    let dzi = dziCache.get(spec.info.live);
    if (!dzi) dziCache.set(spec.info.live, (dzi = getDzi(spec.info.live)));
    let geometry;
    try {
      geometry = await dzi;
    } catch (err) {
      dziCache.delete(spec.info.live);
      throw err;
    }
    if (token !== layer.token || generation !== this.generation) return;
    const files = spec.info.live.replace(/\.dzi$/, '_files');
    const query = `colormap=${spec.colormap}&min=${spec.lo}&max=${spec.hi}${spec.version === undefined ? '' : `&v=${spec.version}`}`;
    const tileSource = {
      width: geometry.width,
      height: geometry.height,
      tileSize: geometry.tileSize,
      tileOverlap: geometry.overlap,
      minLevel: 0,
      maxLevel: Math.ceil(Math.log2(Math.max(geometry.width, geometry.height))),
      getTileUrl: (/** @type {number} */ level, /** @type {number} */ x, /** @type {number} */ y) => `${files}/${level}/${x}_${y}.${geometry.format}?${query}`,
    };
    /** @type {OpenSeadragon.TiledImage} */
    const item = await new Promise((resolve, reject) => {
      this.viewer.addTiledImage({
        tileSource,
        // the overlay covers width*downsample level-0 pixels from the slide's corner (API.md)
        x: 0,
        y: 0,
        width: (spec.info.width * spec.info.downsample) / slide.width,
        opacity: spec.opacity,
        success: (e) => resolve(/** @type {{ item: OpenSeadragon.TiledImage }} */ (/** @type {unknown} */ (e)).item),
        error: (/** @type {{ message?: string }} */ e) => reject(new Error(`overlay ${spec.info.key} could not be added: ${e.message ?? 'unknown error'}`)),
      });
    });
    if (token !== layer.token || generation !== this.generation) {
      this.viewer.world.removeItem(item);
      return;
    }
    const old = layer.item;
    Object.assign(layer, { item, url });
    this.element.dataset[name] = url;
    this.restack();
    this.updateClips();
    if (old) {
      this.element.dataset.swapping = String(++this.swapping);
      const drop = () => {
        if (this.viewer.world.getIndexOfItem(old) === -1) return;
        this.viewer.world.removeItem(old);
        this.element.dataset.swapping = String(--this.swapping);
      };
      const timer = setTimeout(drop, 1500);
      item.whenFullyLoaded(() => {
        clearTimeout(timer);
        drop();
      });
    }
  }

  checkLoaded() {
    const world = this.viewer.world;
    let loaded = true;
    for (let i = 0; i < world.getItemCount(); i++) loaded &&= world.getItemAt(i).getFullyLoaded();
    const text = String(loaded);
    if (this.element.dataset.loaded === text) return;
    this.element.dataset.loaded = text;
    this.onLoaded?.(loaded);
  }

  /** Removes every overlay layer (their tiles leave the cache with them). */
  async clearLayers() {
    await Promise.all(ORDER.map((name) => this.setLayer(name, null)));
  }

  /** Keeps the world in ORDER above the slide, whatever order the images finished loading in. */
  restack() {
    const world = this.viewer.world;
    let i = 1;
    for (const name of ORDER) {
      const item = this.layers.get(name)?.item;
      if (item && world.getIndexOfItem(item) !== -1) world.setItemIndex(item, Math.min(i++, world.getItemCount() - 1));
    }
  }

  /** @param {number} px curtain line, viewer-element pixels from the left */
  setSplit(px) {
    this.splitPx = px;
    this.updateClips();
  }

  /** Clip rectangles are in each image's own pixels: recomputed whenever the view moves. */
  updateClips() {
    for (const layer of this.layers.values()) {
      const { item, spec } = layer;
      if (!item || !spec) continue;
      if (!spec.clip) {
        if (item.getClip()) item.setClip(null);
        continue;
      }
      const size = item.source.dimensions;
      const x = Math.max(0, Math.min(size.x, item.viewerElementToImageCoordinates(new OSD.Point(this.splitPx, 0)).x));
      item.setClip(spec.clip === 'left' ? new OSD.Rect(0, 0, x, size.y) : new OSD.Rect(x, 0, size.x - x, size.y));
    }
  }

  destroy() {
    this.viewer.destroy();
  }
}
