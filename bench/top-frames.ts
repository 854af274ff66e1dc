/**
 * bench/top-frames — the top of a V8 CPU profile (.cpuprofile, from `--cpu-prof` or `bench/api.ts --profile`).
 *
 *   node --import tsx bench/top-frames.ts FILE [--top 30] [--skip-ms N]
 *
 * Prints self time by function, self time by package (node_modules/<pkg>, src/<folder>, node internals), and
 * total (inclusive) time by function, and self time charged to the nearest frame of our own code (src/), each as
 * a share of the samples. `--skip-ms N` drops the samples of the profile's first N ms (a process's start-up:
 * module loading, warm-up), so a whole-process profile (`bench/dispatch --profile-serve`) shows the steady state.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const profileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
      children: z.array(z.number()).optional(),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()).optional(),
});
type ProfileNode = z.infer<typeof profileSchema>['nodes'][number];

const args = process.argv.slice(2);
const file = args[0];
if (file === undefined) throw new Error('usage: bench/top-frames.ts FILE [--top N]');
const topIndex = args.indexOf('--top');
const TOP = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
const skipIndex = args.indexOf('--skip-ms');
const SKIP_US = skipIndex >= 0 ? Number(args[skipIndex + 1]) * 1000 : 0;
process.stdout.on('error', () => process.exit(0));
const profile = profileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));

const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfCount = new Map<number, number>();
let elapsedUs = 0;
let total = 0;
for (const [i, s] of profile.samples.entries()) {
  elapsedUs += profile.timeDeltas?.[i] ?? 0;
  if (elapsedUs < SKIP_US) continue;
  selfCount.set(s, (selfCount.get(s) ?? 0) + 1);
  total++;
}

function frameName(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const short = url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '~/')
    .replace(/^.*\/src\//, 'src/');
  return `${functionName || '(anonymous)'} ${short === '' ? '' : `${short}:${lineNumber + 1}`}`.trim();
}

function packageOf(n: ProfileNode): string {
  const url = n.callFrame.url;
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep?.[1] !== undefined) return dep[1];
  const own = /\/(src|bench)\/([^/]+)/.exec(url);
  if (own?.[1] !== undefined && own[2] !== undefined) return `${own[1]}/${own[2]}`;
  if (url.startsWith('node:')) return url;
  return url === '' ? n.callFrame.functionName : 'other';
}

function add(map: Map<string, number>, key: string, count: number): void {
  map.set(key, (map.get(key) ?? 0) + count);
}

const selfByFrame = new Map<string, number>();
const selfByPackage = new Map<string, number>();
const totalByFrame = new Map<string, number>();
const byOwnFrame = new Map<string, number>();
/** The nearest frame of our own code (src/) at or above `id`: where a library's time was spent from. */
function ownFrame(id: number): string {
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at);
    if (n === undefined) break;
    if (/\/src\//.test(n.callFrame.url)) return frameName(n);
  }
  const leaf = byId.get(id);
  return leaf === undefined ? '?' : `(no src frame) ${packageOf(leaf)}`;
}
for (const [id, count] of selfCount) {
  const node = byId.get(id);
  if (node === undefined) continue;
  add(selfByFrame, frameName(node), count);
  add(selfByPackage, packageOf(node), count);
  add(byOwnFrame, ownFrame(id), count);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const n = byId.get(at);
    if (n === undefined) break;
    const name = frameName(n);
    if (!seen.has(name)) add(totalByFrame, name, count);
    seen.add(name);
  }
}

function print(title: string, map: Map<string, number>, top: number): void {
  console.log(`\n${title}`);
  for (const [name, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * count) / total).toFixed(1).padStart(5)} %  ${name}`);
  }
}

console.log(`${file}: ${total} samples`);
print('self time by function', selfByFrame, TOP);
print('self time by package', selfByPackage, 20);
print('total time by function', totalByFrame, TOP);
print('self time charged to the nearest frame of src/ (libraries and natives it called)', byOwnFrame, TOP);
