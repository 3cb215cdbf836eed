/** Small generated slides for tests that must run without ../shared: pink tissue discs with texture on white glass. */
import sharp from 'sharp';

export async function writeTissueSlide(path: string, width: number, height: number, seed = 1): Promise<void> {
  const rgb = new Uint8Array(width * height * 3).fill(245);
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const discs = Array.from({ length: 3 }, () => ({ x: width * (0.2 + 0.6 * rand()), y: height * (0.2 + 0.6 * rand()), r: Math.min(width, height) * (0.2 + 0.15 * rand()) }));
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (!discs.some((d) => (x - d.x) ** 2 + (y - d.y) ** 2 < d.r ** 2)) continue;
      const n = rand();
      const nucleus = Math.sin(x / 7 + 3 * Math.sin(y / 11)) * Math.cos(y / 9) > 0.7;
      const k = (y * width + x) * 3;
      rgb[k] = nucleus ? 90 + 40 * n : 225 + 20 * n;
      rgb[k + 1] = nucleus ? 60 + 30 * n : 130 + 40 * n;
      rgb[k + 2] = nucleus ? 160 + 30 * n : 180 + 30 * n;
    }
  await sharp(rgb, { raw: { width, height, channels: 3 } }).tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'deflate', xres: 2000, yres: 2000, resolutionUnit: 'cm' }).toFile(path);
}
