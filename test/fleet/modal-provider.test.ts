import { describe, expect, it } from 'vitest';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';
import { ProviderError } from '../../src/fleet/providers/contract.js';
import type { ModalApi, ModalSandboxRequest } from '../../src/fleet/providers/modal-api.js';
import { ModalProvider } from '../../src/fleet/providers/modal-provider.js';

/** A fake of the narrow Modal boundary: records calls, refuses listed GPU types. */
class FakeModal implements ModalApi {
  readonly calls: string[] = [];
  readonly created: ModalSandboxRequest[] = [];
  readonly live = new Map<string, ModalSandboxRequest>();
  refuse = new Set<string>();
  tunnelFails = false;
  private next = 1;

  async createSandbox(req: ModalSandboxRequest): Promise<string> {
    this.calls.push(`create ${req.gpu}`);
    if (req.gpu !== null && this.refuse.has(req.gpu)) throw new Error(`no ${req.gpu} capacity`);
    const id = `sb-${this.next++}`;
    this.created.push(req);
    this.live.set(id, req);
    return id;
  }

  async tunnelUrl(id: string, port: number, timeoutMs: number): Promise<string> {
    this.calls.push(`tunnel ${id} ${port} ${timeoutMs}`);
    if (this.tunnelFails) throw new Error('tunnel timeout');
    return `https://${id}.modal.run`;
  }

  async terminate(id: string): Promise<void> {
    this.calls.push(`terminate ${id}`);
    if (!this.live.delete(id)) throw new Error(`Sandbox ${id} not found`);
  }

  async listSandboxes(app: string, tags: Record<string, string>): Promise<string[]> {
    this.calls.push(`list ${app} ${JSON.stringify(tags)}`);
    return [...this.live.entries()]
      .filter(([, r]) => Object.entries(tags).every(([k, v]) => r.tags[k] === v))
      .map(([id]) => id);
  }
}

const pool = parseFleetFile(`
pools:
  gpu:
    provider: modal
    gpu: [H100, L40S, A10G]
    max: 4
    modal:
      app: arrakis-comfy
      image: ghcr.io/acme/comfyui:1.2
      command: ["python", "main.py", "--listen", "0.0.0.0", "--port", "8188"]
      port: 8188
      timeout_s: 3600
      ready_timeout_s: 0.2
      env: { HF_HOME: /cache }
`).pools[0]!;

function provider(api: FakeModal, probe: (url: string) => Promise<boolean> = async () => true) {
  if (pool.modal === null) throw new Error('no modal settings');
  return new ModalProvider({ api, settings: pool.modal, probe, probeIntervalMs: 1 });
}

describe('modal provider (against a fake of the SDK boundary)', () => {
  it('creates a GPU sandbox from the image with the ComfyUI port tunnelled, and waits for ComfyUI', async () => {
    const api = new FakeModal();
    let probes = 0;
    const p = provider(api, async (url) => {
      expect(url).toBe('https://sb-1.modal.run');
      probes++;
      return probes >= 3;
    });
    const started = await p.start(pool, { workerId: 'wkr_1' });
    expect(started.ref).toBe('sb-1');
    await expect(started.ready).resolves.toBe('https://sb-1.modal.run');
    expect(probes).toBe(3);
    expect(api.created[0]).toEqual({
      app: 'arrakis-comfy',
      image: 'ghcr.io/acme/comfyui:1.2',
      gpu: 'H100',
      timeoutMs: 3_600_000,
      command: ['python', 'main.py', '--listen', '0.0.0.0', '--port', '8188'],
      encryptedPorts: [8188],
      env: { HF_HOME: '/cache' },
      regions: null,
      tags: { 'arrakis-fleet': 'arrakis', 'arrakis-pool': 'gpu', 'arrakis-worker': 'wkr_1' },
    });
    expect(api.calls).toEqual(['create H100', 'tunnel sb-1 8188 200']);
  });

  it('falls back through the GPU types in preference order', async () => {
    const api = new FakeModal();
    api.refuse = new Set(['H100', 'L40S']);
    const started = await provider(api).start(pool, { workerId: 'w' });
    await started.ready;
    expect(api.calls.slice(0, 3)).toEqual(['create H100', 'create L40S', 'create A10G']);
    expect(api.created[0]?.gpu).toBe('A10G');
  });

  it('fails with every refusal listed when no GPU type is available', async () => {
    const api = new FakeModal();
    api.refuse = new Set(['H100', 'L40S', 'A10G']);
    const err = await provider(api)
      .start(pool, { workerId: 'w' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(String(err)).toMatch(/H100: no H100 capacity; L40S: .*; A10G: /);
  });

  it('terminates the sandbox on stop, and a second stop is harmless', async () => {
    const api = new FakeModal();
    const p = provider(api);
    const started = await p.start(pool, { workerId: 'w' });
    await started.ready;
    await p.stop(started.ref);
    await p.stop(started.ref);
    expect(api.calls.filter((c) => c.startsWith('terminate'))).toEqual(['terminate sb-1', 'terminate sb-1']);
    expect(api.live.size).toBe(0);
  });

  it('terminates a sandbox whose tunnel or ComfyUI never comes up', async () => {
    const api = new FakeModal();
    api.tunnelFails = true;
    const started = await provider(api).start(pool, { workerId: 'w' });
    await expect(started.ready).rejects.toThrow('tunnel timeout');
    expect(api.calls).toContain('terminate sb-1');

    const slow = new FakeModal();
    const never = await provider(slow, async () => false).start(pool, { workerId: 'w' });
    await expect(never.ready).rejects.toThrow(/ComfyUI not answering after 200 ms/);
    expect(slow.live.size).toBe(0);
  });

  it('lists only sandboxes tagged as this fleet, with their URLs once ready', async () => {
    const api = new FakeModal();
    const p = provider(api);
    const a = await p.start(pool, { workerId: 'a' });
    await a.ready;
    api.live.set('sb-foreign', { ...api.created[0]!, tags: { other: 'x' } });
    expect(await p.list()).toEqual([{ ref: 'sb-1', comfyUrl: 'https://sb-1.modal.run' }]);
    expect(api.calls).toContain('list arrakis-comfy {"arrakis-fleet":"arrakis"}');
  });
});
