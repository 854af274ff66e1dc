/**
 * Plain HTTP servers on 127.0.0.1 for tests that play a peer by hand (a worker API answering as a test needs),
 * and channels to close after each test: `cleanup()` in afterEach closes both, connections included.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function rawPeers() {
  const servers: Server[] = [];
  const closables: { close(): Promise<void> }[] = [];
  return {
    /** Serves `handler` on a free port; resolves with its base URL. */
    async listen(handler: RawHandler): Promise<string> {
      const server = createServer(handler);
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    /** Closes `c` (a channel) in cleanup; returns it. */
    track<T extends { close(): Promise<void> }>(c: T): T {
      closables.push(c);
      return c;
    },
    async cleanup(): Promise<void> {
      for (const c of closables.splice(0)) await c.close();
      for (const server of servers.splice(0)) {
        server.closeAllConnections();
        server.close();
      }
    },
  };
}
