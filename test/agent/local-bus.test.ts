import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../src/events/bus.js';
import { createLocalBus } from '../../src/events/local-bus.js';

describe('local event bus', () => {
  it('delivers a published message to every subscriber, after publish returns', async () => {
    const bus = createLocalBus();
    const a: BusMessage[] = [];
    const b: BusMessage[] = [];
    bus.subscribe((m) => a.push(m));
    bus.subscribe((m) => b.push(m));
    const published = bus.publish({ kind: 'cancel', jobId: 'job_1' });
    expect(a).toEqual([]);
    await published;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(a).toEqual([{ kind: 'cancel', jobId: 'job_1' }]);
    expect(b).toEqual(a);
  });

  it('stops delivering after unsubscribe and after close, and survives a throwing handler', async () => {
    const bus = createLocalBus();
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error('bad handler');
    });
    const off = bus.subscribe((m) => seen.push(m.kind));
    await bus.publish({ kind: 'job_ready', pool: null });
    await new Promise<void>((resolve) => setImmediate(resolve));
    off();
    await bus.publish({ kind: 'job_ready', pool: null });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['job_ready']);
    const late: string[] = [];
    bus.subscribe((m) => late.push(m.kind));
    await bus.close();
    await bus.publish({ kind: 'job_ready', pool: null });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(late).toEqual([]);
  });
});
