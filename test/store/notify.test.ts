import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listen } from '../../src/store/pg-notify.js';
import { BACKENDS, type TestDb } from './backends.js';

describe.each(BACKENDS)('notify on $name', (backend) => {
  let db: TestDb;
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    await db.cleanup();
  });

  it(backend.name === 'postgres' ? 'reaches a LISTEN on another connection' : 'is a no-op', async () => {
    if (backend.name === 'sqlite') {
      await expect(db.store.notify('arrakis_events', 'x')).resolves.toBeUndefined();
      return;
    }
    const received: string[] = [];
    let wake: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (wake = resolve));
    const listener = await listen(db.url, 'arrakis_events', (payload) => {
      received.push(payload);
      wake();
    });
    try {
      await db.store.notify('other_channel', 'ignored');
      await db.store.notify('arrakis_events', '{"kind":"cancel","jobId":"job_1"}');
      await arrived;
      expect(received).toEqual(['{"kind":"cancel","jobId":"job_1"}']);
    } finally {
      await listener.close();
    }
  });
});
