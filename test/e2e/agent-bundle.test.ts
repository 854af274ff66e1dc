/**
 * The single-file agent (`npm run build:agent`): built, copied alone into an empty folder, and run with plain
 * `node` against a control plane and a comfy-lite process; a job goes through it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  client,
  createTenant,
  invertWorkflow,
  isTerminal,
  startTestServer,
  waitForJob,
  type TestServer,
} from '../support/server.js';
import { readyLine, spawnComfyLite } from '../support/processes.js';
import { txt2img } from '../support/models.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const children: ChildProcess[] = [];
let server: TestServer | null = null;
let folder: string | null = null;

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
  await server?.close();
  if (folder !== null) rmSync(folder, { recursive: true, force: true });
});

describe('npm run build:agent', () => {
  it(
    'makes one file that runs jobs (API and UI format) from an empty folder with plain node',
    { timeout: 120_000 },
    async () => {
      await run('npm', ['run', '--silent', 'build:agent'], { cwd: ROOT });
      folder = mkdtempSync(join(tmpdir(), 'arrakis-agent-only-'));
      copyFileSync(join(ROOT, 'dist/arrakis-agent.mjs'), join(folder, 'arrakis-agent.mjs'));
      expect(readdirSync(folder)).toEqual(['arrakis-agent.mjs']);

      const version = await run(process.execPath, ['arrakis-agent.mjs', '--version'], { cwd: folder });
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);

      const comfyUrl = (await spawnComfyLite(children)).url;
      server = await startTestServer({ settings: { comfyLite: 0 } });
      const token = await server.admin('POST', '/v1/admin/worker-tokens', { name: 'bundle' });
      expect(token.status).toBe(201);

      const modelsDir = join(folder, 'models');
      const agent = spawn(
        process.execPath,
        [
          'arrakis-agent.mjs',
          '--server',
          server.url,
          '--comfyui',
          comfyUrl,
          '--name',
          'bundle',
          '--models-dir',
          modelsDir,
        ],
        // NODE_PATH and the like cleared: the file must stand alone.
        {
          cwd: folder,
          env: { PATH: process.env.PATH ?? '', ARRAKIS_WORKER_TOKEN: token.body.token },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      children.push(agent);
      await readyLine(agent, /arrakis agent wrk_\w+ serving /);

      const t = await createTenant(server);
      const c = client(server, t.key, 'alice');
      const submitted = await c.submit({ workflow: invertWorkflow() });
      expect(submitted.status).toBe(202);
      const job = await waitForJob(c, submitted.body.id, isTerminal, 30_000);
      expect(job.status).toBe('completed');
      expect(job.outputs).toHaveLength(1);
      // The agent reported its ComfyUI's nodes, so a UI-format export converts and runs through it.
      const ui: unknown = JSON.parse(readFileSync(join(ROOT, 'examples/ui/invert.json'), 'utf8'));
      const deadline = Date.now() + 15_000;
      let uiJob = await c.submit({ workflow: ui });
      while (
        uiJob.status === 422 &&
        String(uiJob.body.detail).includes('no worker has reported') &&
        Date.now() < deadline
      ) {
        await new Promise((res) => setTimeout(res, 100));
        uiJob = await c.submit({ workflow: ui });
      }
      expect(uiJob.status, JSON.stringify(uiJob.body)).toBe(202);
      expect((await waitForJob(c, uiJob.body.id, isTerminal, 30_000)).status).toBe('completed');

      const workers = await server.admin('GET', '/v1/admin/workers');
      expect(workers.body.data.some((w: any) => w.kind === 'remote' && w.name === 'bundle')).toBe(true);

      // The bundle carries no AWS SDK: a model registered with an s3:// source fails the job with a message
      // that says what to do instead (an https:// or presigned URL), not a missing-module crash.
      const reg = await server.admin('POST', '/v1/admin/models', {
        name: 'from-s3.safetensors',
        kind: 'checkpoint',
        url: 's3://models/from-s3.safetensors?endpoint=http%3A%2F%2F127.0.0.1%3A1&region=auto',
        sha256: 'a'.repeat(64),
        size: 16,
      });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
      const s3Job = await c.submit({ workflow: txt2img('from-s3.safetensors') });
      expect(s3Job.status, JSON.stringify(s3Job.body)).toBe(202);
      const failed = await waitForJob(c, s3Job.body.id, isTerminal, 30_000);
      expect(failed.status).toBe('failed');
      expect(failed.error.code).toBe('model_fetch_failed');
      expect(failed.error.message).toContain('the single-file agent cannot read s3:// sources');
      expect(failed.error.message).toContain('https://');
      expect(readFileSync(join(folder, 'arrakis-agent.mjs'), 'utf8')).not.toContain('S3Client');

      agent.kill('SIGTERM');
      const [code] = await once(agent, 'exit');
      expect(code).toBe(0);
    },
  );
});
