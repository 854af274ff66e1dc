/**
 * Input I/O figures: safe-fetch throughput from an allowlisted loopback server, and memory while a
 * 200 MB body is refused at the 25 MiB limit. Run: `node --import tsx bench/io.ts`.
 * (Webhook delivery figures live beside the webhook code.)
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { DEFAULT_MAX_BYTES, safeFetch } from '../src/media/safe-fetch.js';

const MB = 1024 * 1024;
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return typeof addr === 'object' && addr !== null ? addr.port : 0;
}

/** Serves `/image` (a 10 MB body that sniffs as PNG) and `/huge` (200 MB streamed from one 64 KiB chunk). */
function makeServer(image: Buffer, counters: { hugeSent: number }): Server {
  const chunk = Buffer.alloc(64 * 1024, 7);
  return createServer((req, res) => {
    if (req.url === '/image') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(image);
      return;
    }
    // No Content-Length: the limit must be enforced while streaming, not from a header.
    res.writeHead(200, { 'content-type': 'image/png' });
    res.write(PNG_MAGIC); // a plausible image, so only the size limit can stop it
    let left = 200 * MB;
    const pump = (): void => {
      while (left > 0) {
        left -= chunk.length;
        counters.hugeSent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    res.on('close', () => (left = 0));
    pump();
  });
}

async function throughput(base: string, allow: string[], count: number, size: number): Promise<void> {
  const started = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const r = await safeFetch(`${base}/image`, { allow, expect: 'image' });
    bytes += r.body.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `input fetch, sequential: ${count} × ${size / MB} MB in ${seconds.toFixed(2)} s = ${(bytes / MB / seconds).toFixed(0)} MB/s`,
  );

  const parallel = 4;
  const t2 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = 0; i < count / parallel; i++) await safeFetch(`${base}/image`, { allow, expect: 'image' });
    }),
  );
  const s2 = Number(process.hrtime.bigint() - t2) / 1e9;
  console.log(
    `input fetch, ${parallel} at a time: ${count} × ${size / MB} MB in ${s2.toFixed(2)} s = ${((count * size) / MB / s2).toFixed(0)} MB/s`,
  );
}

async function refusal(base: string, allow: string[], counters: { hugeSent: number }): Promise<void> {
  const base0 = process.memoryUsage();
  const baseline = base0.rss;
  let peak = baseline;
  let peakBuffers = base0.arrayBuffers;
  const sample = (): void => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.rss);
    peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
  };
  const sampler = setInterval(sample, 2);
  const started = process.hrtime.bigint();
  const outcome = await safeFetch(`${base}/huge`, { allow, expect: 'image' }).then(
    () => 'accepted (wrong!)',
    (e: unknown) => (e instanceof Error && 'code' in e ? String(e.code) : String(e)),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  sample();
  clearInterval(sampler);
  console.log(
    `200 MB body at the ${DEFAULT_MAX_BYTES / MB} MiB limit: ${outcome} after ${ms.toFixed(0)} ms; ` +
      `server had written ${(counters.hugeSent / MB).toFixed(1)} MB; peak growth: RSS ${((peak - baseline) / MB).toFixed(1)} MB, ` +
      `Buffers ${((peakBuffers - base0.arrayBuffers) / MB).toFixed(1)} MB (bounded by the limit, not the body)`,
  );
}

async function main(): Promise<void> {
  const size = 10 * MB;
  const image = Buffer.concat([PNG_MAGIC, randomBytes(size - PNG_MAGIC.length)]);
  const counters = { hugeSent: 0 };
  const server = makeServer(image, counters);
  const port = await listen(server);
  const base = `http://127.0.0.1:${port}`;
  const allow = [`127.0.0.1:${port}`];
  await safeFetch(`${base}/image`, { allow, expect: 'image' }); // warm-up
  await refusal(base, allow, counters);
  await throughput(base, allow, 20, size);
  server.closeAllConnections();
  server.close();
}

await main();
