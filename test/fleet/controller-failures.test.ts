/**
 * The fleet loop never dies (issue 10, item 6): a tick whose observation fails (the store unreachable) is
 * recorded as a `failed: …` decision when the store takes it, reported otherwise, and the loop carries on.
 */
import { describe, expect, it } from 'vitest';
import { FleetController, type PoolObservation } from '../../src/fleet/controller.js';
import { parseFleetFile } from '../../src/fleet/fleet-file.js';
import type { Decision } from '../../src/fleet/policy-types.js';
import { StaticProvider } from '../../src/fleet/providers/static-provider.js';

const fleet = parseFleetFile(`
pools:
  web:
    provider: static
    max: 1
    static:
      urls: ["http://10.0.0.1:8188"]
`);

const idle: PoolObservation = {
  queued: 0,
  running: 0,
  recentArrivals: [],
  recentFinishes: [],
  activeUsers: new Set(),
  arrivalProfile: { days: 0, byHour: [] },
  workerStates: new Map(),
};

function controller(opts: {
  observeFails: () => boolean;
  recordFails: () => boolean;
  tickMs?: number;
  queued?: () => number;
  leading?: () => boolean;
}) {
  const decisions: Decision[] = [];
  const reports: boolean[] = [];
  let observed = 0;
  const c = new FleetController({
    pools: fleet.pools,
    providers: new Map([['web', new StaticProvider(['http://10.0.0.1:8188'])]]),
    observe: async () => {
      observed++;
      if (opts.observeFails()) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      return { ...idle, queued: opts.queued?.() ?? 0 };
    },
    record: async (d) => {
      if (opts.recordFails()) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      decisions.push(d);
    },
    onWorkerReady: () => {},
    onWorkerStopped: () => {},
    onTickFailed: (failed) => {
      reports.push(failed);
    },
    newWorkerId: () => 'w1',
    tickMs: opts.tickMs ?? 10,
    ...(opts.leading === undefined ? {} : { leading: opts.leading }),
  });
  return { c, decisions, reports, observed: () => observed };
}

describe('fleet controller failures', () => {
  it('records a failed tick as a decision, resolves, and reports recovery once ticks work again', async () => {
    let down = true;
    const h = controller({ observeFails: () => down, recordFails: () => false });
    await expect(h.c.tick()).resolves.toBeUndefined();
    expect(h.decisions).toHaveLength(1);
    expect(h.decisions[0]).toMatchObject({ pool: 'web', current: 0, target: 0, start: 0, stop: [] });
    expect(h.decisions[0]!.reason).toMatch(/^failed: connect ECONNREFUSED/);
    expect(h.c.health().failingSince).not.toBeNull();
    expect(h.c.health().lastError).toMatch(/ECONNREFUSED/);
    down = false;
    await h.c.tick();
    expect(h.c.health()).toEqual({ failingSince: null, lastError: null });
    expect(h.reports).toEqual([true, false]);
  });

  it('a tick that can record nothing still resolves, and the running loop keeps ticking', async () => {
    let down = true;
    const h = controller({ observeFails: () => down, recordFails: () => down, tickMs: 5 });
    await expect(h.c.tick()).resolves.toBeUndefined();
    expect(h.decisions).toHaveLength(0);
    h.c.start();
    const deadline = Date.now() + 10_000;
    while (h.observed() < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(h.observed()).toBeGreaterThanOrEqual(4);
    down = false;
    while (h.reports.at(-1) !== false && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await h.c.close({ stopWorkers: true });
    expect(h.reports.at(-1)).toBe(false);
    expect(h.c.health().failingSince).toBeNull();
  });

  it('starts and stops nothing while the fleet duty lock is not held, and acts again once it is', async () => {
    let held = false;
    const h = controller({
      observeFails: () => false,
      recordFails: () => false,
      queued: () => 1,
      leading: () => held,
    });
    await h.c.tick();
    // Another replica may hold the duty now: this one neither starts a worker nor records a decision.
    expect(h.c.list()).toEqual([]);
    expect(h.decisions).toEqual([]);
    held = true;
    await h.c.tick();
    expect(h.c.list()).toHaveLength(1);
    expect(h.decisions[0]).toMatchObject({ pool: 'web', start: 1, target: 1 });
    await h.c.close({ stopWorkers: true });
  });
});
