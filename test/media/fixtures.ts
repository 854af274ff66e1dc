/** Small real images for media tests, made with sharp so they decode. */
import sharp from 'sharp';

/** A w×h solid PNG. */
export async function makePng(width = 4, height = 3): Promise<Buffer> {
  return await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 10, b: 10 } } })
    .png()
    .toBuffer();
}

/** A w×h solid JPEG. */
export async function makeJpeg(width = 4, height = 3): Promise<Buffer> {
  return await sharp({ create: { width, height, channels: 3, background: { r: 10, g: 200, b: 10 } } })
    .jpeg()
    .toBuffer();
}
