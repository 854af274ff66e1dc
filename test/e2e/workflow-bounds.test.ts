/**
 * Workflow size bounds through the HTTP API: an oversized workflow is refused (422 workflow_too_large) before
 * any other work, so it cannot stall the event loop for everyone else. Timing bounds here are deliberately
 * generous (a busy 2-core machine); bench/workflow-check.ts prints the real figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTenant, startTestServer, type TestServer } from '../support/server.js';

/** A chain of `n` nodes, each linked to the one before (what a 40k-node attack body looked like). */
function chain(n: number): Record<string, unknown> {
  const w: Record<string, unknown> = {
    '0': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  };
  for (let i = 1; i < n; i++)
    w[String(i)] = { class_type: 'ImageInvert', inputs: { image: [String(i - 1), 0] } };
  return w;
}

describe('workflow size bounds (default settings)', () => {
  let server: TestServer;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    server = await startTestServer();
    c = client(server, (await createTenant(server)).key, 'alice');
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses a 40k-node workflow at once while /healthz keeps answering', async () => {
    const body = JSON.stringify({ workflow: chain(40_000) });
    expect(body.length).toBeGreaterThan(1_000_000);
    let done = false;
    let slowestHealthz = 0;
    let healthzAnswers = 0;
    const probe = (async () => {
      while (!done) {
        const started = performance.now();
        const res = await fetch(`${server.url}/healthz`);
        expect(res.status).toBe(200);
        slowestHealthz = Math.max(slowestHealthz, performance.now() - started);
        healthzAnswers++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const started = performance.now();
    const r = await c.submit(body);
    const took = performance.now() - started;
    done = true;
    await probe;
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ code: 'workflow_too_large', max_nodes: 5000, max_links: 20000 });
    expect(r.body.detail).toContain('more than 5000 nodes');
    expect(healthzAnswers).toBeGreaterThan(0);
    // The quadratic check took ~40 s for this body; linear work plus parsing takes tens of milliseconds.
    expect(took).toBeLessThan(3000);
    expect(slowestHealthz).toBeLessThan(2000);
    expect((await c.list()).body.data).toEqual([]);
  });

  it('admits a workflow at the node bound', async () => {
    const r = await c.submit({
      workflow: {
        ...chain(4999),
        out: { class_type: 'SaveImage', inputs: { images: ['4998', 0], filename_prefix: 'x' } },
      },
    });
    expect(r.status).toBe(202);
  });
});

describe('workflow size bounds (settings)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ settings: { maxWorkflowNodes: 50, maxWorkflowLinks: 10 } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('applies --max-workflow-nodes and --max-workflow-links to submissions and templates', async () => {
    const c = client(server, (await createTenant(server)).key, 'alice');
    const nodes = await c.submit({ workflow: chain(51) });
    expect(nodes.status).toBe(422);
    expect(nodes.body).toMatchObject({ code: 'workflow_too_large', max_nodes: 50, max_links: 10 });
    const links = await c.submit({ workflow: chain(12) });
    expect(links.status).toBe(422);
    expect(links.body.detail).toContain('more than 10 links');
    const template = await server.admin('POST', '/v1/admin/templates', {
      name: 'big',
      workflow: chain(51),
      params: [],
    });
    expect(template.status).toBe(422);
    expect(template.body.code).toBe('workflow_too_large');
  });

  it('bounds a UI-format export before converting it (submissions and templates)', async () => {
    const c = client(server, (await createTenant(server)).key, 'alice');
    const reroutes = (n: number): unknown => ({
      nodes: Array.from({ length: n }, (_, i) => ({ id: i + 1, type: 'Reroute', inputs: [], outputs: [] })),
      links: [],
      version: 0.4,
    });
    const submitted = await c.submit({ workflow: reroutes(51) });
    expect(submitted.status).toBe(422);
    expect(submitted.body).toMatchObject({ code: 'workflow_too_large', max_nodes: 50, max_links: 10 });
    const template = await server.admin('POST', '/v1/admin/templates', {
      name: 'big-ui',
      workflow: reroutes(51),
      params: [],
    });
    expect(template.status).toBe(422);
    expect(template.body.code).toBe('workflow_too_large');
  });
});
