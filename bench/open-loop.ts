/**
 * bench/open-loop — a constant-rate (open-loop) HTTP load generator, run as its own process by bench/api.ts.
 *
 *   node --import tsx bench/open-loop.ts '{"url":…,"method":"POST","headers":{…},"body":"…","rate":1000,"seconds":6,"connections":50}'
 *
 * Prints one JSON line: { sent, done, rps, p50, p90, p99, max, non2xx, errors } (latencies in ms, of the measured
 * 2xx answers only; the failures of the measured window are counted in non2xx and errors).
 *
 * Request i is due at start + i / rate, whatever happened to the ones before it (wrk2's model), and its latency
 * is counted from that due time, not from when it left: a server (or this process) that falls behind is charged
 * the whole wait, so there is no coordinated omission to correct afterwards. Requests go over an undici Pool of
 * at most `connections` keep-alive connections; one that finds them all busy waits in the pool, and that wait
 * is part of its latency too.
 *
 * Why not `autocannon -R`: autocannon limits each connection to a quota per wall-clock second, so every
 * connection sends closed-loop, as fast as the server answers, until its quota is spent, then idles until the
 * next second. At half the server's capacity the first half of every second is saturation, and the latencies
 * it reports are saturation latencies (then inflated further by its 1 ms "expected interval" correction).
 * A first second at the same rate warms connections and JIT and is not recorded.
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { z } from 'zod';
import { percentile } from '../src/bench/stats.js';

const optionsSchema = z.object({
  url: z.string().url(),
  method: z.enum(['GET', 'POST']),
  headers: z.record(z.string(), z.string()),
  body: z.string().optional(),
  rate: z.number().positive(),
  seconds: z.number().positive(),
  connections: z.number().int().positive(),
});
const options = optionsSchema.parse(JSON.parse(process.argv[2] ?? '{}'));

const WARMUP_S = 1;
const target = new URL(options.url);
const pool = new Pool(target.origin, { connections: options.connections, pipelining: 1 });
const path = `${target.pathname}${target.search}`;
const interval = 1000 / options.rate;
const total = Math.round(options.rate * (WARMUP_S + options.seconds));
const recordFrom = Math.round(options.rate * WARMUP_S);

const latencies: number[] = [];
let non2xx = 0;
let errors = 0;
let done = 0;
let sent = 0;
let lastEnd = 0;

function fire(i: number, due: number): void {
  pool
    .request({ path, method: options.method, headers: options.headers, body: options.body })
    .then(async (res) => {
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300;
    })
    .catch(() => null)
    .then((ok) => {
      const end = performance.now();
      if (i >= recordFrom) {
        // Only answered successes count in the latencies and req/s: a quick refusal or a reset must not make
        // the service look faster. Failures are counted apart (non2xx, errors) and printed.
        if (ok === true) latencies.push(end - due);
        else if (ok === false) non2xx++;
        else errors++;
        lastEnd = end;
      }
      done++;
      if (done === total) void finish();
    });
}

const start = performance.now() + 20;
const recordStart = start + recordFrom * interval;

/** Sends every request now due, then sleeps until the next one is (timers have ~1 ms granularity). */
function tick(): void {
  const now = performance.now();
  while (sent < total && start + sent * interval <= now) {
    fire(sent, start + sent * interval);
    sent++;
  }
  if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
}

async function finish(): Promise<void> {
  await pool.close();
  const at = (p: number): number => Math.round((percentile(latencies, p) ?? Number.NaN) * 10) / 10;
  const measuredS = Math.max(1e-3, (lastEnd - recordStart) / 1000);
  console.log(
    JSON.stringify({
      sent,
      done: latencies.length,
      rps: latencies.length / measuredS,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      max: at(100),
      non2xx,
      errors,
    }),
  );
}

setTimeout(tick, Math.max(0, start - performance.now()));
