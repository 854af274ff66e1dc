/** Shutdown of the control plane's parts: last-started first, and a part that fails to stop stops no other. */
import { describe, expect, it } from 'vitest';
import { stopAll } from '../../src/runtime/control-plane.js';

describe('stopAll', () => {
  it('stops every part last-first even when one fails, then reports the first failure', async () => {
    const stopped: string[] = [];
    const stops = [
      async () => void stopped.push('store'),
      async () => {
        stopped.push('workers');
        throw new Error('a worker would not stop');
      },
      async () => void stopped.push('fleet'),
    ];
    await expect(stopAll(stops)).rejects.toThrow('a worker would not stop');
    expect(stopped).toEqual(['fleet', 'workers', 'store']);
    // Each runs once: a second close finds nothing left to stop.
    await stopAll(stops);
    expect(stopped).toHaveLength(3);
  });
});
