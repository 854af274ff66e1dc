/** Queue, delete, interrupt (targeted and global), dropped sockets: against cancel.json and the queue captures. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComfyLiteServer } from '../../src/comfy-lite/server.js';
import {
  capture,
  Client,
  delayPrompt,
  doneOf,
  getJson,
  postJson,
  startServer,
  type Frame,
} from './helpers.js';

const cancel = capture('cancel.json') as Record<string, unknown>;
const queueCap = capture('upload-loadimage-queue.json') as Record<string, unknown>;

let server: ComfyLiteServer;
let client: Client;
beforeAll(async () => {
  server = await startServer();
  client = await Client.connect(server, 'peer-client-cancel');
});
afterAll(async () => {
  client.close();
  await server.close();
});

const submit = async (prompt: unknown, extra: Record<string, unknown> = {}): Promise<string> => {
  const res = await postJson(server, '/prompt', { prompt, client_id: 'peer-client-cancel', ...extra });
  expect(res.status).toBe(200);
  return (res.json as { prompt_id: string }).prompt_id;
};
const isType =
  (type: string, promptId?: string) =>
  (f: Frame): boolean =>
    'type' in f && f.type === type && (promptId === undefined || f.data.prompt_id === promptId);
const runningIds = async (): Promise<string[]> =>
  ((await getJson(server, '/queue')).json as { queue_running: Array<[number, string]> }).queue_running.map(
    (i) => i[1],
  );
const nonProgress = (frames: Frame[], promptId: string): string[] =>
  frames.flatMap((f) =>
    'type' in f && f.data.prompt_id === promptId && !f.type.startsWith('progress') ? [f.type] : [],
  );

describe('cancel sequence (cancel.json)', () => {
  const ids: string[] = [];
  const interrupts: Array<{ promptId: string | null; at: number }> = [];

  it('lists the running prompt and the pending ones like ComfyUI', async () => {
    server.events.on('interrupt', (e: { promptId: string | null; at: number }) => interrupts.push(e));
    ids.push(
      await submit(delayPrompt(101, 30)),
      await submit(delayPrompt(102, 30)),
      await submit(delayPrompt(103, 30)),
    );
    await client.waitFor(isType('progress', ids[0]));
    const queue = (await getJson(server, '/queue')).json as {
      queue_running: unknown[][];
      queue_pending: unknown[][];
    };
    const theirs = cancel.queue_while_running as { running_item_len: number; pending: unknown[][] };
    expect(queue.queue_running.map((i) => i[1])).toEqual([ids[0]]);
    expect(queue.queue_running[0]).toHaveLength(theirs.running_item_len);
    // The capture leaves the prompt (index 2) out of pending items.
    expect(queue.queue_pending.map((i) => [i[1], i[3], i[4]])).toEqual([
      [ids[1], { client_id: 'peer-client-cancel' }, ['3']],
      [ids[2], { client_id: 'peer-client-cancel' }, ['3']],
    ]);
    expect(queue.queue_pending.map((i) => i.filter((_, k) => k !== 2).length)).toEqual(
      theirs.pending.map((i) => i.length),
    );
  });

  it('deletes a pending prompt with only a status event', async () => {
    const mark = client.frames.length;
    const res = await postJson(server, '/queue', { delete: [ids[2]] });
    expect([res.status, res.text]).toEqual([200, '']);
    await client.waitFor((f) => client.frames.indexOf(f) >= mark && isType('status')(f));
    const since = client.frames.slice(mark).filter((f) => 'type' in f && !f.type.startsWith('progress'));
    expect(since.map((f) => ('type' in f ? f.type : ''))).toEqual(['status']);
    expect(
      ((await getJson(server, '/queue')).json as { queue_pending: unknown[][] }).queue_pending.map(
        (i) => i[1],
      ),
    ).toEqual([ids[1]]);
  });

  it('ignores a targeted interrupt of a prompt that is not running', async () => {
    const res = await postJson(server, '/interrupt', { prompt_id: ids[1] });
    expect([res.status, res.text]).toEqual([200, '']);
    const mark = client.frames.length;
    await client.waitFor((f) => client.frames.indexOf(f) >= mark && isType('progress', ids[0])(f));
    expect(await runningIds()).toEqual([ids[0]]);
    expect(interrupts).toEqual([]);
  });

  it('stops the running ArrakisDelay at once on a targeted interrupt', async () => {
    const done = doneOf(server, ids[0]!);
    const res = await postJson(server, '/interrupt', { prompt_id: ids[0] });
    expect([res.status, res.text]).toEqual([200, '']);
    expect(await done).toEqual({ promptId: ids[0], status: 'interrupted' });
    const stoppedAt = performance.now();
    expect(interrupts.map((i) => i.promptId)).toEqual([ids[0]]);
    // The node sleeps 30 s; a cooperative stop lands well inside one 50 ms step (loose bound for a busy machine).
    expect(stoppedAt - interrupts[0]!.at).toBeLessThan(1000);
    await client.waitDone(ids[0]!);
    const theirs = (cancel.p1_ws_non_progress as Array<{ type: string }>).map((f) => f.type);
    expect(nonProgress(client.frames, ids[0]!)).toEqual(theirs);
    const interrupted = client.frames.find(isType('execution_interrupted', ids[0]));
    expect(interrupted).toMatchObject({ data: { node_id: '2', node_type: 'ArrakisDelay', executed: ['1'] } });
    const at = client.frames.indexOf(interrupted!);
    const after = client.frames.slice(at, at + 3);
    expect(after.map((f) => ('type' in f ? [f.type, f.data.node ?? null] : []))).toEqual([
      ['execution_interrupted', null],
      ['status', null],
      ['executing', null],
    ]);
  });

  it('records the interrupted prompt as ComfyUI does (error, not completed, no outputs)', async () => {
    const history = (
      (await getJson(server, `/history/${ids[0]}`)).json as Record<string, Record<string, unknown>>
    )[ids[0]!]!;
    const theirs = cancel.p1_history_status_outputs as {
      status: { messages: Array<[string]> };
      outputs: unknown;
    };
    const status = history.status as { status_str: string; completed: boolean; messages: Array<[string]> };
    expect([status.status_str, status.completed]).toEqual(['error', false]);
    expect(status.messages.map((m) => m[0])).toEqual(theirs.status.messages.map((m) => m[0]));
    expect(history.outputs).toEqual(theirs.outputs);
  });

  it('interrupts whatever runs on a body-less interrupt, and the deleted prompt has no history', async () => {
    await client.waitFor(isType('progress', ids[1]));
    const done = doneOf(server, ids[1]!);
    const res = await fetch(`${server.url}/api/interrupt`, { method: 'POST' });
    expect([res.status, await res.text()]).toEqual([200, '']);
    expect((await done).status).toBe('interrupted');
    await client.waitDone(ids[1]!);
    expect(nonProgress(client.frames, ids[1]!)).toEqual(
      (cancel.p2_ws_non_progress as Array<{ type: string }>).map((f) => f.type),
    );
    expect((await getJson(server, `/history/${ids[2]}`)).json).toEqual(
      (cancel.p3_history as [number, unknown])[1],
    );
  });
});

describe('queue order', () => {
  it('puts front prompts and lower numbers first, like the captured heap', async () => {
    const blocker = await submit(delayPrompt(201, 30));
    await client.waitFor(isType('progress', blocker));
    const front = (await postJson(server, '/prompt', { prompt: delayPrompt(202, 1), front: true })).json as {
      number: number;
      prompt_id: string;
    };
    const low = (await postJson(server, '/prompt', { prompt: delayPrompt(203, 1), number: -100 })).json as {
      number: number;
      prompt_id: string;
    };
    expect(front.number).toBeLessThan(0);
    expect(low.number).toBe(-100);
    const pending = ((await getJson(server, '/queue')).json as { queue_pending: Array<[number, string]> })
      .queue_pending;
    expect(pending.map((i) => [i[0], i[1]])).toEqual([
      [-100, low.prompt_id],
      [front.number, front.prompt_id],
    ]);
    expect((queueCap.queue_pending_order as unknown[][]).map((i) => i[0])).toEqual([-100, -22]);
    expect((await postJson(server, '/queue', { clear: true })).status).toBe(200);
    expect(((await getJson(server, '/queue')).json as { queue_pending: unknown[] }).queue_pending).toEqual(
      queueCap.queue_after_clear,
    );
    const done = doneOf(server, blocker);
    await postJson(server, '/interrupt', {});
    await done;
    expect((await getJson(server, `/history/${low.prompt_id}`)).json).toEqual({});
  });
});

describe('sockets', () => {
  it('keeps running and writes complete history when every socket drops', async () => {
    const id = await submit(delayPrompt(301, 0.3));
    await client.waitFor(isType('progress', id));
    const closed = new Promise((resolve) => client.ws.once('close', resolve));
    const done = doneOf(server, id);
    server.dropSockets();
    await closed;
    expect((await done).status).toBe('success');
    const history = (
      (await getJson(server, `/history/${id}`)).json as Record<
        string,
        { status: { completed: boolean }; outputs: unknown }
      >
    )[id]!;
    expect(history.status.completed).toBe(true);
    expect(history.outputs).toEqual({
      '3': { images: [{ filename: 't301_00001_.png', subfolder: 'delay', type: 'output' }] },
    });
    client = await Client.connect(server, 'peer-client-cancel');
  });

  it('sends events to the newest socket of a client id only, and progress of an anonymous prompt to everyone', async () => {
    const old = await Client.connect(server, 'same-id');
    const fresh = await Client.connect(server, 'same-id');
    const id = (await postJson(server, '/prompt', { prompt: delayPrompt(401, 0.1), client_id: 'same-id' }))
      .json as { prompt_id: string };
    await fresh.waitDone(id.prompt_id);
    expect(old.frames.filter((f) => 'type' in f && f.data.prompt_id === id.prompt_id)).toEqual([]);
    client.clear();
    const anon = (await postJson(server, '/prompt', { prompt: delayPrompt(402, 0.1) })).json as {
      prompt_id: string;
    };
    const done = doneOf(server, anon.prompt_id);
    await done;
    await client.waitFor(isType('progress', anon.prompt_id));
    expect(client.frames.some(isType('execution_start', anon.prompt_id))).toBe(false);
    expect(client.frames.some(isType('executing', anon.prompt_id))).toBe(false);
    old.close();
    fresh.close();
  });

  it('tells a client that reconnects mid-run which node is executing', async () => {
    const first = await Client.connect(server, 'reconnecting');
    const id = (
      await postJson(server, '/prompt', { prompt: delayPrompt(501, 30), client_id: 'reconnecting' })
    ).json as {
      prompt_id: string;
    };
    await first.waitFor(isType('progress', id.prompt_id));
    first.ws.terminate();
    const again = await Client.connect(server, 'reconnecting');
    const executing = await again.waitFor(isType('executing'));
    expect(executing).toEqual({ type: 'executing', data: { node: '2' } });
    const done = doneOf(server, id.prompt_id);
    await postJson(server, '/interrupt', { prompt_id: id.prompt_id });
    await done;
    again.close();
  });
});
