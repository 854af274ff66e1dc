/** Upload, view, object_info and the small routes, against upload-loadimage-queue.json and object_info-subset.json. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import { capture, doneOf, getJson, postJson, shape, startServer } from './helpers.js';

const cap = capture('upload-loadimage-queue.json') as Record<string, [number, unknown]>;

let server: ComfyLiteServer;
let pngA: Buffer;
let pngB: Buffer;
beforeAll(async () => {
  server = await startServer();
  const solid = (v: number): Promise<Buffer> =>
    sharp({ create: { width: 20, height: 10, channels: 3, background: { r: v, g: v, b: v } } })
      .png()
      .toBuffer();
  [pngA, pngB] = await Promise.all([solid(10), solid(200)]);
});
afterAll(async () => {
  await server.close();
});

async function upload(
  bytes: Buffer,
  fields: Record<string, string>,
  filename = 'up.png',
): Promise<[number, unknown]> {
  const form = new FormData();
  form.set('image', new Blob([bytes], { type: 'image/png' }), filename);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`${server.url}/upload/image`, { method: 'POST', body: form });
  const text = await res.text();
  return [res.status, text === '' ? null : JSON.parse(text)];
}

describe('POST /upload/image', () => {
  it('dedups identical bytes, renames different bytes, overwrites on request, refuses escapes', async () => {
    expect(await upload(pngA, { subfolder: 'tenantA' })).toEqual(cap.upload1);
    expect(await upload(pngA, { subfolder: 'tenantA' })).toEqual(cap.upload_same_again_dedup);
    expect(await upload(pngB, { subfolder: 'tenantA' })).toEqual(cap.upload_diff_same_name);
    expect(await upload(pngB, { subfolder: 'tenantA', overwrite: 'true' })).toEqual(
      cap.upload_overwrite_true,
    );
    expect((await readFile(join(server.dataDir, 'input', 'tenantA', 'up.png'))).equals(pngB)).toBe(true);
    expect(await upload(pngA, { subfolder: '../../escape' })).toEqual(cap.upload_escape);
    expect(await upload(pngA, {}, '../evil.png')).toEqual(cap.upload_escape);
  });

  it('serves the upload back through /view with its content type', async () => {
    const res = await fetch(`${server.url}/view?filename=up.png&type=input&subfolder=tenantA`);
    expect(res.status).toBe(cap['GET /view?filename=up.png&type=input&subfolder=tenantA']![0]);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toBe('filename="up.png"');
    expect(Buffer.from(await res.arrayBuffer()).equals(pngB)).toBe(true);
  });
});

describe('GET /view errors', () => {
  it.each([
    ['/view?filename=nope.png', 'GET /view?filename=nope.png'],
    ['/view?filename=../x.png', 'GET /view?filename=../x.png'],
    [
      '/view?filename=basic_00001_.png&subfolder=../&type=output',
      'GET /view?filename=basic_00001_.png&subfolder=../&type=output',
    ],
  ])('%s', async (path, key) => {
    const res = await fetch(`${server.url}${path}`);
    expect([res.status, (await res.text()) === '' ? null : 'body']).toEqual(cap[key]);
  });

  it('answers 400 for a leading slash and an unknown type, and re-encodes a preview', async () => {
    expect((await fetch(`${server.url}/view?filename=/etc/passwd`)).status).toBe(400);
    expect((await fetch(`${server.url}/view?filename=up.png&type=nope`)).status).toBe(400);
    const preview = await fetch(
      `${server.url}/api/view?filename=up.png&type=input&subfolder=tenantA&preview=webp;50`,
    );
    expect(preview.headers.get('content-type')).toBe('image/webp');
    expect((await sharp(Buffer.from(await preview.arrayBuffer())).metadata()).format).toBe('webp');
  });
});

describe('object_info and listings', () => {
  it('answers object_info entries exactly as ComfyUI does', async () => {
    const all = (await getJson(server, '/object_info')).json as Record<string, unknown>;
    const theirs = capture('object_info-subset.json') as Record<string, Record<string, unknown>>;
    for (const [name, entry] of Object.entries(theirs)) {
      if (name === 'LoadImage') continue;
      expect(all[name]).toEqual(entry);
      expect(Object.keys(all[name] as object)).toEqual(Object.keys(entry));
    }
    const load = all.LoadImage as { input: { required: { image: [string[], unknown] } } };
    // Uploads so far went to tenantA/: the list holds top-level files only.
    expect(load.input.required.image).toEqual([[], { image_upload: true }]);
    expect(all.ArrakisDelay).toMatchObject({
      input: { required: { image: ['IMAGE'], seconds: ['FLOAT', { min: 0, max: 3600 }] } },
    });
    expect(await getJson(server, '/object_info/NoSuch')).toEqual({ status: 200, json: {} });
    expect(await getJson(server, '/api/object_info/ImageInvert')).toEqual({
      status: 200,
      json: cap['GET /api/object_info/ImageInvert']![1],
    });
  });

  it('lists top-level input images in LoadImage', async () => {
    await upload(pngA, {}, 'top.png');
    const info = (await getJson(server, '/object_info/LoadImage')).json as {
      LoadImage: { input: { required: { image: [string[]] } } };
    };
    expect(info.LoadImage.input.required.image[0]).toEqual(['top.png']);
  });

  it.each([
    'GET /prompt',
    'GET /api/prompt',
    'GET /queue',
    'GET /embeddings',
    'GET /models',
    'GET /models/checkpoints',
    'GET /features',
    'GET /api/features',
    'GET /extensions',
  ])('%s', async (key) => {
    const res = await fetch(`${server.url}${key.slice(4)}`);
    expect([res.status, await res.json()]).toEqual(cap[key]);
  });

  it('answers 404 for unknown model folders and routes, and system_stats with the real shape', async () => {
    expect((await fetch(`${server.url}/models/nope`)).status).toBe(404);
    const jobs = await fetch(`${server.url}/api/jobs`);
    expect([jobs.status, await jobs.text()]).toEqual(cap['GET /api/jobs']);
    const withoutArgv = (v: unknown): unknown =>
      shape({ ...(v as { system: object }), system: { ...(v as { system: object }).system, argv: [] } });
    const stats = await getJson(server, '/api/system_stats');
    expect(withoutArgv(stats.json)).toEqual(withoutArgv(cap['GET /api/system_stats']![1]));
    expect(await postJson(server, '/free', { unload_models: true, free_memory: true })).toMatchObject({
      status: 200,
      text: '',
    });
  });
});

describe('history listing', () => {
  it('pages with max_items, deletes and clears', async () => {
    const ids = ['h1', 'h2', 'h3'];
    for (const [i, id] of ids.entries()) {
      const done = doneOf(server, id);
      const prompt = {
        '1': { class_type: 'EmptyImage', inputs: { width: 2, height: 2, batch_size: 1, color: i } },
        '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      };
      await postJson(server, '/prompt', { prompt, prompt_id: id });
      await done;
    }
    const page = (await getJson(server, '/history?max_items=2')).json as Record<
      string,
      Record<string, unknown>
    >;
    expect(Object.keys(page)).toEqual(['h2', 'h3']);
    expect(Object.keys(page.h3!)).toEqual(
      (Object.values(cap['GET /history?max_items=2']![1] as object)[0] as { keys: string[] }).keys,
    );
    expect(Object.keys((await getJson(server, '/history?max_items=1&offset=0')).json as object)).toEqual([
      'h1',
    ]);
    expect(await postJson(server, '/history', { delete: ['h2'] })).toMatchObject(
      cap['POST /history delete']![0] === 200 ? { status: 200, text: '' } : {},
    );
    expect((await getJson(server, '/history/h2')).json).toEqual(cap['after delete']![1]);
    await postJson(server, '/api/history', { clear: true });
    expect((await getJson(server, '/history')).json).toEqual({});
  });
});
