/**
 * What the rest of Arrakis needs from a ComfyUI server (src/comfy implements it over HTTP + WebSocket;
 * comfyui-protocol.md is the reference). Knows nothing of jobs or databases.
 */
import type { NodeDefinition } from './node-definitions.js';
import type { Workflow } from './workflow.js';
import type { FileInputCatalog } from './file-inputs.js';

/** What a server's `/object_info` says that Arrakis uses: its node types and which inputs name files. */
export interface NodeCatalog {
  types: Set<string>;
  fileInputs: FileInputCatalog;
}

export interface ComfyOutputFile {
  nodeId: string;
  filename: string;
  subfolder: string;
  type: 'output' | 'temp' | 'input';
}

export interface ComfyNodeError {
  nodeId: string;
  classType: string | null;
  message: string;
}

/** One reason ComfyUI gave for refusing a node: the input it named (`extra_info.input_name`) and its text. */
export interface ComfyInputError {
  nodeId: string;
  classType: string | null;
  /** Null when ComfyUI named no input (a node-level refusal). */
  input: string | null;
  /** ComfyUI's `message: details`. */
  message: string;
}

/** A node-level step of a running prompt, from the WebSocket. */
export type NodeEvent =
  | { kind: 'cached'; nodes: string[] }
  | { kind: 'executing'; node: string | null }
  /**
   * `files`: the files the node's `executed` frame names (a hint: the outcome lists what history lists, taken
   * from all the prompt's `executed` frames only when none can have been missed).
   */
  | { kind: 'executed'; node: string; files: ComfyOutputFile[] };

export type PromptOutcome =
  | { kind: 'success'; outputs: ComfyOutputFile[] }
  | { kind: 'error'; nodeId: string | null; nodeType: string | null; message: string }
  | { kind: 'interrupted' }
  /** The prompt vanished: not running, not pending, no history (ComfyUI restarted or the entry was dropped). */
  | { kind: 'lost'; reason: string };

export interface RunPromptOptions {
  /** The caller's own prompt id (sent as `prompt_id`; servers that ignore it get it mapped back). */
  promptId: string;
  onProgress?: (p: { value: number; max: number; node: string | null }) => void;
  /** Which nodes ComfyUI took from its cache, which node it starts (null: the prompt is done), which finished. */
  onNode?: (e: NodeEvent) => void;
  /** Called once ComfyUI has queued the prompt (with the id it uses). */
  onQueued?: (comfyPromptId: string) => void;
  /** Aborting stops the prompt on ComfyUI (targeted interrupt or queue delete) and resolves `interrupted`. */
  signal?: AbortSignal;
}

export class ComfyRejectedError extends Error {
  readonly nodeErrors: ComfyNodeError[];
  /** Every error ComfyUI listed, one per node input it refused (empty when it gave only a prompt-level error). */
  readonly details: ComfyInputError[];
  constructor(message: string, nodeErrors: ComfyNodeError[], details: ComfyInputError[] = []) {
    super(message);
    this.name = 'ComfyRejectedError';
    this.nodeErrors = nodeErrors;
    this.details = details;
  }
}

/** An output file larger than a worker may store: read no further than the limit, and never stored. */
export class OutputTooLargeError extends Error {
  constructor(what: string, maxBytes: number) {
    super(`${what} is larger than the ${maxBytes} bytes an output may have`);
    this.name = 'OutputTooLargeError';
  }
}

/** The server could not be reached or answered something that is not ComfyUI's protocol. */
export class ComfyUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ComfyUnavailableError';
  }
}

/** A prompt in ComfyUI's queue, by the id it was submitted under. */
export interface QueuedPrompt {
  promptId: string;
  state: 'running' | 'pending';
}

export interface ComfyServer {
  readonly url: string;
  /** `/system_stats` answered with a valid shape. */
  health(): Promise<{ ok: boolean; detail: string }>;
  /** Class names from `/object_info` (cached by the implementation). */
  nodeTypes(): Promise<Set<string>>;
  /** Node types and file inputs from `/object_info` (cached with nodeTypes). */
  nodeCatalog(): Promise<NodeCatalog>;
  /** Node definitions from `/object_info`, for converting UI-format workflows (cached with nodeTypes). */
  nodeDefinitions(): Promise<ReadonlyMap<string, NodeDefinition>>;
  /**
   * Uploads an input file; returns the name LoadImage must use (`subfolder/name`). Bound by a limit that grows
   * with the size, and ended when `signal` aborts (the job stopped).
   */
  uploadInput(bytes: Buffer, filename: string, subfolder: string, signal?: AbortSignal): Promise<string>;
  /**
   * Submits the prompt and follows it to its end: progress from the WebSocket; the outcome from the prompt's
   * own frames when the socket carried all of them (one connection from before the submit to the end) and
   * every cached node that may be an output node sent `executed` (servers before August 2024 did not), else
   * from `/history` (polled while the socket is down). Outputs are listed by node id on both paths. Throws
   * ComfyRejectedError when ComfyUI refuses the prompt (400 or non-empty node_errors), ComfyUnavailableError
   * when unreachable.
   */
  runPrompt(workflow: Workflow, options: RunPromptOptions): Promise<PromptOutcome>;
  /**
   * Downloads one output file via `/view`: not cut off while its bytes keep coming, only when they stop, when
   * `signal` aborts, or at a generous cap; a file past `maxBytes` is OutputTooLargeError once that many arrived
   * (the rest is never read, so a huge or endless answer cannot fill the agent's memory).
   */
  download(file: ComfyOutputFile, signal?: AbortSignal, maxBytes?: number): Promise<Buffer>;
  /** The prompts in ComfyUI's queue (`GET /queue`): the running ones, then the pending ones, in queue order. */
  queuedPrompts(): Promise<QueuedPrompt[]>;
  /** Stops a prompt of the queue: a targeted interrupt when it runs, a queue delete when it waits. */
  stopQueuedPrompt(prompt: QueuedPrompt): Promise<void>;
  close(): Promise<void>;
}
