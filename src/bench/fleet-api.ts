/**
 * The fleet's state from the admin API (`GET /v1/admin/fleet` and `/v1/admin/fleet/decisions`), parsed
 * loosely: the battery reads only the fields it needs, so a newer server that adds fields still works. A
 * server without a fleet answers `{ pools: [] }`.
 */
import { z } from 'zod';
import { Transport } from '../client/transport.js';

const fleetWorkerSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  agent: z.string().nullable().optional(),
});

const poolSchema = z.looseObject({
  name: z.string(),
  provider: z.string().optional(),
  min: z.number(),
  max: z.number(),
  workers: z.array(fleetWorkerSchema),
  cost: z.looseObject({ workerSeconds: z.number().optional(), cost: z.number().optional() }).optional(),
});
export type FleetPool = z.infer<typeof poolSchema>;

const fleetSchema = z.looseObject({
  /** The pool of jobs that name none (absent from servers before the pool rule). */
  default_pool: z.string().optional(),
  pools: z.array(poolSchema),
});
export type FleetState = z.infer<typeof fleetSchema>;

const decisionSchema = z.looseObject({
  pool: z.string(),
  at: z.string(),
  current: z.number(),
  target: z.number(),
  reason: z.string().nullable().optional(),
});
export type FleetDecision = z.infer<typeof decisionSchema>;

export class FleetApi {
  private readonly t: Transport;

  constructor(baseUrl: string, adminKey: string) {
    this.t = new Transport({ baseUrl, headers: { authorization: `Bearer ${adminKey}` } });
  }

  /** Every autoscaled pool with its workers (empty when the server runs no fleet) and the default pool. */
  async state(): Promise<FleetState> {
    return (await this.t.json('GET', '/v1/admin/fleet', fleetSchema)).data;
  }

  /** The pool's recorded scaling decisions, newest first. */
  async decisions(pool: string, limit = 100): Promise<FleetDecision[]> {
    const qs = `?pool=${encodeURIComponent(pool)}&limit=${limit}`;
    return (
      await this.t.json('GET', `/v1/admin/fleet/decisions${qs}`, z.object({ data: z.array(decisionSchema) }))
    ).data.data;
  }
}
