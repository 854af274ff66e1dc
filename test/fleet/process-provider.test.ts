import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FleetController, type FleetWorker, type PoolObservation } from '../../src/fleet/controller.js';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';
import type { Decision } from '../../src/fleet/policy-types.js';
import { ProcessProvider } from '../../src/fleet/providers/process-provider.js';

const pool = parseFleetFile(`
pools:
  lite:
    provider: process
    max: 3
    scale_down_s: 1
    cold_start_s: 1
    price_per_gpu_second: 0.001
    process:
      command: "node bin/arrakis.mjs comfy-lite --port {port}"
      start_timeout_s: 60
      stop_grace_s: 5
`).pools[0]!;

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/system_stats`, { signal: AbortSignal.timeout(5_000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** Resolves when `check` holds, re-checked whenever `bump` is called (no polling sleeps). */
function waiter() {
  const waits: Array<{ check: () => boolean; resolve: () => void }> = [];
  return {
    bump: () => {
      for (const w of [...waits]) {
        if (!w.check()) continue;
        waits.splice(waits.indexOf(w), 1);
        w.resolve();
      }
    },
    until: (check: () => boolean) =>
      new Promise<void>((resolve) => (check() ? resolve() : waits.push({ check, resolve }))),
  };
}

describe('process provider with real comfy-lite processes', () => {
  it('scales up under a burst and back down after the window, never stopping the busy worker', async () => {
    if (pool.process === null) throw new Error('no process settings');
    let queued = 3;
    const busy = new Set<string>();
    const ready: FleetWorker[] = [];
    const stopped: FleetWorker[] = [];
    const decisions: Decision[] = [];
    const w = waiter();
    let n = 0;
    const controller = new FleetController({
      pools: [pool],
      providers: new Map([['lite', new ProcessProvider(pool.process)]]),
      observe: async (): Promise<PoolObservation> => ({
        queued,
        running: busy.size,
        recentArrivals: [],
        recentFinishes: [],
        activeUsers: new Set(),
        arrivalProfile: { days: 0, byHour: [] },
        workerStates: new Map([...busy].map((id) => [id, 'busy' as const])),
      }),
      record: async (d) => {
        decisions.push(d);
      },
      onWorkerReady: (worker) => {
        ready.push(worker);
        w.bump();
      },
      onWorkerStopped: (worker) => {
        stopped.push(worker);
        w.bump();
      },
      newWorkerId: () => `wkr_${++n}`,
      tickMs: 100,
    });
    controller.start();
    try {
      await w.until(() => ready.length === 3);
      expect(decisions[0]).toMatchObject({ pool: 'lite', current: 0, target: 3, start: 3 });
      const urls = ready.map((r) => r.comfyUrl ?? '');
      expect(new Set(urls).size).toBe(3);
      expect(await Promise.all(urls.map(answers))).toEqual([true, true, true]);

      // The burst is served: one job still running, two workers idle.
      const keep = ready[0]!;
      busy.add(keep.id);
      queued = 0;
      await w.until(() => stopped.length === 2);
      expect(stopped.map((s) => s.id)).not.toContain(keep.id);
      expect(controller.list('lite').map((x) => x.id)).toEqual([keep.id]);
      expect(await answers(keep.comfyUrl ?? '')).toBe(true);
      expect(await Promise.all(stopped.map((s) => answers(s.comfyUrl ?? '')))).toEqual([false, false]);
      const stopDecision = decisions.find((d) => d.stop.length > 0);
      expect(stopDecision?.reason).toContain('demand 1');

      busy.clear();
      await w.until(() => stopped.length === 3);
      expect(await answers(keep.comfyUrl ?? '')).toBe(false);
      const cost = controller.ledger.poolCost('lite', Date.now());
      expect(cost.workerSeconds).toBeGreaterThanOrEqual(3);
      expect(cost.cost).toBeCloseTo(cost.workerSeconds * 0.001, 6);
    } finally {
      await controller.close({ stopWorkers: true });
    }
  }, 60_000);

  it('starts a worker on the free GPU slot whose {gpu} models folder holds its first model', async () => {
    if (pool.process === null) throw new Error('no process settings');
    const root = mkdtempSync(join(tmpdir(), 'arrakis-gpu-slots-'));
    // Slot 1's folder kept b.safetensors from an earlier worker; slot 0's has nothing.
    mkdirSync(join(root, 'gpu1', 'checkpoints'), { recursive: true });
    writeFileSync(join(root, 'gpu1', 'checkpoints', 'b.safetensors'), 'fake weights');
    const p = new ProcessProvider({ ...pool.process, gpus: ['0', '1'], modelsDir: join(root, 'gpu{gpu}') });
    try {
      const first = await p.start(pool, { workerId: 'w1', firstModel: 'b.safetensors' });
      expect(first.modelsDir).toBe(join(root, 'gpu1'));
      // Only slot 0 is free now: the worker takes it (and will fetch the file there).
      const second = await p.start(pool, { workerId: 'w2', firstModel: 'b.safetensors' });
      expect(second.modelsDir).toBe(join(root, 'gpu0'));
      await Promise.all([first.ready, second.ready]);
      for (const w of await p.list()) await p.stop(w.ref);
      // Both free again: a worker without a first model, or one no folder holds, takes the first slot.
      const blind = await p.start(pool, { workerId: 'w3', firstModel: 'c.safetensors' });
      expect(blind.modelsDir).toBe(join(root, 'gpu0'));
      await blind.ready;
    } finally {
      for (const w of await p.list()) await p.stop(w.ref);
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);

  it("looks for a first model only inside each slot's kind folders (a `..` name is held by none)", async () => {
    if (pool.process === null) throw new Error('no process settings');
    const root = mkdtempSync(join(tmpdir(), 'arrakis-gpu-slots-'));
    // Slot 1's folder has the file outside its kind folders: `../secret/b.safetensors` from `checkpoints/`.
    mkdirSync(join(root, 'gpu1', 'secret'), { recursive: true });
    writeFileSync(join(root, 'gpu1', 'secret', 'b.safetensors'), 'fake weights');
    const p = new ProcessProvider({ ...pool.process, gpus: ['0', '1'], modelsDir: join(root, 'gpu{gpu}') });
    try {
      const w = await p.start(pool, { workerId: 'w1', firstModel: '../secret/b.safetensors' });
      expect(w.modelsDir).toBe(join(root, 'gpu0'));
      await w.ready;
    } finally {
      for (const w of await p.list()) await p.stop(w.ref);
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);

  it('rejects `ready` and cleans up when the process exits before its ready line', async () => {
    if (pool.process === null) throw new Error('no process settings');
    const p = new ProcessProvider({ ...pool.process, command: "node -e 'process.exit(3)' {port}" });
    const started = await p.start(pool);
    await expect(started.ready).rejects.toThrow(/exited before it was ready \(exit code 3\)/);
    expect(await p.list()).toEqual([]);
    const missing = new ProcessProvider({ ...pool.process, command: 'arrakis-no-such-binary --port {port}' });
    await expect((await missing.start(pool)).ready).rejects.toThrow(/exited before it was ready/);
  });
});
