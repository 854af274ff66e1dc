import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { buffer, text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, StorageConfigError } from '../../src/media/storage/open-storage.js';
import { S3Storage } from '../../src/media/storage/s3-storage.js';
import { InvalidKeyError } from '../../src/media/storage/object-key.js';
import { startS3, type RunningS3 } from './s3rver-server.js';

let s3: RunningS3;
let storage: S3Storage;

beforeAll(async () => {
  s3 = await startS3();
  storage = new S3Storage({
    bucket: s3.bucket,
    prefix: 'arrakis',
    endpoint: s3.endpoint,
    region: 'auto',
    forcePathStyle: true,
    credentials: s3.credentials,
    presignTtlSeconds: 600,
  });
});
afterAll(async () => {
  storage.close();
  await s3.stop();
});

describe('S3Storage against s3rver', () => {
  it('round-trips bytes and content type', async () => {
    const body = Buffer.from('\x89PNG fake image bytes');
    expect(await storage.put('jobs/j1/outputs/0-a.png', body, 'image/png')).toEqual({
      key: 'jobs/j1/outputs/0-a.png',
      size: body.length,
      contentType: 'image/png',
    });
    const got = await storage.get('jobs/j1/outputs/0-a.png');
    expect(got).toMatchObject({ size: body.length, contentType: 'image/png' });
    expect((await buffer(got!.body)).equals(body)).toBe(true);
  });

  it('stores a stream', async () => {
    await storage.put('jobs/j1/inputs/s', Readable.from([Buffer.from('a'), Buffer.from('bc')]), 'text/plain');
    expect(await text((await storage.get('jobs/j1/inputs/s'))!.body)).toBe('abc');
  });

  it('answers null for a missing object', async () => {
    expect(await storage.get('jobs/none')).toBeNull();
  });

  it('hands out a presigned GET that fetch() can read without credentials', async () => {
    await storage.put('jobs/j2/outputs/0.txt', Buffer.from('hello presigned'), 'text/plain');
    const url = await storage.presignedGetUrl('jobs/j2/outputs/0.txt', 60);
    expect(url).toContain('X-Amz-Expires=60');
    expect(url).toContain('/arrakis/jobs/j2/outputs/0.txt');
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('hello presigned');
    // The operator's cap wins over a longer request.
    expect(await storage.presignedGetUrl('jobs/j2/outputs/0.txt', 86_400)).toContain('X-Amz-Expires=600');
  });

  it('deletes a prefix', async () => {
    await storage.put('jobs/j3/a', Buffer.from('1'), 'text/plain');
    await storage.put('jobs/j3/b', Buffer.from('2'), 'text/plain');
    await storage.put('jobs/j30/a', Buffer.from('3'), 'text/plain');
    expect(await storage.deletePrefix('jobs/j3/')).toBe(2);
    expect(await storage.get('jobs/j3/a')).toBeNull();
    expect(await storage.get('jobs/j30/a')).not.toBeNull();
  });

  it('refuses traversal keys and checks the bucket', async () => {
    await expect(storage.put('../x', Buffer.from('x'), 'text/plain')).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(storage.check()).resolves.toBeUndefined();
    const missing = new S3Storage({
      bucket: 'no-such-bucket',
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    await expect(missing.check()).rejects.toThrow();
    missing.close();
  });

  it('stops a read its caller no longer wants, from a bucket that never answers', async () => {
    // A peer that takes the connection and the request and never answers (a stalled S3 endpoint).
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const stalled = new S3Storage({
      bucket: 'b',
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
    try {
      const started = Date.now();
      await expect(
        stalled.get('jobs/x/outputs/1.0-a.png', undefined, AbortSignal.timeout(100)),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      stalled.close();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});

describe('openStorage', () => {
  it('opens s3: with credentials from the standard AWS variables', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
    try {
      const spec = `s3://${s3.bucket}/via-spec?endpoint=${encodeURIComponent(s3.endpoint)}&region=auto&force_path_style=1`;
      const opened = openStorage(spec);
      await opened.put('k/1', Buffer.from('spec'), 'text/plain');
      expect(await text((await opened.get('k/1'))!.body)).toBe('spec');
      expect(await opened.presignedGetUrl('k/1', 30)).toContain('/via-spec/k/1');
    } finally {
      process.env.AWS_ACCESS_KEY_ID = saved.id;
      process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    }
  });

  it('opens file: folders', async () => {
    // A folder, behind the in-memory copy of recently stored outputs.
    expect(openStorage('file:./data/objects')).toMatchObject({
      backend: { root: expect.stringMatching(/data\/objects$/) },
    });
    expect(openStorage('file:///var/tmp/objs')).toMatchObject({ backend: { root: '/var/tmp/objs' } });
  });

  it.each([
    ['ftp://bucket'],
    ['objects'],
    ['file:'],
    ['s3://'],
    ['s3://bucket?endpoint=not-a-url'],
    ['s3://bucket?endpoint=ftp://x'],
    ['s3://bucket?force_path_style=maybe'],
    ['s3://bucket?regoin=auto'],
    ['s3://key:secret@bucket'],
    ['s3://bucket/a//b'],
  ])('names the setting when %s is malformed', (spec) => {
    expect(() => openStorage(spec)).toThrow(StorageConfigError);
    expect(() => openStorage(spec)).toThrow(/--storage \(ARRAKIS_STORAGE\)/);
  });
});
