/** `jobs.stream`: typed events, and a dropped connection resumed with Last-Event-ID (nothing lost or repeated). */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArrakisClient, type StreamedJobEvent } from 'arrakis/client';
import { createTenant, delayWorkflow, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ settings: { comfyLite: 1 } });
});
afterAll(async () => {
  await server.close();
});

/** A TCP proxy to the API that cuts the first connection once an event with an id went through. */
async function cuttingProxy(
  target: URL,
): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const proxy: Server = createServer((down) => {
    const n = ++connections;
    const up = connect(Number(target.port), target.hostname);
    sockets.add(down).add(up);
    let head = '';
    down.on('data', (c: Buffer) => {
      if (head === '') requests.push((head = c.toString('latin1')));
      up.write(c);
    });
    let seen = '';
    up.on('data', (c: Buffer) => {
      down.write(c);
      seen += c.toString('utf8');
      if (n === 1 && /\nid: \d+\n/.test(seen)) {
        down.destroy();
        up.destroy();
      }
    });
    for (const s of [down, up])
      s.on('error', () => undefined).on('close', () => (s === up ? down : up).destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const addr = proxy.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    },
  };
}

describe('jobs.stream', () => {
  it('yields typed status, progress, output and done events and ends after done', async () => {
    const t = await createTenant(server);
    const c = new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId: 'alice' });
    const job = await c.jobs.create({ workflow: delayWorkflow(0.5) });
    const names: string[] = [];
    for await (const e of c.jobs.stream(job.id)) {
      names.push(e.event);
      if (e.event === 'progress') expect(e.data.max).toBeGreaterThan(0);
      if (e.event === 'output') expect(e.data.content_type).toBe('image/png');
      if (e.event === 'done') {
        expect(e.data.status).toBe('completed');
        // The done event carries the outputs with their URLs: no extra GET to find the results.
        expect(e.data.outputs?.map((o) => o.url)).toEqual([`/v1/jobs/${job.id}/outputs/0`]);
      }
    }
    expect(names[0]).toBe('status');
    expect(names).toContain('progress');
    // The outputs are announced in the completion's commit: right before done, nothing between.
    expect(names.slice(-2)).toEqual(['output', 'done']);
  });

  it('resumes a dropped connection with Last-Event-ID and neither loses nor repeats an event', async () => {
    const t = await createTenant(server);
    const direct = new ArrakisClient({ baseUrl: server.url, apiKey: t.key, userId: 'bob' });
    const proxy = await cuttingProxy(new URL(server.url));
    try {
      const viaProxy = new ArrakisClient({ baseUrl: proxy.url, apiKey: t.key, userId: 'bob' });
      const job = await direct.jobs.create({ workflow: delayWorkflow(1) });
      const got: StreamedJobEvent[] = [];
      for await (const e of viaProxy.jobs.stream(job.id, { reconnectDelayMs: 50 })) got.push(e);
      expect(proxy.requests.length).toBeGreaterThanOrEqual(2);
      expect(proxy.requests[0]).not.toMatch(/last-event-id/i);
      expect(proxy.requests[1]).toMatch(/last-event-id: \d+/i);
      const all: StreamedJobEvent[] = [];
      for await (const e of direct.jobs.stream(job.id)) all.push(e);
      const ids = (events: StreamedJobEvent[]): Array<number | null> =>
        events.filter((e) => e.id !== null).map((e) => e.id);
      expect(ids(got)).toEqual(ids(all));
      expect(got.at(-1)?.event).toBe('done');
    } finally {
      await proxy.close();
    }
  });
});
