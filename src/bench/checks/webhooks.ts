/**
 * webhooks: a job submitted with a webhook URL delivers a `job.completed` event that verifies with the
 * account's secret (Standard Webhooks). The battery listens itself: at --webhook-receiver URL when given,
 * else on a local port, which the server may call only when allowed (`serve --fetch-allow`); a server that
 * refuses the local URL (400 url_blocked) leaves the check not run.
 */
import { ArrakisError, verifyWebhook } from '../../client/index.js';
import type { BenchContext } from '../context.js';
import { outcome, runJob } from '../job-runner.js';
import { flag, seconds } from '../types.js';
import { parseListen, startWebhookReceiver } from '../webhook-receiver.js';
import { fmt, verdict, type Verdict } from './verdict.js';

const ARRIVAL_TIMEOUT_MS = 30_000;

function listenAddress(ctx: BenchContext): { host: string; port: number } {
  if (ctx.options.webhookListen !== undefined) return parseListen(ctx.options.webhookListen);
  const url = ctx.options.webhookReceiver;
  if (url === undefined) return { host: '127.0.0.1', port: 0 };
  const u = new URL(url);
  return { host: '127.0.0.1', port: u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port) };
}

export async function webhooksCheck(ctx: BenchContext): Promise<Verdict> {
  const receiver = await startWebhookReceiver(listenAddress(ctx));
  try {
    const target = ctx.options.webhookReceiver ?? receiver.localUrl;
    ctx.progress.update(`job with a webhook to ${target}`);
    let f;
    try {
      f = await runJob(ctx, 'webhooks', 'webhooks', ctx.jobs.short(), { webhook: target });
    } catch (err) {
      if (
        ctx.options.webhookReceiver === undefined &&
        err instanceof ArrakisError &&
        err.code === 'url_blocked'
      ) {
        return verdict(
          'not_run',
          `the server may not call a local receiver (${err.code}); give --webhook-receiver URL`,
        );
      }
      throw err;
    }
    if (f.job.status !== 'completed') return verdict('fail', `the job ${f.job.id} ended ${outcome(f)}`);
    ctx.progress.update('waiting for the delivery');
    const delivery = await receiver.waitFor((d) => d.body.includes(f.job.id), ARRIVAL_TIMEOUT_MS);
    if (delivery === null) {
      return verdict(
        'fail',
        `no webhook for ${f.job.id} reached ${target} within ${ARRIVAL_TIMEOUT_MS / 1000} s`,
      );
    }
    const latency = f.doneAt === null ? null : Math.max(0, (delivery.receivedAt - f.doneAt) / 1000);
    const figures = {
      latency: seconds('delivery after the job ended', latency),
      verified: flag('signature verifies', false),
    };
    try {
      const event = await verifyWebhook(ctx.main.account.webhook_secret, delivery.headers, delivery.body);
      figures.verified = flag('signature verifies', true);
      if (event.type !== 'job.completed' || event.data.job.id !== f.job.id) {
        return verdict('fail', `the delivery is ${event.type} for ${event.data.job.id}`, figures);
      }
    } catch (err) {
      return verdict(
        'fail',
        `the delivery does not verify: ${err instanceof Error ? err.message : String(err)}`,
        figures,
      );
    }
    return verdict('pass', `job.completed arrived ${fmt(latency)} after the job ended and verifies`, figures);
  } finally {
    await receiver.close();
  }
}
