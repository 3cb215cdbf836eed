/**
 * The record of one parsed TIFF directory, on its own so that every directory parser (the TIFF reader's and
 * NDPI's, which has 64-bit offsets) makes the same record without importing each other.
 */
/** Everything the reader needs from one IFD, loaded once at open. */
export interface TiffDirectory {
  /** Position in the main chain; for a SubIFD, its position among its parent's SubIFDs. */
  index: number;
  /** For a SubIFD: the main-chain index of the directory that lists it. */
  subIfdOf?: number;
  /** The directories its SubIFDs tag (330) points to, in order (each followed along its own `next` chain); empty when none. */
  subIfds: TiffDirectory[];
  width: number;
  height: number;
  tiled: boolean;
  /** Tile size, or for strips the image width and rows per strip. */
  blockWidth: number;
  blockHeight: number;
  blocksAcross: number;
  blocksDown: number;
  compression: number;
  photometric: number;
  samplesPerPixel: number;
  bitsPerSample: number[];
  planarConfiguration: number;
  predictor: number;
  newSubfileType: number;
  description?: string;
  /** Pixels per ResolutionUnit. */
  xResolution?: number;
  yResolution?: number;
  resolutionUnit?: number;
  jpegTables?: Uint8Array;
  /** Byte ranges of the tiles or strips, row-major. */
  offsets: Float64Array;
  byteCounts: Float64Array;
  /** Any other tag's value as geotiff loads it (vendor tags: NDPI, XMP, SubIFDs), undefined when absent. */
  readTag(tag: number): Promise<unknown>;
}
