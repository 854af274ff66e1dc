/** `GET /view` and `POST /upload/image`, with ComfyUI's path rules (400 for `..`, 403 for a subfolder escape). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, normalize, resolve } from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import type { Handler } from './api-routes.js';
import { HttpStatus, sendEmpty, sendJson } from './http-util.js';
import { annotatedFilepath, dirByType, FORCED_DOWNLOAD_TYPES, guessContentType, isInside } from './paths.js';
import { SERVER_FEATURES } from './ws-hub.js';

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
}

function sendBuffer(res: Parameters<Handler>[2], body: Buffer, type: string, filename: string): void {
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.length,
    'Content-Disposition': `filename="${filename}"`,
  });
  res.end(body);
}

/** `preview=webp;90` re-encodes, `channel=rgb|a` picks channels; otherwise the file as it is. */
async function sendImageVariant(
  res: Parameters<Handler>[2],
  url: URL,
  file: string,
  filename: string,
): Promise<boolean> {
  const preview = url.searchParams.get('preview');
  const channel = url.searchParams.get('channel') ?? 'rgba';
  if (preview !== null) {
    const [fmt, q] = preview.split(';');
    const format = fmt === 'jpeg' ? 'jpeg' : 'webp';
    const quality = q !== undefined && /^\d+$/.test(q) ? Number(q) : 90;
    const img = sharp(await readFile(file)).removeAlpha();
    const body =
      format === 'jpeg' ? await img.jpeg({ quality }).toBuffer() : await img.webp({ quality }).toBuffer();
    sendBuffer(res, body, `image/${format}`, filename);
    return true;
  }
  if (channel === 'rgb') {
    sendBuffer(
      res,
      await sharp(await readFile(file))
        .removeAlpha()
        .png()
        .toBuffer(),
      'image/png',
      filename,
    );
    return true;
  }
  if (channel === 'a') {
    const src = sharp(await readFile(file));
    const { width = 1, height = 1, hasAlpha } = await src.metadata();
    const alpha = hasAlpha
      ? await src.extractChannel('alpha').raw().toBuffer()
      : Buffer.alloc(width * height, 255);
    const rgba = Buffer.alloc(width * height * 4);
    for (let p = 0; p < width * height; p++) rgba[p * 4 + 3] = alpha[p]!;
    sendBuffer(
      res,
      await sharp(rgba, { raw: { width, height, channels: 4 } })
        .png()
        .toBuffer(),
      'image/png',
      filename,
    );
    return true;
  }
  return false;
}

export const viewFile: Handler = async (ctx, _req, res, url) => {
  const requested = url.searchParams.get('filename');
  if (requested === null) return sendEmpty(res, 404);
  const annotated = annotatedFilepath(ctx.dirs, requested);
  const name = annotated.name;
  if (name === '') return sendEmpty(res, 400);
  if (name.startsWith('/') || name.includes('..')) return sendEmpty(res, 400);
  let dir = annotated.dir ?? dirByType(ctx.dirs, url.searchParams.get('type') ?? 'output');
  if (dir === null) return sendEmpty(res, 400);
  const subfolder = url.searchParams.get('subfolder');
  if (subfolder !== null) {
    const full = resolve(dir, subfolder);
    if (!isInside(dir, full)) return sendEmpty(res, 403);
    dir = full;
  }
  const filename = basename(name);
  const file = join(dir, filename);
  if (!(await isFile(file))) return sendEmpty(res, 404);
  const type = guessContentType(filename);
  if (type?.startsWith('image/') === true && (await sendImageVariant(res, url, file, filename))) return;
  const contentType = type === null || FORCED_DOWNLOAD_TYPES.has(type) ? 'application/octet-stream' : type;
  const { size } = await stat(file);
  res.writeHead(200, {
    'Content-Type': contentType,
    'Content-Length': size,
    'Content-Disposition': `filename="${filename}"`,
  });
  createReadStream(file).pipe(res);
};

async function readForm(req: Parameters<Handler>[1], url: URL): Promise<FormData> {
  if (Number(req.headers['content-length'] ?? 0) > SERVER_FEATURES.max_upload_size) throw new HttpStatus(413);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
  const body = Readable.toWeb(req) as ReadableStream<Uint8Array>; // node's web stream type differs only nominally
  try {
    return await new Request(url, {
      method: 'POST',
      headers,
      body,
      duplex: 'half',
    } as RequestInit).formData();
  } catch {
    return new FormData();
  }
}

const sameBytes = async (path: string, bytes: Buffer): Promise<boolean> =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex') === createHash('sha256').update(bytes).digest('hex');

export const uploadImage: Handler = async (ctx, req, res, url) => {
  const form = await readForm(req, url);
  const image = form.get('image');
  if (image === null || typeof image === 'string') return sendEmpty(res, 400);
  const field = (name: string): string | null => {
    const v = form.get(name);
    return typeof v === 'string' ? v : null;
  };
  const type = field('type') ?? 'input';
  const uploadDir = dirByType(ctx.dirs, type);
  if (uploadDir === null) throw new HttpStatus(500);
  let filename = image.name;
  if (filename === '') return sendEmpty(res, 400);
  const subfolder = field('subfolder') ?? '';
  const folder = resolve(uploadDir, normalize(subfolder === '' ? '.' : subfolder));
  let filepath = resolve(folder, filename);
  if (!isInside(uploadDir, filepath)) return sendEmpty(res, 400);
  await mkdir(folder, { recursive: true });
  const bytes = Buffer.from(await image.arrayBuffer());
  const overwrite = field('overwrite');
  let duplicate = false;
  if (overwrite !== 'true' && overwrite !== '1') {
    const ext = extname(filename);
    const stem = filename.slice(0, filename.length - ext.length);
    for (
      let i = 1;
      await stat(filepath).then(
        () => true,
        () => false,
      );
      i++
    ) {
      if (await sameBytes(filepath, bytes)) {
        duplicate = true;
        break;
      }
      filename = `${stem} (${i})${ext}`;
      filepath = join(folder, filename);
    }
  }
  if (!duplicate) await writeFile(filepath, bytes);
  sendJson(res, 200, { name: filename, subfolder, type });
};
