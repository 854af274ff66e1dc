/** examples/client.ts runs against serve + comfy-lite: it submits, streams progress, saves the PNG, verifies the webhook. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/free-port.js';
import { createTenant, startTestServer, type TestServer } from '../support/server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let server: TestServer;
let port = 0;

beforeAll(async () => {
  port = await freePort();
  server = await startTestServer({ settings: { comfyLite: 1, fetchAllow: [`127.0.0.1:${port}`] } });
});
afterAll(async () => {
  await server.close();
});

describe('examples/client.ts', () => {
  it('submits, streams progress, downloads the output and verifies the webhook', async () => {
    const t = await createTenant(server);
    const workflow = join(server.dir, 'slow-invert.json');
    writeFileSync(
      workflow,
      JSON.stringify({
        workflow: {
          '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0x102030 } },
          '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds: 0.5 } },
          '3': { class_type: 'ImageInvert', inputs: { image: ['2', 0] } },
          '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'ex' } },
        },
      }),
    );
    const out = join(server.dir, 'out.png');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'examples/client.ts'],
      {
        cwd: root,
        timeout: 60_000,
        env: {
          ...process.env,
          ARRAKIS_URL: server.url,
          ARRAKIS_KEY: t.key,
          ARRAKIS_USER: 'example',
          WEBHOOK_SECRET: t.webhookSecret,
          WEBHOOK_PORT: String(port),
          WORKFLOW: workflow,
          OUT: out,
        },
      },
    );
    expect(stdout).toMatch(/^submitted job_/m);
    expect(stdout).toMatch(/^progress \d+(\.\d+)?\/\d+/m);
    expect(stdout).toContain('done: completed');
    expect(stdout).toMatch(/webhook job\.completed verified for job_/);
    const { data, info } = await sharp(readFileSync(out)).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(8);
    expect([...data.subarray(0, 3)]).toEqual([0xff - 0x10, 0xff - 0x20, 0xff - 0x30]);
  }, 90_000);
});
