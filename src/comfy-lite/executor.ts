/**
 * Runs one prompt the way ComfyUI's PromptExecutor does, with the same WebSocket events in the same order:
 * execution_start, execution_cached, then per node progress_state / executing / progress / executed, and
 * execution_success, execution_error or execution_interrupted. The caller writes history and sends the final
 * `status` and `executing null`.
 */
import { NodeCache, type CacheSize, type UiEntry } from './node-cache.js';
import { ExecutionList } from './execution-list.js';
import { ProgressState } from './progress-state.js';
import type { NodeRegistry } from './nodes/registry.js';
import { EMPTY_LISTING } from './nodes/types.js';
import { createNodeContext, Interrupted } from './node-context.js';
import { DEFAULT_MAX_PIXELS, PixelBudget } from './pixel-budget.js';
import type { DataDirs } from './paths.js';
import type { HistoryEntry, QueueItem } from './prompt-queue.js';
import { pyRepr } from './py-format.js';
import { describeValue } from './image/tensor.js';
import { describeException } from './py-format.js';
import type { Prompt } from './validate.js';
import type { WsHub } from './ws-hub.js';

type Step = { ok: true } | { ok: false; interrupted: boolean; data: Record<string, unknown> };

/** Behaviours of older ComfyUI versions comfy-lite can play (default: none, today's protocol). */
export interface LegacyBehaviour {
  /**
   * ComfyUI before its August 2024 execution rewrite (commit 5cfe38f4, "Execution Model Inversion"): a cached
   * output node sends no `executed` frame (recursive_execute returned early for it), yet history lists its
   * outputs (kept in the executor's `outputs_ui` across prompts).
   */
  noExecutedForCached?: boolean;
}

export interface RunResult {
  entry: Omit<HistoryEntry, 'prompt'>;
  status: 'success' | 'error' | 'interrupted';
}

interface Run {
  item: QueueItem;
  prompt: Prompt;
  promptId: string;
  clientId: string | null;
  keys: Map<string, string>;
  executed: string[];
  ui: Map<string, UiEntry>;
  messages: Array<[string, unknown]>;
  progress: ProgressState;
  budget: PixelBudget;
}

export class Executor {
  private readonly cache: NodeCache;
  /** Node objects by node id and class (ComfyUI's `objects` cache: kept while prompts use that node id). */
  private objects = new Map<string, Record<string, unknown>>();
  private abort: AbortController | null = null;
  private current: { clientId: string | null; node: string | null } = { clientId: null, node: null };

  constructor(
    private readonly registry: NodeRegistry,
    private readonly dirs: DataDirs,
    private readonly hub: WsHub,
    private readonly maxPixels: number = DEFAULT_MAX_PIXELS,
    cacheSize: CacheSize = null,
    private readonly legacy: LegacyBehaviour = {},
  ) {
    this.cache = new NodeCache(cacheSize);
  }

  /** `POST /free {"free_memory": true}` between prompts: drops every cached result and node object. */
  reset(): void {
    this.cache.clear();
    this.objects = new Map();
  }

  private objectOf(id: string, classType: unknown): Record<string, unknown> {
    const key = JSON.stringify([id, classType]);
    let object = this.objects.get(key);
    if (object === undefined) this.objects.set(key, (object = {}));
    return object;
  }

  /** Keeps the node objects of this prompt's nodes only (ComfyUI cleans its `objects` cache so). */
  private keepObjects(prompt: Prompt): void {
    const keep = new Set(Object.entries(prompt).map(([id, node]) => JSON.stringify([id, node.class_type])));
    for (const key of [...this.objects.keys()]) if (!keep.has(key)) this.objects.delete(key);
  }

  /** Interrupts the running prompt at its next check; does nothing when none runs. */
  interrupt(): void {
    this.abort?.abort();
  }

  /** The node the running prompt of this client is executing (for a reconnecting socket). */
  executingNodeFor(sid: string): string | null {
    return this.current.clientId === sid ? this.current.node : null;
  }

  private message(run: Run, event: string, data: Record<string, unknown>, broadcast: boolean): void {
    const stamped = { ...data, timestamp: Date.now() };
    run.messages.push([event, stamped]);
    if (run.clientId !== null || broadcast) this.hub.send(event, stamped, run.clientId);
  }

  async execute(item: QueueItem): Promise<RunResult> {
    const [, promptId, prompt, extraData, outputs] = item;
    this.abort = new AbortController();
    const clientId = typeof extraData.client_id === 'string' ? extraData.client_id : null;
    this.current = { clientId, node: null };
    const progress = new ProgressState(promptId, (d) => this.hub.send('progress_state', d, clientId));
    const run: Run = {
      item,
      prompt,
      promptId,
      clientId,
      keys: new Map(),
      executed: [],
      ui: new Map(),
      messages: [],
      progress,
      budget: new PixelBudget(this.maxPixels),
    };
    try {
      this.message(run, 'execution_start', { prompt_id: promptId }, false);
      run.keys = await this.cache.signatures(prompt, this.registry, this.dirs);
      this.cache.startPrompt(run.keys.values());
      this.keepObjects(prompt);
      const isCached = (id: string): boolean => this.cache.outputsOf(run.keys.get(id) ?? '') !== undefined;
      const cached = Object.keys(prompt).filter(isCached);
      this.message(run, 'execution_cached', { nodes: cached, prompt_id: promptId }, false);
      const isOutput = (id: string): boolean =>
        this.registry.get(String(prompt[id]?.class_type))?.info(EMPTY_LISTING).output_node === true;
      const list = new ExecutionList(prompt, isCached, isOutput);
      for (const o of outputs) list.addNode(o);
      const step = await this.runList(run, list);
      if (step.ok) this.message(run, 'execution_success', { prompt_id: promptId }, false);
      else
        this.message(
          run,
          step.interrupted ? 'execution_interrupted' : 'execution_error',
          step.data,
          step.interrupted,
        );
      const status = step.ok ? 'success' : step.interrupted ? 'interrupted' : 'error';
      return { entry: this.historyEntry(run, step.ok), status };
    } finally {
      this.abort = null;
      this.current = { clientId: null, node: null };
    }
  }

  private async runList(run: Run, list: ExecutionList): Promise<Step> {
    while (!list.isEmpty()) {
      const id = list.next();
      if (id === null) {
        const blamed = list.firstPending() ?? '';
        return this.failure(
          run,
          blamed,
          { message: 'Dependency cycle detected', type: 'graph.DependencyCycleError', traceback: [] },
          {},
        );
      }
      const step = await this.runNode(run, id);
      if (!step.ok) return step;
      list.complete(id);
    }
    return { ok: true };
  }

  private historyEntry(run: Run, success: boolean): Omit<HistoryEntry, 'prompt'> {
    const outputs: Record<string, unknown> = {};
    const meta: Record<string, unknown> = {};
    for (const [id, entry] of run.ui) {
      outputs[id] = entry.output;
      meta[id] = entry.meta;
    }
    return {
      outputs,
      status: { status_str: success ? 'success' : 'error', completed: success, messages: run.messages },
      meta,
    };
  }

  private failure(
    run: Run,
    nodeId: string,
    ex: { message: string; type: string; traceback: string[] },
    inputs: Record<string, unknown>,
  ): Step {
    const base = {
      prompt_id: run.promptId,
      node_id: nodeId,
      node_type: String(run.prompt[nodeId]?.class_type),
      executed: [...run.executed],
    };
    const currentInputs = Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [
        k,
        [typeof v === 'object' && v !== null && !('kind' in v) ? pyRepr(v) : describeValue(v)],
      ]),
    );
    return {
      ok: false,
      interrupted: false,
      data: {
        ...base,
        exception_message: ex.message,
        exception_type: ex.type,
        traceback: ex.traceback,
        current_inputs: currentInputs,
        current_outputs: Object.keys(run.prompt),
      },
    };
  }

  /**
   * A cached node does not run: an output node replays its UI result (`executed`), others send nothing. History
   * lists the replayed result either way (also when `noExecutedForCached` leaves the frame out).
   */
  private replayCached(run: Run, id: string, key: string): Step {
    const ui = this.cache.uiOf(key);
    if (run.clientId !== null && this.legacy.noExecutedForCached !== true) {
      const data = { node: id, display_node: id, output: ui?.output ?? null, prompt_id: run.promptId };
      this.hub.send('executed', data, run.clientId);
    }
    if (ui !== undefined) run.ui.set(id, ui);
    run.progress.finish(id);
    return { ok: true };
  }

  private async runNode(run: Run, id: string): Promise<Step> {
    const key = run.keys.get(id) ?? '';
    if (this.cache.outputsOf(key) !== undefined) return this.replayCached(run, id, key);
    const node = run.prompt[id]!;
    const def = this.registry.get(String(node.class_type))!;
    run.progress.start(id);
    if (run.clientId !== null) {
      this.current.node = id;
      this.hub.send('executing', { node: id, display_node: id, prompt_id: run.promptId }, run.clientId);
    }
    const inputs = this.resolveInputs(run, node.inputs);
    const extraPngInfo = run.item[3].extra_pnginfo ?? null;
    try {
      // ComfyUI checks for an interrupt before every node it really runs.
      if (this.abort?.signal.aborted === true) throw new Interrupted();
      const { signal } = this.abort ?? {};
      const context = {
        nodeId: id,
        promptId: run.promptId,
        clientId: run.clientId,
        prompt: run.prompt,
        extraPngInfo,
      };
      const result = await def.run(
        inputs,
        createNodeContext({
          ...context,
          dirs: this.dirs,
          signal,
          progress: run.progress,
          hub: this.hub,
          budget: run.budget,
          object: this.objectOf(id, node.class_type),
        }),
      );
      const ui: UiEntry | null =
        result.ui !== undefined && Object.keys(result.ui).length > 0
          ? {
              meta: { node_id: id, display_node: id, parent_node: null, real_node_id: id },
              output: result.ui,
            }
          : null;
      if (ui !== null) {
        const data = { node: id, display_node: id, output: ui.output, prompt_id: run.promptId };
        if (run.clientId !== null) this.hub.send('executed', data, run.clientId);
        run.ui.set(id, ui);
      }
      this.cache.store(key, result.result, ui);
      run.progress.finish(id);
      run.executed.push(id);
      return { ok: true };
    } catch (err) {
      if (err instanceof Interrupted) {
        const data = {
          prompt_id: run.promptId,
          node_id: id,
          node_type: String(node.class_type),
          executed: [...run.executed],
        };
        return { ok: false, interrupted: true, data };
      }
      const withHidden =
        'hidden' in def.info(EMPTY_LISTING).input
          ? { ...inputs, prompt: run.prompt, extra_pnginfo: extraPngInfo }
          : inputs;
      return this.failure(run, id, describeException(err), withHidden);
    }
  }

  /** Linked inputs take the upstream node's cached output slot; literals pass as they are. */
  private resolveInputs(run: Run, raw: unknown): Record<string, unknown> {
    const inputs: Record<string, unknown> = {};
    if (typeof raw !== 'object' || raw === null) return inputs;
    for (const [name, v] of Object.entries(raw)) {
      if (Array.isArray(v) && v.length === 2) {
        const upstream = this.cache.outputsOf(run.keys.get(String(v[0])) ?? '');
        inputs[name] =
          typeof v[1] === 'number' ? upstream?.[v[1] < 0 ? upstream.length + v[1] : v[1]] : undefined;
      } else inputs[name] = v;
    }
    return inputs;
  }
}
