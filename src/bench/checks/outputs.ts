/**
 * outputs: every output of a completed job downloads, has the size the job reports, and its bytes are of
 * the reported content type (magic bytes, as the worker detects them).
 */
import { detectContentType } from '../../media/output-content-type.js';
import type { Job } from '../../client/index.js';
import type { BenchContext } from '../context.js';
import { outcome, runJob } from '../job-runner.js';
import { count, seconds } from '../types.js';
import { fmt, verdict, type Verdict } from './verdict.js';

/** A completed job with outputs from an earlier check, else a fresh one. */
async function jobWithOutputs(ctx: BenchContext): Promise<Job | string> {
  const earlier = ctx.completed.find((j) => j.outputs.length > 0);
  if (earlier !== undefined) return earlier;
  const f = await runJob(ctx, 'outputs', 'outputs', ctx.jobs.short());
  return f.job.status === 'completed' ? f.job : `the job ${f.job.id} ended ${outcome(f)}`;
}

export async function outputsCheck(ctx: BenchContext): Promise<Verdict> {
  const job = await jobWithOutputs(ctx);
  if (typeof job === 'string') return verdict('fail', job);
  if (job.outputs.length === 0) return verdict('fail', `the completed job ${job.id} reports no output`);
  const client = ctx.clientAs(job.user_id);
  const problems: string[] = [];
  const lines: string[] = [];
  let bytes = 0;
  const t0 = performance.now();
  for (const output of job.outputs) {
    ctx.progress.update(`downloading ${output.filename}`);
    const data = await client.outputs.download(job.id, output.index);
    bytes += data.length;
    const sniffed = detectContentType(Buffer.from(data), output.filename);
    lines.push(
      `${output.filename}: ${data.length} bytes (reported ${output.size}), ${sniffed} (reported ${output.content_type})`,
    );
    if (data.length !== output.size) {
      problems.push(`${output.filename}: downloaded ${data.length} bytes, the job reports ${output.size}`);
    }
    if (sniffed !== output.content_type) {
      problems.push(`${output.filename}: the bytes are ${sniffed}, the job reports ${output.content_type}`);
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  const figures = {
    outputs: count('outputs', job.outputs.length),
    bytes: { label: 'bytes downloaded', value: bytes, unit: 'bytes' },
    download: seconds('download time', elapsed),
  };
  if (problems.length > 0) return verdict('fail', problems.join('; '), figures, lines);
  return verdict(
    'pass',
    `${job.outputs.length} output(s), ${bytes} bytes in ${fmt(elapsed)}: sizes and types match`,
    figures,
    lines,
  );
}
