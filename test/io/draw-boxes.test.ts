import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { boxesSvg, boxLabel, classColor, DEFAULT_PALETTE, drawBoxes, encodePng, makeGrid } from '../../src/io/draw-boxes.js';

const gray = (w: number, h: number) => ({ data: new Uint8Array(w * h * 3).fill(128), width: w, height: h });
const px = (img: { data: Uint8Array; width: number }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

describe('drawBoxes', () => {
  it('strokes each box in its class colour and leaves the rest of the image alone', async () => {
    const img = gray(200, 150);
    const out = await drawBoxes(img, { xyxy: [40, 50, 160, 130, 10, 10, 30, 30], cls: [0, 6] }, { lineWidth: 4, labels: false });
    expect([out.width, out.height]).toEqual([200, 150]);
    expect(px(out, 100, 50)).toEqual([...DEFAULT_PALETTE[0]]);
    expect(px(out, 40, 90)).toEqual([...DEFAULT_PALETTE[0]]);
    expect(px(out, 10, 20)).toEqual([...DEFAULT_PALETTE[6]]);
    expect(px(out, 100, 90)).toEqual([128, 128, 128]);
    expect(px(out, 190, 140)).toEqual([128, 128, 128]);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([128, 128, 128]); // input untouched
  });

  it('draws a filled label tag above the box', async () => {
    const out = await drawBoxes(gray(200, 150), { xyxy: [40, 60, 160, 130], cls: [1], conf: [0.876] }, { names: ['a', 'bicycle'], lineWidth: 2, fontSize: 12 });
    // The tag spans y in [60 - 15, 60) from x = 39; the text starts at x = 41.
    expect(px(out, 40, 46)).toEqual([...DEFAULT_PALETTE[1]]);
  });

  it('labels read name and confidence; names are escaped; colours cycle', () => {
    expect(boxLabel({ xyxy: [0, 0, 1, 1], cls: [1], conf: [0.876] }, 0, ['a', 'bicycle'])).toBe('bicycle 0.88');
    expect(boxLabel({ xyxy: [0, 0, 1, 1], cls: [5] }, 0)).toBe('5');
    expect(boxesSvg(10, 10, { xyxy: [0, 0, 5, 5], cls: [0] }, { names: ['<a&b>'] })).toContain('&lt;a&amp;b&gt;');
    expect(classColor(20)).toEqual(classColor(0));
    expect(classColor(3, [[1, 2, 3]])).toEqual([1, 2, 3]);
  });
});

describe('makeGrid / encodePng', () => {
  it('tiles images with captions and encodes a PNG', async () => {
    const tiles = [gray(100, 50), gray(50, 100), gray(64, 64)].map((image, k) => ({ image, caption: `img${k}.jpg` }));
    const grid = await makeGrid(tiles, { tileSize: 80, gap: 4 });
    // 3 tiles -> 2 columns, 2 rows; each cell 80 wide, 80 + 16 caption high.
    expect([grid.width, grid.height]).toEqual([2 * 80 + 3 * 4, 2 * 96 + 3 * 4]);
    expect(px(grid, 4 + 40, 4 + 40)).toEqual([128, 128, 128]);
    expect(px(grid, 4 + 40, 4 + 5)).toEqual([40, 40, 40]); // letterboxed 100x50 tile: background above it
    const png = await encodePng(grid);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', grid.width, grid.height]);
  });
});
