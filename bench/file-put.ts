/**
 * `FileStorage.put` of a 5 KB PNG-sized Buffer, one at a time: p50/p99 with the event loop idle and kept busy
 * (setImmediate spinners each doing `--work-ms` of CPU, as the serve process is between a job's steps), for the
 * writer as configured by default (`writer`: one hop per put to its thread, or the same steps on the event loop
 * while the storage's writes prove fast, src/media/storage/file-writer.ts; the line says how many went inline),
 * the writer held to its thread (`thread`), and the event-loop path through fs/promises (five or six thread-pool
 * trips). Run: `node --import tsx bench/file-put.ts [--puts 400] [--spinners 2]
 * [--work-ms 0.2] [--dir PATH]`. The folder defaults to one under the OS temp folder (use the data disk's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../src/bench/stats.js';
import { FileStorage } from '../src/media/storage/file-storage.js';

const { values } = parseArgs({
  options: {
    puts: { type: 'string', default: '400' },
    spinners: { type: 'string', default: '2' },
    'work-ms': { type: 'string', default: '0.2' },
    dir: { type: 'string' },
  },
});
const PUTS = Number(values.puts);
const SPINNERS = Number(values.spinners);
const WORK_MS = Number(values['work-ms']);

/** The nearest-rank percentile `p` of `values` (NaN when empty). */
const pct = (values: number[], p: number): number => percentile(values, p) ?? NaN;

/** Keeps the event loop busy: each spinner burns WORK_MS, then yields through setImmediate, until stopped. */
function spin(): () => void {
  let on = true;
  const one = (): void => {
    if (!on) return;
    const until = performance.now() + WORK_MS;
    while (performance.now() < until);
    setImmediate(one);
  };
  for (let i = 0; i < SPINNERS; i++) setImmediate(one);
  return () => (on = false);
}

async function run(storage: FileStorage, label: string, busy: boolean): Promise<string> {
  const body = Buffer.alloc(5 * 1024, 0x89);
  for (let i = 0; i < 20; i++) await storage.put(`warm/${label}/${i}.png`, body, 'image/png'); // start-up, folders
  const stop = busy ? spin() : () => undefined;
  const times: number[] = [];
  for (let i = 0; i < PUTS; i++) {
    // A folder per job, as outputs are stored (`jobs/<id>/outputs/0-…png`).
    const t = performance.now();
    await storage.put(`jobs/${label}-${busy ? 'b' : 'i'}-${i}/outputs/0-out.png`, body, 'image/png');
    times.push(performance.now() - t);
  }
  stop();
  times.sort((a, b) => a - b);
  const inlined = storage.writerThread === null ? '' : `  (${storage.writerThread.inlined} inline so far)`;
  return `${label.padEnd(10)} ${busy ? 'busy' : 'idle'}  p50 ${pct(times, 50).toFixed(2)} ms  p99 ${pct(times, 99).toFixed(2)} ms${inlined}`;
}

const base = mkdtempSync(join(values.dir ?? tmpdir(), 'arrakis-file-put-'));
try {
  console.log(`${PUTS} puts of 5 KB each; busy = ${SPINNERS} setImmediate spinners × ${WORK_MS} ms of CPU`);
  const writer = new FileStorage(join(base, 'writer'));
  const thread = new FileStorage(join(base, 'thread'), { inlineWrites: { maxMs: 0 } });
  const loop = new FileStorage(join(base, 'loop'), { writerThread: false });
  // Alternating, so a burst of load from other processes falls on all three.
  for (const busy of [false, true]) {
    for (let round = 0; round < 2; round++) {
      console.log(await run(writer, 'writer', busy));
      console.log(await run(thread, 'thread', busy));
      console.log(await run(loop, 'event-loop', busy));
    }
  }
  await writer.close();
  await thread.close();
} finally {
  rmSync(base, { recursive: true, force: true });
}
