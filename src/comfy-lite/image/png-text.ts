/** PNG `tEXt` chunks, the way PIL's PngInfo.add_text writes ComfyUI's `prompt` and workflow metadata. */
import { crc32 } from 'node:zlib';

const SIGNATURE_LENGTH = 8;

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(Buffer.from(type, 'latin1'))), 0);
  return Buffer.concat([head, data, crc]);
}

/** Inserts one `tEXt` chunk per entry right after IHDR (values must be ASCII: they come from json.dumps). */
export function withTextChunks(png: Buffer, texts: ReadonlyArray<[string, string]>): Buffer {
  if (texts.length === 0) return png;
  const ihdrLength = png.readUInt32BE(SIGNATURE_LENGTH);
  const afterIhdr = SIGNATURE_LENGTH + 12 + ihdrLength;
  const inserted = texts.map(([key, value]) =>
    chunk(
      'tEXt',
      Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')]),
    ),
  );
  return Buffer.concat([png.subarray(0, afterIhdr), ...inserted, png.subarray(afterIhdr)]);
}

/** Reads every `tEXt` chunk of a PNG (used by tests and by anyone checking saved metadata). */
export function readTextChunks(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = SIGNATURE_LENGTH;
  while (at + 12 <= png.length) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'tEXt') {
      const data = png.subarray(at + 8, at + 8 + length);
      const zero = data.indexOf(0);
      out[data.toString('latin1', 0, zero)] = data.toString('latin1', zero + 1);
    }
    at += 12 + length;
  }
  return out;
}
