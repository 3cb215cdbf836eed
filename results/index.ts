/** Reading finished analyses: GeoJSON regions (QuPath), contours, localisation against ground truth. */
export { ContourTracer, traceContours, simplifyRing, ringArea, type Component, type Point, type Ring, type TraceOptions } from './contours.js';
export { readManifest, findOverlay } from './manifest.js';
export { exportSaliencyGeoJson, saliencyRegions, type SaliencyRegions, type RegionOptions, type RegionExport, type RegionFeature, type RegionCollection, type RegionSign, type RegionMeasurements, type PolygonGeometry } from './geojson.js';
export { localisation, maskCoverage, readBinaryMask, type GroundTruthMask, type LocalisationOptions, type LocalisationRow, type LocalisationScore, type BinaryMask } from './localisation.js';
export { exportOverlayTiff, tiffLevels, type OverlayTiffOptions, type OverlayTiffResult, type TiffLevelInfo } from './export-tiff.js';
export { exportDetections, pixelSpan, type DetectionsOptions, type DetectionsResult, type DetectionFeature } from './export-detections.js';
export { analysedPatches, type AnalysedPatch } from './export-patches.js';
export { overlayByKey } from './export-common.js';
export { regionStats, checkStatsPolygon, type RegionStats, type RegionStatsOptions } from './region-stats.js';
export { measureSeams, type SeamMeasure } from './seams.js';
