/**
 * The fleet's preload asks: an idle worker loads a model file from its own disk into VRAM by running the pool's
 * warm-up workflow made to load it, as a prompt of its own. A preload is idle-time
 * work like a prefetch: it starts only after a claim came back empty (never while a job runs), and a job
 * claimed meanwhile stops it at once — its prompt is interrupted, or deleted from ComfyUI's queue, through the
 * agent's own client (a targeted stop: only that prompt). Its savers write under a prefix of their own, and it
 * makes no job row and stores no output object. A preload whose prompt fails is tried again only after the
 * prefetches' backoff (10, 20, 40, 80 s), and given up after as many tries, for as long.
 */
import { randomUUID } from 'node:crypto';
import type { ComfyServer } from '../comfy/contract.js';
import type { Workflow } from '../comfy/workflow.js';
import { parseWorkflow } from '../comfy/workflow-check.js';
import type { ModelRef } from '../models/model-refs.js';
import type { AgentLog } from './agent-log.js';
import { DEFAULT_PREFETCH_RETRY, RetryLedger, type PrefetchRetryOptions } from './retry-ledger.js';

export interface PreloaderOptions {
  comfy: ComfyServer;
  /**
   * The pool's warm-up workflow made to load `ref` (fleet/warmup-model.ts `warmupLoading`), or null when it has
   * no loader of the model's kind (then the model cannot be preloaded).
   */
  loading: (ref: ModelRef) => Record<string, unknown> | null;
  log: AgentLog;
  /** Tries, gaps and give-up time of a failing preload (default: the prefetches' DEFAULT_PREFETCH_RETRY). */
  retry?: PrefetchRetryOptions;
  /**
   * The preload's prompt began to run on ComfyUI (its first node event): from now on it may have pushed a
   * resident model out, whether it completes or is stopped.
   */
  onStarted?: (ref: ModelRef) => void;
  /** The model is resident: `seconds` from the prompt's submission to its first progress (or its end). */
  onLoaded: (ref: ModelRef, seconds: number) => Promise<void>;
}

/** Savers of a preload prompt write here, never where a job's files go (`arrakis/<jobId>/`). */
const PREFIX_ROOT = 'arrakis-preload';

export class ModelPreloader {
  private ask: ModelRef | null = null;
  private free = false;
  private readonly troubles: RetryLedger;
  private running: { ref: ModelRef; stop: AbortController; done: Promise<void> } | null = null;

  constructor(private readonly o: PreloaderOptions) {
    this.troubles = new RetryLedger({
      doing: 'preloading',
      gaveUpMessage: 'gave up preloading a model file; the fleet asks this worker for no preload of it',
      log: o.log,
      retry: o.retry ?? DEFAULT_PREFETCH_RETRY,
    });
  }

  /** True when the pool's warm-up workflow has a loader of this model's kind (else it cannot preload it). */
  canLoad(ref: ModelRef): boolean {
    return this.o.loading(ref) !== null;
  }

  /**
   * The fleet asks for this model to be loaded. False when the ask is not taken: the warm-up cannot load it,
   * it is being loaded or asked already, or it failed and waits for its backoff (or was given up). A taken
   * ask starts now when the worker is free, else after its next empty claim; it replaces an earlier ask.
   */
  request(ref: ModelRef, now = Date.now()): boolean {
    if (!this.canLoad(ref)) return false;
    if (this.running?.ref.name === ref.name || this.ask?.name === ref.name) return false;
    if (this.troubles.givenUp(ref.name) || this.troubles.nextAt(ref.name) > now) return false;
    this.ask = ref;
    this.start();
    return true;
  }

  /** A claim came back empty: the worker is free until the next job; an asked preload starts. */
  freed(): void {
    this.free = true;
    this.start();
  }

  /** Models given up (their preload kept failing), still refused: the fleet's plan asks for no preload of them. */
  refused(now = Date.now()): string[] {
    return this.troubles.refused(now);
  }

  /**
   * A job was claimed (or the agent stops): no preload starts until the next empty claim, a running one is
   * stopped on ComfyUI, and a waiting ask is dropped (the job may change what is resident; the plan asks again
   * if the model is still wanted). Resolves once the prompt has ended; the job need not wait for that.
   */
  stop(): Promise<void> {
    this.free = false;
    this.ask = null;
    const running = this.running;
    this.running = null;
    running?.stop.abort();
    return running?.done ?? Promise.resolve();
  }

  private start(): void {
    const ref = this.ask;
    if (!this.free || this.running !== null || ref === null) return;
    const workflow = this.workflowFor(ref);
    this.ask = null;
    if (workflow === null) return;
    const stop = new AbortController();
    const done = this.run(ref, workflow, stop.signal)
      .catch((err: unknown) => {
        // Stopped by a job or the agent's stop: an error while it was being stopped (ComfyUI gone, say) is the
        // stop's end, not a failed preload to back off from or give up on.
        if (!stop.signal.aborted) this.troubles.failed(ref.name, err);
      })
      .finally(() => {
        if (this.running?.stop === stop) this.running = null;
      });
    this.running = { ref, stop, done };
  }

  /** The warm-up loading `ref`, its savers under a prefix of this prompt's own. */
  private workflowFor(ref: ModelRef): Workflow | null {
    const loading = this.o.loading(ref);
    const parsed = loading === null ? null : parseWorkflow(loading);
    if (parsed === null) return null;
    const prefix = `${PREFIX_ROOT}/${randomUUID()}/out`;
    const out: Workflow = {};
    for (const [id, node] of Object.entries(parsed)) {
      out[id] = Object.hasOwn(node.inputs, 'filename_prefix')
        ? { ...node, inputs: { ...node.inputs, filename_prefix: prefix } }
        : node;
    }
    return out;
  }

  private async run(ref: ModelRef, workflow: Workflow, signal: AbortSignal): Promise<void> {
    const began = Date.now();
    let firstProgressAt: number | null = null;
    let started = false;
    const outcome = await this.o.comfy.runPrompt(workflow, {
      promptId: randomUUID(),
      signal,
      onNode: () => {
        if (started) return;
        started = true;
        this.o.onStarted?.(ref);
      },
      onProgress: () => {
        firstProgressAt ??= Date.now();
      },
    });
    if (outcome.kind === 'interrupted') return;
    if (outcome.kind === 'success') {
      this.troubles.succeeded(ref.name);
      const seconds = ((firstProgressAt ?? Date.now()) - began) / 1000;
      this.o.log.info({ file: ref.name, seconds }, 'model preloaded');
      await this.o.onLoaded(ref, seconds);
      return;
    }
    const why = outcome.kind === 'error' ? outcome.message : outcome.reason;
    this.troubles.failed(ref.name, new Error(`the preload prompt ended ${outcome.kind}: ${why}`));
  }
}
