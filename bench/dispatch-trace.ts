/**
 * The stage breakdown of `bench/dispatch --trace`: while one run (a direct prompt or an Arrakis job) is
 * active, it records every stage mark of this process with its offset from the run's start:
 * - the control plane's own marks (src/util/job-trace.ts: admitted, claimed, frames received, output stored,
 *   terminal commit, SSE done written, …),
 * - every HTTP request made from this process, from undici's diagnostics channels (the bench's client calls and
 *   the agent's calls to comfy-lite alike): `sent`, `answered` (headers in), `body read`,
 * - the bench client's own marks (submit answered, done received, output bytes read).
 * Runs never overlap, so a mark belongs to the run active when it fires. A label seen twice in one run gets
 * `#2`, `#3`. The report is the median offset of each label over the runs that had it.
 */
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { JOB_TRACE_CHANNEL, type JobTraceMark } from '../src/util/job-trace.js';

interface UndiciRequest {
  method?: string;
  path?: string;
  origin?: unknown;
}

/** `/v1/jobs/job_x/events` → `/v1/jobs/{id}/events`, `/view?…` → `/view`: one label per kind of request. */
function requestLabel(request: UndiciRequest): string {
  const path = (request.path ?? '?').split('?')[0] ?? '?';
  const shape = path
    .replace(/\/(job|out)_[A-Za-z0-9_-]+/g, '/{id}')
    .replace(/\/history\/[^/]+/, '/history/{id}')
    .replace(/\/v1\/jobs\/\{id\}\/outputs\/.*/, '/v1/jobs/{id}/outputs/…');
  return `${request.method ?? '?'} ${shape}`;
}

export class StageTrace {
  private current: { t0: number; marks: Map<string, number> } | null = null;
  private readonly runs = new Map<string, Array<Map<string, number>>>();

  constructor() {
    subscribe(JOB_TRACE_CHANNEL, (m) => {
      const mark = m as JobTraceMark;
      this.mark(mark.stage, mark.at);
    });
    subscribe('undici:request:create', (m) => {
      this.mark(`${requestLabel((m as { request: UndiciRequest }).request)} sent`);
    });
    subscribe('undici:request:headers', (m) => {
      this.mark(`${requestLabel((m as { request: UndiciRequest }).request)} answered`);
    });
    subscribe('undici:request:trailers', (m) => {
      this.mark(`${requestLabel((m as { request: UndiciRequest }).request)} body read`);
    });
  }

  /** Starts a run; marks until `end` belong to it. */
  begin(): void {
    this.current = { t0: performance.now(), marks: new Map() };
  }

  mark(stage: string, at = performance.now()): void {
    const run = this.current;
    if (run === null) return;
    let label = stage;
    for (let n = 2; run.marks.has(label); n++) label = `${stage} #${n}`;
    run.marks.set(label, at - run.t0);
  }

  end(kind: string, keep: boolean): void {
    const run = this.current;
    this.current = null;
    if (run === null || !keep) return;
    const list = this.runs.get(kind) ?? [];
    list.push(run.marks);
    this.runs.set(kind, list);
  }

  /** One table per kind: median offset of each stage from the run's start, in time order. */
  report(kind: string): string {
    const runs = this.runs.get(kind) ?? [];
    const offsets = new Map<string, number[]>();
    for (const run of runs) {
      for (const [label, at] of run) offsets.set(label, [...(offsets.get(label) ?? []), at]);
    }
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.floor(s.length / 2)] ?? NaN;
    };
    const rows = [...offsets]
      // A stage most runs lack (a second poll on a slow run) is noise in a median table.
      .filter(([, xs]) => xs.length * 2 >= runs.length)
      .map(([label, xs]) => ({ label, at: median(xs), n: xs.length }))
      .sort((a, b) => a.at - b.at);
    const lines = [`stage trace, ${kind}: median ms since the run started (${runs.length} runs)`];
    let previous = 0;
    for (const r of rows) {
      const step = r.at - previous;
      previous = r.at;
      const seen = r.n === runs.length ? '' : `   (in ${r.n} runs)`;
      lines.push(`  ${r.at.toFixed(2).padStart(7)}  +${step.toFixed(2).padStart(5)}  ${r.label}${seen}`);
    }
    return lines.join('\n');
  }
}
