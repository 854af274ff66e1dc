/**
 * RemoteJobChannel's cancel long-poll at a job's end, against a real HTTP server on 127.0.0.1: unsubscribing
 * lets the poll under way answer (its connection is kept) and opens no other; a server that never answers has
 * the poll aborted after a grace; closing the channel aborts it at once.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { CANCEL_POLL_GRACE_MS, RemoteJobChannel } from '../../src/agent/remote-job-channel.js';
import { rawPeers } from '../support/raw-http.js';

const peers = rawPeers();
/** The cancel polls that reached the server, in order, with whether their request was closed early. */
const polls: { res: ServerResponse; closed: boolean }[] = [];

async function serve(): Promise<string> {
  return await peers.listen((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.includes('/cancel') !== true) {
      res.writeHead(404).end();
      return;
    }
    const poll = { res, closed: false };
    polls.push(poll);
    res.on('close', () => {
      poll.closed = !res.writableFinished;
    });
  });
}

afterEach(async () => {
  await peers.cleanup();
  polls.length = 0;
});

function channel(serverUrl: string): RemoteJobChannel {
  return peers.track(new RemoteJobChannel({ serverUrl, token: 'wkt_test', cancelPollMs: 60_000 }));
}

function answer(res: ServerResponse, lease: string): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ lease }));
}

it('lets the poll under way answer after unsubscribing, on a kept connection, and opens no other', async () => {
  const url = await serve();
  const c = channel(url);
  let cancels = 0;
  const unsubscribe = c.onCancel('j', () => (cancels += 1));
  await expect.poll(() => polls.length).toBe(1);
  const socket = polls[0]?.res.socket;
  unsubscribe();
  // The server answers after the run's end: a cancel now is for nobody, and the answer is read whole.
  const first = polls[0];
  if (first === undefined) throw new Error('no poll');
  answer(first.res, 'cancel_requested');
  await once(first.res, 'finish');
  await new Promise((resolve) => setTimeout(resolve, CANCEL_POLL_GRACE_MS + 500));
  expect(cancels).toBe(0);
  expect(first.closed).toBe(false);
  expect(socket?.destroyed).toBe(false);
  expect(polls.length).toBe(1);
});

it('aborts a poll the server does not answer once the grace is over, and opens no other', async () => {
  const url = await serve();
  const unsubscribe = channel(url).onCancel('j', () => undefined);
  await expect.poll(() => polls.length).toBe(1);
  unsubscribe();
  await expect.poll(() => polls[0]?.closed, { timeout: CANCEL_POLL_GRACE_MS + 3_000 }).toBe(true);
  expect(polls.length).toBe(1);
});

it('aborts the poll at once when the channel closes', async () => {
  const url = await serve();
  const c = channel(url);
  c.onCancel('j', () => undefined);
  await expect.poll(() => polls.length).toBe(1);
  await c.close();
  await expect.poll(() => polls[0]?.closed, { timeout: CANCEL_POLL_GRACE_MS / 2 }).toBe(true);
});
