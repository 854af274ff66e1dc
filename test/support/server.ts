/**
 * A real control plane on 127.0.0.1 for end-to-end tests, on a fresh SQLite file or a fresh Postgres
 * database, with helpers to make accounts and keys through the admin API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/load.js';
import type { SettingName } from '../../src/config/settings.js';
import { startControlPlane, type ControlPlane } from '../../src/runtime/control-plane.js';
import { createTestDatabase } from './pg.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export type Backend = 'sqlite' | 'postgres';

export interface TestServer {
  url: string;
  cp: ControlPlane;
  config: Config;
  dir: string;
  /** Calls the admin API; returns status and parsed JSON (or null). */
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  backend?: Backend;
  /** Use this database URL instead of making one (a second replica on the same database). */
  db?: string;
  settings?: Partial<Record<SettingName, unknown>>;
  /** comfy-lite inside the test process (for its event and socket hooks) instead of child processes. */
  comfyLiteInProcess?: boolean;
}

/** Starts a control plane; close() stops it and removes its files (and its database when it made one). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'arrakis-test-'));
  let dropDb: (() => Promise<void>) | null = null;
  let db = options.db;
  if (db === undefined) {
    if (options.backend === 'postgres') {
      const created = await createTestDatabase();
      db = created.url;
      dropDb = created.drop;
    } else {
      db = `sqlite:${join(dir, 'arrakis.db')}`;
    }
  }
  const config = loadConfig(
    {},
    {},
    {
      db,
      storage: `file:${join(dir, 'objects')}`,
      port: 0,
      adminKey: ADMIN_KEY,
      logLevel: 'silent',
      ...options.settings,
    },
  );
  const cp = await startControlPlane(config, { comfyLiteInProcess: options.comfyLiteInProcess === true });
  const admin = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${cp.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  };
  return {
    url: cp.url,
    cp,
    config,
    dir,
    admin,
    async close() {
      await cp.close();
      await dropDb?.();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Tenant {
  accountId: string;
  key: string;
  keyId: string;
  webhookSecret: string;
}

/** Creates an account (with optional limits/jwt) and an API key with the given scopes. */
export async function createTenant(
  server: TestServer,
  account: Record<string, unknown> = {},
  scopes?: string[],
): Promise<Tenant> {
  const a = await server.admin('POST', '/v1/admin/accounts', { name: 'tenant', ...account });
  if (a.status !== 201) throw new Error(`account: ${a.status} ${JSON.stringify(a.body)}`);
  const k = await server.admin('POST', `/v1/admin/accounts/${a.body.id}/keys`, {
    name: 'k',
    ...(scopes === undefined ? {} : { scopes }),
  });
  if (k.status !== 201) throw new Error(`key: ${k.status} ${JSON.stringify(k.body)}`);
  return { accountId: a.body.id, key: k.body.key, keyId: k.body.id, webhookSecret: a.body.webhook_secret };
}

/** A job-API client acting as `userId` with `key`. */
export function client(server: { url: string }, key: string, userId: string | null) {
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    authorization: `Bearer ${key}`,
    ...(userId === null ? {} : { 'x-user-id': userId }),
    ...extra,
  });
  const call = async (method: string, path: string, body?: unknown, extra: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: headers(body === undefined ? extra : { 'content-type': 'application/json', ...extra }),
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      redirect: 'manual',
    });
    const text = await res.text();
    let json: any = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  };
  return {
    submit: (body: unknown, extra: Record<string, string> = {}) => call('POST', '/v1/jobs', body, extra),
    get: (id: string) => call('GET', `/v1/jobs/${id}`),
    list: (query = '') => call('GET', `/v1/jobs${query}`),
    cancel: (id: string) => call('DELETE', `/v1/jobs/${id}`),
    usage: () => call('GET', '/v1/usage'),
    call,
  };
}

/** EmptyImage → ImageInvert → SaveImage: the smallest real workflow. */
export function invertWorkflow(color = 0x101010, size = 8): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: size, height: size, batch_size: 1, color } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'out' } },
  };
}

/** LoadImage(the job input `input`) → ImageInvert → SaveImage. */
export function loadInvertWorkflow(input = 'photo'): Record<string, unknown> {
  return {
    '1': { class_type: 'LoadImage', inputs: { image: input } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
  };
}

/** A solid-colour PNG of the given size. */
export async function solidPng(
  width: number,
  height: number,
  rgb: [number, number, number],
): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const [r, g, b] = rgb;
  return await sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
}

/** EmptyImage → ArrakisDelay(seconds) → SaveImage: a job that runs as long as asked. */
export function delayWorkflow(seconds: number): Record<string, unknown> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'ArrakisDelay', inputs: { image: ['1', 0], seconds } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'out' } },
  };
}

/** Polls GET /v1/jobs/{id} until `done(job)` or the deadline. */
export async function waitForJob(
  c: ReturnType<typeof client>,
  id: string,
  done: (job: any) => boolean,
  timeoutMs = 15_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await c.get(id);
    if (r.status === 200 && done(r.body)) return r.body;
    if (Date.now() > deadline)
      throw new Error(`job ${id} did not reach the state: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

export const isTerminal = (job: any): boolean => ['completed', 'failed', 'cancelled'].includes(job.status);
