/**
 * zod schemas for everything a ComfyUI server says (comfyui-protocol.md; real captures in comfyui-reference/).
 * Loose where servers of different versions add fields, strict on the fields Arrakis relies on.
 */
import { z } from 'zod';

/** A node id as it appears in answers; some servers send integers where others send strings. */
const nodeIdSchema = z.union([z.string(), z.number()]).transform(String);

/** One file a node produced or a file reference (`/view` arguments). */
export const fileRefSchema = z.object({
  filename: z.string().min(1),
  subfolder: z.string(),
  type: z.enum(['output', 'temp', 'input']),
});

/** POST /prompt 200: the prompt was queued (node_errors may still be non-empty: partial acceptance). */
export const promptAcceptedSchema = z.object({
  prompt_id: z.string().min(1),
  number: z.number().optional(),
  node_errors: z.record(z.string(), z.unknown()).default({}),
});

const inputErrorSchema = z.looseObject({
  type: z.string().optional(),
  message: z.string().default(''),
  details: z.string().default(''),
  extra_info: z.looseObject({ input_name: z.string().optional() }).optional(),
});

/** One entry of `node_errors`, keyed by node id. */
export const nodeErrorEntrySchema = z.looseObject({
  errors: z.array(inputErrorSchema).default([]),
  dependent_outputs: z.array(nodeIdSchema).default([]),
  class_type: z.string().nullable().optional(),
});
export type NodeErrorEntry = z.infer<typeof nodeErrorEntrySchema>;

/** POST /prompt 400: the prompt was refused (whole-prompt error and/or per-node errors). */
export const promptRejectedSchema = z.object({
  error: z.union([
    z.looseObject({
      type: z.string().default(''),
      message: z.string().default(''),
      details: z.string().default(''),
    }),
    // Very old servers answered a bare string.
    z.string().transform((message) => ({ type: '', message, details: '' })),
  ]),
  node_errors: z.record(z.string(), nodeErrorEntrySchema).default({}),
});
export type PromptRejected = z.infer<typeof promptRejectedSchema>;

/** `status.messages` items: `[event name, data]`. */
const statusMessageSchema = z.tuple([z.string(), z.unknown()]);

/** One `/history/{id}` entry. Outputs are kept raw: any key of a node's output may hold files. */
export const historyEntrySchema = z.looseObject({
  prompt: z.array(z.unknown()).optional(),
  outputs: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  status: z
    .looseObject({
      status_str: z.string().nullable().optional(),
      completed: z.boolean().optional(),
      messages: z.array(statusMessageSchema).default([]),
    })
    .optional(),
  meta: z.unknown().optional(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** GET /history/{id}: `{}` for an unknown id (never 404). */
export const historyAnswerSchema = z.record(z.string(), historyEntrySchema);

/** Queue items are the same tuples as history's `prompt`: `[number, prompt_id, prompt, extra_data, outputs]`. */
const queueItemSchema = z.array(z.unknown()).min(2);

/** GET /queue. */
export const queueAnswerSchema = z.object({
  queue_running: z.array(queueItemSchema),
  queue_pending: z.array(queueItemSchema),
});
export type QueueAnswer = z.infer<typeof queueAnswerSchema>;

/** GET /system_stats. */
export const systemStatsSchema = z.object({
  system: z.looseObject({
    os: z.string().optional(),
    comfyui_version: z.string().optional(),
    python_version: z.string().optional(),
  }),
  devices: z.array(z.looseObject({ name: z.string(), type: z.string() })),
});

/** One `/object_info` entry (the fields Arrakis reads; real servers send more). */
export const objectInfoEntrySchema = z.looseObject({
  input: z
    .looseObject({
      required: z.record(z.string(), z.unknown()).optional(),
      optional: z.record(z.string(), z.unknown()).optional(),
      hidden: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  output: z.array(z.unknown()).optional(),
  name: z.string().optional(),
  output_node: z.boolean().optional(),
});

/** GET /object_info: class name → entry. Entries are checked loosely so one odd custom node cannot hide the rest. */
export const objectInfoSchema = z.record(z.string(), z.record(z.string(), z.unknown()));

/** POST /upload/image answer. */
export const uploadAnswerSchema = z.object({
  name: z.string().min(1),
  subfolder: z.string().default(''),
  type: z.string().default('input'),
});

const promptIdField = { prompt_id: z.string().optional() };

/**
 * WebSocket text frames Arrakis acts on; everything else (progress_state, feature_flags, ...) is ignored. The
 * reference for the hand-written check classifyWsMessage runs on every frame (ws-message.ts): a change here
 * goes there too (test/comfy/ws-message.test.ts compares the two).
 */
export const wsFrameSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('status'),
    data: z.looseObject({
      status: z.looseObject({ exec_info: z.looseObject({ queue_remaining: z.number() }) }).optional(),
      sid: z.string().optional(),
    }),
  }),
  z.object({ type: z.literal('execution_start'), data: z.looseObject({ ...promptIdField }) }),
  z.object({
    type: z.literal('execution_cached'),
    data: z.looseObject({ ...promptIdField, nodes: z.array(nodeIdSchema).optional() }),
  }),
  z.object({
    type: z.literal('executing'),
    data: z.looseObject({ ...promptIdField, node: nodeIdSchema.nullable().optional() }),
  }),
  z.object({
    type: z.literal('progress'),
    data: z.looseObject({
      ...promptIdField,
      value: z.number(),
      max: z.number(),
      node: nodeIdSchema.nullable().optional(),
    }),
  }),
  z.object({
    type: z.literal('executed'),
    data: z.looseObject({ ...promptIdField, node: nodeIdSchema, output: z.unknown().optional() }),
  }),
  z.object({ type: z.literal('execution_success'), data: z.looseObject({ ...promptIdField }) }),
  z.object({
    type: z.literal('execution_error'),
    data: z.looseObject({
      ...promptIdField,
      node_id: nodeIdSchema.nullable().optional(),
      node_type: z.string().nullable().optional(),
      exception_message: z.string().optional(),
    }),
  }),
  z.object({
    type: z.literal('execution_interrupted'),
    data: z.looseObject({
      ...promptIdField,
      node_id: nodeIdSchema.nullable().optional(),
      node_type: z.string().nullable().optional(),
    }),
  }),
]);
export type WsFrame = z.infer<typeof wsFrameSchema>;

/** `execution_error` data as recorded in history `status.messages`. */
export const executionErrorDataSchema = z.looseObject({
  node_id: nodeIdSchema.nullable().optional(),
  node_type: z.string().nullable().optional(),
  exception_message: z.string().optional(),
  exception_type: z.string().optional(),
});
