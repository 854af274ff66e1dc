import { describe, expect, it } from 'vitest';
import { createMetrics, type FleetGauges } from '../../src/api/metrics.js';

const idle = async () => ({ queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 });

describe('fleet gauges', () => {
  it('export target, workers by state and cost per pool, only while the fleet runs here', async () => {
    let pools: FleetGauges[] = [
      { pool: 'a10g', target: 3, workers: { ready: 2, starting: 1 }, cost: 1.25 },
      { pool: 'cpu', target: null, workers: {}, cost: 0 },
    ];
    const m = createMetrics({ jobsByStatus: idle, fleet: () => pools });
    const text = await m.registry.metrics();
    expect(text).toMatch(/^arrakis_fleet_target_workers\{pool="a10g"\} 3$/m);
    expect(text).not.toMatch(/^arrakis_fleet_target_workers\{pool="cpu"\}/m);
    expect(text).toMatch(/^arrakis_fleet_workers\{pool="a10g",state="ready"\} 2$/m);
    expect(text).toMatch(/^arrakis_fleet_workers\{pool="a10g",state="starting"\} 1$/m);
    expect(text).toMatch(/^arrakis_fleet_cost_dollars\{pool="a10g"\} 1.25$/m);
    // Another replica took the fleet over: this one stops exporting it (no stale series to double-count).
    pools = [];
    expect(await m.registry.metrics()).not.toMatch(/^arrakis_fleet_\w+\{/m);
  });
});
