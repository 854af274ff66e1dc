/** Attributed cost of an account's usage: run seconds × price × (1 + idle per busy second), by pool. */
import { describe, expect, it } from 'vitest';
import type { FleetPricing } from '../../src/fleet/fleet-status.js';
import { accountCost, attributedCost } from '../../src/fleet/usage-cost.js';

const prices = new Map<string, FleetPricing>([
  ['a100', { pricePerGpuSecond: 0.001, idlePerBusySecond: 0.5 }],
  ['default', { pricePerGpuSecond: 0.0002, idlePerBusySecond: 0 }],
]);

describe('usage cost', () => {
  it('charges each second of run time at the pool price plus its share of billed idle time', () => {
    expect(attributedCost(100, { pricePerGpuSecond: 0.001, idlePerBusySecond: 0.5 })).toBeCloseTo(0.15, 10);
    expect(attributedCost(100, { pricePerGpuSecond: 0.001, idlePerBusySecond: 0 })).toBeCloseTo(0.1, 10);
  });

  it('prices each pool, leaves unpriced pools null and totals only the priced ones', () => {
    const cost = accountCost(
      [
        { pool: 'a100', jobs: 3, runSeconds: 100 },
        { pool: 'default', jobs: 1, runSeconds: 50 },
        { pool: 'unpriced', jobs: 2, runSeconds: 30 },
      ],
      (pool) => prices.get(pool),
    );
    expect(cost.pools.map((p) => p.cost)).toEqual([expect.closeTo(0.15, 10), expect.closeTo(0.01, 10), null]);
    expect(cost.jobs).toBe(6);
    expect(cost.runSeconds).toBe(180);
    expect(cost.cost).toBeCloseTo(0.16, 10);
  });

  it('has no total cost when no pool is priced, and nothing at all for no usage', () => {
    expect(accountCost([{ pool: 'x', jobs: 1, runSeconds: 5 }], () => undefined).cost).toBeNull();
    expect(accountCost([], (pool) => prices.get(pool))).toEqual({
      pools: [],
      jobs: 0,
      runSeconds: 0,
      cost: null,
    });
  });
});
