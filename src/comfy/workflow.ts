/** A ComfyUI API-format prompt: node id → { class_type, inputs } (comfyui-protocol.md). */
export type Workflow = Record<
  string,
  { class_type: string; inputs: Record<string, unknown>; _meta?: unknown }
>;
