import { describe, expect, it } from 'vitest';
import { ModelDemand } from '../../src/fleet/model-demand.js';
import { MAX_QUEUED_REPEATS, ModelObserver } from '../../src/fleet/model-observer.js';
import type { FleetModelDemand } from '../../src/store/contract.js';

/** A store answering a fixed backlog: the observer's own arithmetic is what is tested. */
function observerWith(queued: FleetModelDemand['queued']): ModelObserver {
  return new ModelObserver({
    demand: new ModelDemand(),
    store: {
      fleetModelDemand: async () => ({ queued, arrivals: [] }),
      listModelFiles: async () => [],
      listWorkers: async () => [],
      listPrefetchRefused: async () => new Map(),
    },
  });
}

const count = (list: readonly string[], name: string) => list.filter((m) => m === name).length;

describe('ModelObserver', () => {
  it('lists a small backlog with one repeat per queued job', async () => {
    const seen = await observerWith([
      { model: { kind: 'checkpoint', name: 'a.ckpt' }, count: 3 },
      { model: { kind: 'checkpoint', name: 'b.ckpt' }, count: 1 },
    ]).observe('gpu', ['gpu'], Date.now());
    expect(count(seen.queued, 'a.ckpt')).toBe(3);
    expect(count(seen.queued, 'b.ckpt')).toBe(1);
  });

  it("bounds a huge backlog's repeats, keeping each model's share and every model", async () => {
    const seen = await observerWith([
      { model: { kind: 'checkpoint', name: 'a.ckpt' }, count: 3_000_000 },
      { model: { kind: 'checkpoint', name: 'b.ckpt' }, count: 1_000_000 },
      { model: { kind: 'checkpoint', name: 'rare.ckpt' }, count: 1 },
    ]).observe('gpu', ['gpu'], Date.now());
    expect(seen.queued.length).toBeLessThanOrEqual(MAX_QUEUED_REPEATS + 3);
    expect(count(seen.queued, 'a.ckpt')).toBe(3 * count(seen.queued, 'b.ckpt'));
    expect(count(seen.queued, 'rare.ckpt')).toBe(1);
  });

  it('counts each arrival once when the store fails after the demand was read, and ticks resume', async () => {
    const now = Date.now();
    const arrivals: FleetModelDemand['arrivals'] = [
      { at: now - 60_000, model: { kind: 'checkpoint', name: 'a.ckpt' }, count: 2 },
      { at: now - 1_000, model: { kind: 'checkpoint', name: 'b.ckpt' }, count: 1 },
    ];
    let down = true;
    const observer = new ModelObserver({
      demand: new ModelDemand(),
      store: {
        fleetModelDemand: async (_pools, since) => ({
          queued: [],
          arrivals: arrivals.filter((a) => a.at >= since),
        }),
        listModelFiles: async () => [],
        // The database goes away between the tick's reads.
        listWorkers: async () => {
          if (down) throw new Error('connect ECONNREFUSED');
          return [];
        },
        listPrefetchRefused: async () => new Map(),
      },
    });
    await expect(observer.observe('gpu', ['gpu'], now)).rejects.toThrow(/ECONNREFUSED/);
    down = false;
    const seen = await observer.observe('gpu', ['gpu'], now + 5_000);
    expect(Object.fromEntries(seen.popularity)).toEqual({ 'a.ckpt': 2, 'b.ckpt': 1 });
  });
});
