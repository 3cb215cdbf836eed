export { absQuantile, divergingRgb, resizeNearestRgb } from './colormap.js';
export { writePanel, denormalizeImagenet, type PanelCell } from './panel.js';
