/**
 * While the control plane is away, the agent's model reports fail at every idle turn: the outage costs one
 * warning and one recovery line, not a warning per turn.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LocalJobChannel } from '../../src/agent/local-job-channel.js';
import { ModelKeeper } from '../../src/agent/model-keeper.js';
import type { ModelReport } from '../../src/workers/job-channel.js';
import type { ModelRef } from '../../src/models/model-refs.js';
import { Harness } from './harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

/** A channel whose model reports fail as an unreachable control plane's would, until `down` is false. */
class OutageChannel extends LocalJobChannel {
  down = true;
  calls = 0;
  override async reportModels(report: ModelReport): Promise<ModelRef[]> {
    this.calls++;
    if (this.down) throw new Error('cannot reach the control plane: connect ECONNREFUSED');
    return await super.reportModels(report);
  }
}

describe('model reports during a control-plane outage', () => {
  it('warn once per outage and log its end once', async () => {
    h = await Harness.create();
    const lite = await h.startComfy();
    const channel = new OutageChannel({ service: h.service, bus: h.bus });
    await channel.register({ name: 'reporter', pool: 'default', comfyUrl: lite.url });
    const lines: Array<{ level: 'info' | 'warn'; msg: string }> = [];
    const log = {
      info: (_: Record<string, unknown>, msg: string) => lines.push({ level: 'info', msg }),
      warn: (_: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', msg }),
    };
    const keeper = new ModelKeeper({ channel, comfyUrl: lite.url, log });
    for (let i = 0; i < 6; i++) await keeper.idle();
    expect(channel.calls).toBe(6);
    expect(lines).toEqual([{ level: 'warn', msg: expect.stringMatching(/models failed; retrying/) }]);
    channel.down = false;
    await keeper.idle();
    await keeper.idle();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toEqual({ level: 'info', msg: expect.stringMatching(/models recovered/) });
  });
});
