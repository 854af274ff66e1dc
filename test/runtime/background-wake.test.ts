/**
 * The webhook deliverers wake on `webhook_due`, and on a `job_event` that cannot say whether it was an end (from
 * a replica that predates `webhook_due`, mid rolling upgrade): such a replica announces a job's end with nothing
 * else, so without it the webhook would wait for the deliverers' poll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLocalBus } from '../../src/events/local-bus.js';
import type { BusMessage } from '../../src/events/bus.js';
import { openStorage } from '../../src/media/storage/open-storage.js';
import { startBackground, type Background } from '../../src/runtime/background.js';
import type { Store } from '../../src/store/contract.js';
import { openMigratedStore } from '../../src/store/open.js';

let dir: string;
let store: Store;
let background: Background | null = null;
let claims = 0;
const bus = createLocalBus();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrakis-bg-wake-'));
  store = await openMigratedStore(`sqlite:${join(dir, 'db')}`);
});

afterEach(async () => {
  await background?.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function within(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

function start(): void {
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === 'claimDueWebhooks' && typeof value === 'function') {
        return (...args: unknown[]) => {
          claims++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const config = loadConfig(
    {},
    {},
    { db: `sqlite:${join(dir, 'db')}`, storage: `file:${dir}`, logLevel: 'silent' },
  );
  background = startBackground({
    config,
    store: counted,
    storage: openStorage(config.storage),
    bus,
    log: pino({ level: 'silent' }),
  });
}

it.each<[string, BusMessage]>([
  ['webhook_due', { kind: 'webhook_due' }],
  ['a job_event from a replica that predates webhook_due', { kind: 'job_event', jobId: 'job_1' }],
])('%s wakes the deliverers before their poll', async (_, message) => {
  start();
  expect(await within(() => claims >= 1, 5_000)).toBe(true); // the first poll, then a 1 s sleep
  await new Promise((r) => setTimeout(r, 50));
  const before = claims;
  await bus.publish(message);
  expect(await within(() => claims > before, 500)).toBe(true);
});

it('a job_event that says it was not an end leaves the deliverers asleep', async () => {
  start();
  expect(await within(() => claims >= 1, 5_000)).toBe(true);
  await new Promise((r) => setTimeout(r, 50));
  const before = claims;
  await bus.publish({ kind: 'job_event', jobId: 'job_1', ended: false });
  await bus.publish({ kind: 'job_event', jobId: 'job_1', ended: true });
  expect(await within(() => claims > before, 300)).toBe(false);
});
