/** The JSON shapes of server/API.md (contracts/api.ts), built from catalog entries. */
import { basename } from 'node:path';
import type { AnalysisSummary, OverlayInfo, SlideDetail, SlideSummary } from '../contracts/index.js';
import type { AnalysisEntry, OverlayRef } from './results-catalog.js';
import type { SlideEntry } from './slide-catalog.js';

/** URL path of a manifest-relative file, each segment escaped. */
function resultsUrl(aid: string, rel: string): string {
  return `/results/${aid}/${rel.split(/[\\/]/).map(encodeURIComponent).join('/')}`;
}

function overlayInfo(aid: string, o: OverlayRef): OverlayInfo {
  const e = o.entry;
  const seg = [o.variant, o.method, o.layer].map(encodeURIComponent).join('/');
  return {
    key: o.key,
    variant: o.variant,
    method: o.method,
    layer: o.layer,
    width: e.width,
    height: e.height,
    downsample: e.downsample,
    range: e.range,
    dzi: resultsUrl(aid, e.dzi),
    live: `/api/analyses/${aid}/overlays/${seg}.dzi`,
  };
}

export function analysisSummary(a: AnalysisEntry, slideId: string | null): AnalysisSummary {
  const m = a.manifest;
  // Weights are named by file name: the server's own paths stay on the server.
  const weights = m.model.weights.startsWith('random:') ? m.model.weights : basename(m.model.weights);
  return {
    id: a.id,
    slide: slideId,
    created: m.created,
    seconds: m.seconds,
    model: { weights, arch: m.model.arch, ...(m.model.surrogate ? { surrogate: basename(m.model.surrogate) } : {}) },
    patches: { size: m.patches.size, level: m.patches.level, overlap: m.patches.overlap, count: m.patches.count },
    tissueMask: resultsUrl(a.id, m.tissueMask),
    overlays: a.overlays.map((o) => overlayInfo(a.id, o)),
    outputs: a.outputs.map((o) => overlayInfo(a.id, o)),
  };
}

export function slideSummary(s: SlideEntry, analyses: AnalysisSummary[]): SlideSummary {
  const l0 = s.info.levels[0]!;
  return {
    id: s.id,
    name: s.name,
    width: l0.width,
    height: l0.height,
    levels: s.info.levels.length,
    vendor: s.info.vendor,
    mpp: s.info.mpp ?? null,
    magnification: s.info.magnification ?? null,
    dzi: `/slides/${s.id}.dzi`,
    thumbnail: `/slides/${s.id}/thumbnail.jpg`,
    analyses,
  };
}

export function slideDetail(s: SlideEntry, analyses: AnalysisSummary[]): SlideDetail {
  return {
    ...slideSummary(s, analyses),
    associated: s.info.associated.map((a) => ({ name: a.name, width: a.width, height: a.height, url: `/slides/${s.id}/associated/${a.name}.jpg` })),
  };
}

/**
 * Which slide each analysis belongs to: the slide at the manifest's path when it is one of ours,
 * else the first slide with the manifest's file name.
 */
export function matchAnalyses(slides: SlideEntry[], analyses: AnalysisEntry[]): Map<string, string | null> {
  const byPath = new Map(slides.map((s) => [s.path, s.id]));
  const byName = new Map<string, string>();
  for (const s of slides) if (!byName.has(s.name)) byName.set(s.name, s.id);
  return new Map(analyses.map((a) => [a.id, (a.slideReal && byPath.get(a.slideReal)) ?? byName.get(a.manifest.slide.name) ?? null]));
}
