/**
 * A TCP proxy on 127.0.0.1 that can turn into a blackhole: while blackholed it keeps every connection open but
 * forwards no byte in either direction (they are dropped, as a partition or a lost NAT entry loses them), so the
 * peers see silence, not a close. Stands between a store and its Postgres to simulate a host that stopped answering.
 * It can also drop only the server's replies: the server still runs (and commits) what it receives.
 */
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface BlackholeProxy {
  /** postgres://… with the proxy's host and port in place of the target's. */
  readonly url: string;
  /** Stops forwarding (true) or forwards again (false); open connections stay open either way. */
  blackhole(on: boolean): void;
  /** Drops the server's bytes only (true), so statements still reach it, or forwards them again (false). */
  muteReplies(on: boolean): void;
  close(): Promise<void>;
}

/** A proxy to the host and port of `targetUrl` (a postgres:// URL). */
export async function startBlackholeProxy(targetUrl: string): Promise<BlackholeProxy> {
  const target = new URL(targetUrl);
  let holed = false;
  let muted = false;
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket, reply: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      if (!holed && !(reply && muted)) to.write(chunk);
    });
    from.on('close', () => to.destroy());
    from.on('error', () => to.destroy());
  };
  const server: Server = createServer((downstream) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipe(downstream, upstream, false);
    pipe(upstream, downstream, true);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    blackhole: (on) => {
      holed = on;
    },
    muteReplies: (on) => {
      muted = on;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
