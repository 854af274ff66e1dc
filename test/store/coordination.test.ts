/**
 * The store's coordination: its event bus reaches every process on the same database, and leader election
 * gives a duty to one of them (on SQLite the one process always leads). Replaces the old `Store.notify` test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BusMessage } from '../../src/events/bus.js';
import type { Store } from '../../src/store/contract.js';
import { openStore } from '../../src/store/open.js';
import { createServer, connect, type Socket } from 'node:net';
import pg from 'pg';
import { CLOSE_NOTIFY_MS, MAX_PENDING, createListenBus } from '../../src/store/postgres/listen-bus.js';
import { advisoryLeadership } from '../../src/store/postgres/advisory-leadership.js';
import { BACKENDS, type TestDb } from './backends.js';

/** Only this test's database: another test file's migration holds an advisory lock in its own database. */
const THIS_DATABASE = 'database = (SELECT oid FROM pg_database WHERE datname = current_database())';

/** Resolves true once `cond()` holds, false after `ms`. */
async function within(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** A promise that waits until `open()` is called (a NOTIFY the test holds back). */
function heldGate(): { gate: Promise<void>; open: () => void } {
  let open = (): void => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  return { gate, open };
}

/** A leader's view of one duty: how often it was gained and lost. */
function watcher() {
  const seen = { gained: 0, lost: 0 };
  return { seen, handlers: { onGained: () => seen.gained++, onLost: () => seen.lost++ } };
}

interface Relay {
  url: string;
  /** Every connection open now stops carrying data in either direction, without closing: half-open. */
  freeze(): void;
  /** Every connection open now is closed, and new ones are refused until `restore`: the database is gone. */
  cut(): void;
  restore(): void;
  close(): void;
}

/** A TCP relay to the database that can simulate a half-open connection or an unreachable database. */
async function relay(target: string): Promise<Relay> {
  const t = new URL(target);
  const pairs: Socket[][] = [];
  let refusing = false;
  const server = createServer((inbound) => {
    if (refusing) return void inbound.destroy();
    const outbound = connect(Number(t.port), t.hostname);
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => {});
    outbound.on('error', () => {});
    pairs.push([inbound, outbound]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  const url = new URL(target);
  url.host = `127.0.0.1:${address.port}`;
  return {
    url: url.toString(),
    freeze: () => {
      for (const [a, b] of pairs.splice(0)) {
        a!.unpipe();
        b!.unpipe();
        a!.pause();
        b!.pause();
      }
    },
    cut: () => {
      refusing = true;
      for (const pair of pairs.splice(0)) for (const s of pair) s.destroy();
    },
    restore: () => {
      refusing = false;
    },
    close: () => {
      for (const pair of pairs) for (const s of pair) s.destroy();
      server.close();
    },
  };
}

describe.each(BACKENDS)('coordination on $name', (backend) => {
  let db: TestDb;
  const others: Store[] = [];
  beforeEach(async () => {
    db = await backend.create();
  });
  afterEach(async () => {
    for (const s of others.splice(0)) await s.close();
    await db.cleanup();
  });

  it('delivers a published message to this process, once, and the same coordination on every call', async () => {
    const c = await db.store.coordination();
    expect(await db.store.coordination()).toBe(c);
    const got: BusMessage[] = [];
    c.bus.subscribe((m) => got.push(m));
    await c.bus.publish({ kind: 'cancel', jobId: 'job_1' });
    expect(await within(() => got.length === 1, 2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([{ kind: 'cancel', jobId: 'job_1' }]);
  });

  if (backend.name === 'sqlite')
    it('the one process always leads', async () => {
      const w = watcher();
      const l = (await db.store.coordination()).lead('arrakis-fleet', w.handlers);
      expect(await within(() => w.seen.gained === 1, 1000)).toBe(true);
      expect(l.held()).toBe(true);
      await l.close();
      expect(l.held()).toBe(false);
    });

  if (backend.name === 'postgres')
    it('a message reaches another process on the same database', async () => {
      const other = await openStore(db.url);
      others.push(other);
      const got: BusMessage[] = [];
      (await other.coordination()).bus.subscribe((m) => got.push(m));
      const bus = (await db.store.coordination()).bus;
      await bus.publish({ kind: 'job_ready', pool: 'gpu' });
      // Whether a job event was the job's end crosses too (a `Prefer: wait` elsewhere re-reads only for it),
      // and so does the webhook deliverers' wake-up.
      await bus.publish({ kind: 'job_event', jobId: 'job_1', ended: false });
      // A requeue too: the worker that held the job ends its cancel wait on it.
      await bus.publish({ kind: 'job_event', jobId: 'job_1', ended: false, requeued: true });
      await bus.publish({ kind: 'webhook_due' });
      expect(await within(() => got.length === 4, 5000)).toBe(true);
      expect(got).toEqual([
        { kind: 'job_ready', pool: 'gpu' },
        { kind: 'job_event', jobId: 'job_1', ended: false },
        { kind: 'job_event', jobId: 'job_1', ended: false, requeued: true },
        { kind: 'webhook_due' },
      ]);
    });

  if (backend.name === 'postgres')
    it('a job event another release sends with requeued: false still wakes this process, as a plain event', async () => {
      const got: BusMessage[] = [];
      (await db.store.coordination()).bus.subscribe((m) => got.push(m));
      const sender = new pg.Client({ connectionString: db.url });
      await sender.connect();
      try {
        const m = { kind: 'job_event', jobId: 'job_9', ended: false, requeued: false };
        await sender.query('SELECT pg_notify($1, $2)', ['arrakis_bus', JSON.stringify({ o: 'other', m })]);
        expect(await within(() => got.length === 1, 5000)).toBe(true);
        expect(got).toEqual([{ kind: 'job_event', jobId: 'job_9', ended: false }]);
      } finally {
        await sender.end();
      }
    });

  if (backend.name === 'postgres')
    it('a job event’s carried events reach this process only; the NOTIFY payload stays small', async () => {
      const payloads: string[] = [];
      const sender = new pg.Client({ connectionString: db.url });
      await sender.connect();
      const bus = await createListenBus({
        newClient: () => new pg.Client({ connectionString: db.url }),
        notify: async (channel, sent) => {
          for (const payload of sent) {
            payloads.push(payload);
            await sender.query('SELECT pg_notify($1, $2)', [channel, payload]);
          }
        },
        log: { warn: () => {} },
      });
      const other = await openStore(db.url);
      others.push(other);
      try {
        const here: BusMessage[] = [];
        const there: BusMessage[] = [];
        bus.subscribe((m) => here.push(m));
        (await other.coordination()).bus.subscribe((m) => there.push(m));
        const events = [
          { jobId: 'job_2', seq: 4, type: 'done' as const, data: { status: 'completed' }, at: 1 },
        ];
        await bus.publish({ kind: 'job_event', jobId: 'job_2', ended: true, events });
        await bus.publish({ kind: 'job_event', jobId: 'job_3', ended: false, requeued: true, events });
        expect(await within(() => there.length === 2, 5000)).toBe(true);
        expect(here).toEqual([
          { kind: 'job_event', jobId: 'job_2', ended: true, events },
          { kind: 'job_event', jobId: 'job_3', ended: false, requeued: true, events },
        ]);
        expect(there).toEqual([
          { kind: 'job_event', jobId: 'job_2', ended: true },
          { kind: 'job_event', jobId: 'job_3', ended: false, requeued: true },
        ]);
        expect(payloads.every((p) => !p.includes('events'))).toBe(true);
      } finally {
        await bus.close();
        await sender.end();
      }
    });

  if (backend.name === 'postgres')
    it('one process leads a duty; another takes over when it closes', async () => {
      const other = await openStore(db.url);
      others.push(other);
      const a = watcher();
      const b = watcher();
      const la = (await db.store.coordination({ leaderRetryMs: 50 })).lead('arrakis-fleet', a.handlers);
      expect(await within(() => a.seen.gained === 1, 5000)).toBe(true);
      const lb = (await other.coordination({ leaderRetryMs: 50 })).lead('arrakis-fleet', b.handlers);
      const c = watcher();
      const lc = (await other.coordination()).lead('another-duty', c.handlers);
      expect(await within(() => c.seen.gained === 1, 5000)).toBe(true);
      expect(await within(() => b.seen.gained > 0, 500)).toBe(false);
      expect(la.held()).toBe(true);
      expect(lb.held()).toBe(false);
      await la.close();
      expect(await within(() => b.seen.gained === 1, 5000)).toBe(true);
      expect(lb.held()).toBe(true);
      expect(a.seen.lost).toBe(0);
      await lb.close();
      await lc.close();
    });

  if (backend.name === 'postgres')
    it('a leader whose lock connection is killed takes the lock back without losing the duty', async () => {
      const w = watcher();
      const l = (await db.store.coordination()).lead('arrakis-fleet', w.handlers);
      expect(await within(() => l.held(), 5000)).toBe(true);
      await db.exec(
        `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND ${THIS_DATABASE}`,
      );
      expect(await within(() => !l.held(), 5000)).toBe(true);
      expect(await within(() => l.held(), 10_000)).toBe(true);
      expect(w.seen).toEqual({ gained: 1, lost: 0 });
      await l.close();
    });

  if (backend.name === 'postgres')
    it('a leader closed while it re-takes its lock does not hear that another replica took over', async () => {
      // Connections after the first wait at a gate, so close() lands while the re-take is under way.
      let gated = false;
      let reached = false;
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      const newClient = (): pg.Client => {
        const c = new pg.Client({ connectionString: db.url });
        if (!gated) return c;
        const connect = c.connect.bind(c);
        c.connect = (async () => {
          reached = true;
          await gate;
          return await connect();
        }) as typeof c.connect;
        return c;
      };
      const w = watcher();
      const deps = { newClient, log: { warn: () => {} }, retryMs: 50 };
      const l = advisoryLeadership(deps, 'arrakis-fleet', w.handlers);
      expect(await within(() => l.held(), 5000)).toBe(true);
      gated = true;
      await db.exec(
        `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND ${THIS_DATABASE}`,
      );
      expect(await within(() => reached, 5000)).toBe(true);
      await l.close();
      open();
      await new Promise((r) => setTimeout(r, 500));
      expect(w.seen).toEqual({ gained: 1, lost: 0 });
      expect(l.held()).toBe(false);
    });

  if (backend.name === 'postgres')
    it('after an outage the former leader takes its duty back before a replica that did not lead', async () => {
      const r = await relay(db.url);
      const newClient = (): pg.Client => new pg.Client({ connectionString: r.url });
      const deps = { newClient, log: { warn: () => {} }, retryMs: 50 };
      const a = watcher();
      const b = watcher();
      const la = advisoryLeadership(deps, 'arrakis-fleet', a.handlers);
      expect(await within(() => la.held(), 5000)).toBe(true);
      const lb = advisoryLeadership(deps, 'arrakis-fleet', b.handlers);
      try {
        await new Promise((done) => setTimeout(done, 200));
        r.cut();
        expect(await within(() => !la.held(), 5000)).toBe(true);
        await new Promise((done) => setTimeout(done, 1000));
        r.restore();
        // The replica that did not lead retries every 50 ms; the former leader is in its backoff.
        expect(await within(() => la.held(), 8000)).toBe(true);
        await new Promise((done) => setTimeout(done, 500));
        expect(a.seen).toEqual({ gained: 1, lost: 0 });
        expect(b.seen.gained).toBe(0);
      } finally {
        await la.close();
        await lb.close();
        r.close();
      }
    }, 20_000);

  /**
   * A bus whose first NOTIFY statement waits until `open()` (a database slow to answer), with the payload count of
   * each statement, and what another replica on the same database hears.
   */
  async function gatedBus() {
    const sender = new pg.Client({ connectionString: db.url });
    await sender.connect();
    const { gate, open } = heldGate();
    const statements: number[] = [];
    const bus = await createListenBus({
      newClient: () => new pg.Client({ connectionString: db.url }),
      notify: async (channel, payloads) => {
        statements.push(payloads.length);
        if (statements.length === 1) await gate;
        for (const payload of payloads) await sender.query('SELECT pg_notify($1, $2)', [channel, payload]);
      },
      log: { warn: () => {} },
    });
    const other = await openStore(db.url);
    others.push(other);
    const got: BusMessage[] = [];
    (await other.coordination()).bus.subscribe((m) => got.push(m));
    const close = async (): Promise<void> => {
      open();
      await bus.close();
      await sender.end();
    };
    return { bus, open, statements, got, close };
  }

  if (backend.name === 'postgres')
    it('a publisher never waits for the NOTIFY; messages published meanwhile go in order in the next statement', async () => {
      const { bus, open, statements, got, close } = await gatedBus();
      const local: BusMessage[] = [];
      bus.subscribe((m) => local.push(m));
      try {
        // Each publish resolves with the NOTIFY still held at the gate, and this process has the message.
        await bus.publish({ kind: 'job_ready', pool: 'a' });
        await new Promise((r) => setTimeout(r, 50));
        for (const pool of ['b', 'c', 'd']) await bus.publish({ kind: 'job_ready', pool });
        expect(await within(() => local.length === 4, 1000)).toBe(true);
        expect(got).toEqual([]);
        open();
        expect(await within(() => got.length === 4, 5000)).toBe(true);
        expect(got.map((m) => (m.kind === 'job_ready' ? m.pool : null))).toEqual(['a', 'b', 'c', 'd']);
        expect(statements).toEqual([1, 3]);
      } finally {
        await close();
      }
    });

  if (backend.name === 'postgres')
    it('close waits for the NOTIFY under way: what was published before it reaches the other replicas', async () => {
      const { bus, open, got, close } = await gatedBus();
      try {
        await bus.publish({ kind: 'cancel', jobId: 'job_1' });
        let closed = false;
        const closing = bus.close().then(() => (closed = true));
        await new Promise((r) => setTimeout(r, 200));
        expect(closed).toBe(false);
        open();
        await closing;
        expect(await within(() => got.length === 1, 5000)).toBe(true);
        expect(got).toEqual([{ kind: 'cancel', jobId: 'job_1' }]);
      } finally {
        await close();
      }
    });

  if (backend.name === 'postgres')
    it('close gives up on a NOTIFY the database never answers, and sends nothing after', async () => {
      let answer = (): void => {};
      const calls: string[][] = [];
      const bus = await createListenBus({
        newClient: () => new pg.Client({ connectionString: db.url }),
        notify: (_channel, payloads) => {
          calls.push([...payloads]);
          return new Promise<void>((resolve) => (answer = resolve));
        },
        log: { warn: () => {} },
      });
      await bus.publish({ kind: 'cancel', jobId: 'job_1' });
      await new Promise((r) => setTimeout(r, 20));
      // Waiting behind the statement that never answers.
      await bus.publish({ kind: 'cancel', jobId: 'job_2' });
      let closed = false;
      const closing = bus.close().then(() => (closed = true));
      expect(await within(() => closed, CLOSE_NOTIFY_MS + 3000)).toBe(true);
      await closing;
      // The database answers at last: what close gave up on is not sent to a pool that is closing.
      answer();
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toHaveLength(1);
    });

  if (backend.name === 'postgres')
    it('a failed NOTIFY statement does not hold back the messages published while it ran', async () => {
      let fail = (): void => {};
      const failing = new Promise<void>((_, reject) => (fail = () => reject(new Error('connection lost'))));
      const sent: string[][] = [];
      const bus = await createListenBus({
        newClient: () => new pg.Client({ connectionString: db.url }),
        notify: async (_channel, payloads) => {
          sent.push([...payloads]);
          if (sent.length === 1) await failing;
        },
        log: { warn: () => {} },
      });
      try {
        await bus.publish({ kind: 'cancel', jobId: 'job_1' });
        await new Promise((r) => setTimeout(r, 20));
        await bus.publish({ kind: 'cancel', jobId: 'job_2' });
        fail();
        // No further publish: the statement after the failed one still sends job_2.
        expect(await within(() => sent.length === 2, 2000)).toBe(true);
        expect(sent.map((s) => s.map((p) => (JSON.parse(p) as { m: { jobId: string } }).m.jobId))).toEqual([
          ['job_1'],
          ['job_2'],
        ]);
      } finally {
        await bus.close();
      }
    });

  if (backend.name === 'postgres')
    it('while the database does not answer, the backlog keeps the newest MAX_PENDING messages', async () => {
      const { gate, open } = heldGate();
      const sent: string[] = [];
      const bus = await createListenBus({
        newClient: () => new pg.Client({ connectionString: db.url }),
        notify: async (_channel, payloads) => {
          if (sent.length === 0) await gate;
          sent.push(...payloads);
        },
        log: { warn: () => {} },
      });
      const pool = (p: string): string | null => (JSON.parse(p) as { m: { pool: string | null } }).m.pool;
      try {
        await bus.publish({ kind: 'job_ready', pool: 'first' });
        await new Promise((r) => setTimeout(r, 20));
        for (let i = 0; i <= MAX_PENDING; i++) await bus.publish({ kind: 'job_ready', pool: `p${i}` });
        open();
        expect(await within(() => sent.length === 1 + MAX_PENDING, 5000)).toBe(true);
        await new Promise((r) => setTimeout(r, 50));
        expect(sent.length).toBe(1 + MAX_PENDING);
        // The statement under way sent its message; of those waiting, the oldest (p0) was dropped.
        expect(pool(sent[0]!)).toBe('first');
        expect(pool(sent[1]!)).toBe('p1');
        expect(pool(sent.at(-1)!)).toBe(`p${MAX_PENDING}`);
      } finally {
        open();
        await bus.close();
      }
    });

  if (backend.name === 'postgres')
    it('a listener whose connection went silent (half-open) notices, reconnects and tells subscribers to resync', async () => {
      const r = await relay(db.url);
      const sender = new pg.Client({ connectionString: db.url });
      await sender.connect();
      const bus = await createListenBus({
        newClient: () => new pg.Client({ connectionString: r.url, query_timeout: 300 }),
        notify: async (channel, payloads) => {
          for (const payload of payloads) await sender.query('SELECT pg_notify($1, $2)', [channel, payload]);
        },
        log: { warn: () => {} },
        checkMs: 200,
      });
      try {
        const got: BusMessage[] = [];
        bus.subscribe((m) => got.push(m));
        r.freeze();
        expect(await within(() => got.some((m) => m.kind === 'resync'), 10_000)).toBe(true);
        // Listening again on a live connection: another process's message arrives.
        const other = await openStore(db.url);
        others.push(other);
        await (await other.coordination()).bus.publish({ kind: 'cancel', jobId: 'job_3' });
        expect(await within(() => got.some((m) => m.kind === 'cancel'), 5000)).toBe(true);
      } finally {
        await bus.close();
        await sender.end();
        r.close();
      }
    });

  if (backend.name === 'postgres')
    it('a listener whose connection is killed reconnects and tells subscribers to resync', async () => {
      const c = await db.store.coordination();
      const got: BusMessage[] = [];
      c.bus.subscribe((m) => got.push(m));
      await db.exec(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = current_database() AND pid <> pg_backend_pid()`,
      );
      expect(await within(() => got.some((m) => m.kind === 'resync'), 10_000)).toBe(true);
      // Listening again: another process's message arrives.
      const other = await openStore(db.url);
      others.push(other);
      await (await other.coordination()).bus.publish({ kind: 'cancel', jobId: 'job_2' });
      expect(await within(() => got.some((m) => m.kind === 'cancel'), 5000)).toBe(true);
    });
});
