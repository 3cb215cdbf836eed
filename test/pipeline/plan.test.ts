import { describe, expect, it } from 'vitest';
import { chooseGeometry } from '../../pipeline/index.js';
import type { SlideLevel } from '../../slide/index.js';

const level = (index: number, downsample: number): SlideLevel => ({ index, width: Math.round(8192 / downsample), height: Math.round(8192 / downsample), downsample, tileWidth: 256, tileHeight: 256, compression: 'JPEG', virtual: false });
const slide = { path: 's.svs', levels: [level(0, 1), level(1, 4.0002), level(2, 16.001)], mpp: { x: 0.25, y: 0.25 } };

describe('analysis geometry: a level or a target MPP', () => {
  it('a level reads that level as it is', () => {
    expect(chooseGeometry(slide, 256, { level: 1 })).toEqual({ downsample: 4.0002, readLevel: 1, readSize: 256, mpp: 0.25 * 4.0002 });
  });
  it('an MPP that a level matches reads that level without resizing', () => {
    expect(chooseGeometry(slide, 256, { mpp: 1.0 })).toMatchObject({ readLevel: 1, readSize: 256, mpp: 1.0 });
  });
  it('an MPP between levels reads the finer level and resizes (224 px at 0.5 µm/px from 0.25 µm/px = 448 px read)', () => {
    expect(chooseGeometry(slide, 224, { mpp: 0.5 })).toEqual({ downsample: 2, readLevel: 0, readSize: 448, mpp: 0.5 });
    expect(chooseGeometry(slide, 256, { mpp: 8 })).toMatchObject({ downsample: 32, readLevel: 2, readSize: Math.round((256 * 32) / 16.001) });
  });
  it('refuses what cannot be honoured, saying what to do', () => {
    expect(() => chooseGeometry(slide, 256, { mpp: 0.1 })).toThrow(/finer than the slide's own 0.2500/);
    expect(() => chooseGeometry({ ...slide, mpp: undefined }, 256, { mpp: 0.5 })).toThrow(/does not state its microns per pixel/);
    expect(() => chooseGeometry(slide, 256, { level: 3 })).toThrow(/level 3 does not exist \(the slide has 3: 0..2\)/);
  });
});
