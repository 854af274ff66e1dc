/**
 * One worker-state vocabulary: the store's WORKER_STATUSES. The policy, the simulator, the fleet's own worker
 * record and the agents' idle/busy view take subsets of it; `npm test` type-checks this file, so a state word
 * outside the vocabulary (or a union spelled out by hand again) fails there. The runtime checks keep the
 * words the fleet compares against present in the list the store and the worker API accept.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { FleetWorkerState } from '../../src/fleet/controller.js';
import type { FleetWorkerStatus } from '../../src/fleet/fleet-status.js';
import type { AgentActivity, PolicyWorker, PolicyWorkerState } from '../../src/fleet/policy-types.js';
import type { SimWorker } from '../../src/fleet/simulator/sim-worker.js';
import { WORKER_STATUSES, type WorkerStatus, type WorkerStatusSubset } from '../../src/store/contract.js';

describe('worker state words', () => {
  it('the fleet, its simulator and the agents speak subsets of the worker statuses', () => {
    expectTypeOf<PolicyWorkerState>().toExtend<WorkerStatus>();
    expectTypeOf<AgentActivity>().toExtend<PolicyWorkerState>();
    expectTypeOf<SimWorker['state']>().toEqualTypeOf<PolicyWorkerState>();
    expectTypeOf<PolicyWorker['state']>().toEqualTypeOf<PolicyWorkerState>();
    expectTypeOf<FleetWorkerStatus['state']>().toEqualTypeOf<FleetWorkerState>();
    // `ready` is the one fleet-only word (its machine is up; the agent's status says the rest).
    expectTypeOf<Exclude<FleetWorkerState, WorkerStatus>>().toEqualTypeOf<'ready'>();
    // @ts-expect-error a word outside WORKER_STATUSES is refused
    expectTypeOf<WorkerStatusSubset<'ready'>>().toBeString();
    const words: readonly PolicyWorkerState[] = ['starting', 'warming', 'idle', 'busy'];
    for (const w of words) expect(WORKER_STATUSES).toContain(w);
  });
});
