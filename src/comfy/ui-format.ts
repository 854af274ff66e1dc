/**
 * The shape of a workflow as ComfyUI's front end saves it ("Save" / "Export", schema versions 0.4 and 1):
 * `{ nodes: [...], links: [...], groups, config, extra, version }`. Only the fields the conversion to the API
 * format reads are checked; everything else (positions, sizes, colours, groups) passes untouched.
 */
import { z } from 'zod';

/** Node modes: 0 always, 2 never (muted), 4 bypass. */
export const MODE_MUTED = 2;
export const MODE_BYPASS = 4;

const uiInput = z.looseObject({
  name: z.string(),
  type: z.unknown().optional(),
  link: z.number().int().nullable().optional(),
  widget: z.looseObject({ name: z.string() }).optional(),
});

const uiOutput = z.looseObject({ name: z.string().optional(), type: z.unknown().optional() });

const uiNode = z.looseObject({
  id: z.union([z.number().int(), z.string().min(1)]),
  type: z.string().min(1),
  mode: z.number().int().optional(),
  title: z.string().optional(),
  inputs: z.array(uiInput).optional(),
  outputs: z.array(uiOutput).optional(),
  widgets_values: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]).optional(),
});

/** Version 0.4 saves a link as an array, version 1 as an object. */
const uiLink = z.union([
  z
    .tuple([
      z.number(),
      z.union([z.number(), z.string()]),
      z.number(),
      z.union([z.number(), z.string()]),
      z.number(),
    ])
    .rest(z.unknown()),
  z.looseObject({
    id: z.number(),
    origin_id: z.union([z.number(), z.string()]),
    origin_slot: z.number(),
    target_id: z.union([z.number(), z.string()]),
    target_slot: z.number(),
    type: z.unknown().optional(),
  }),
]);

export const uiWorkflowSchema = z.looseObject({
  nodes: z.array(uiNode),
  links: z.array(uiLink).default([]),
});

export type UiNode = z.infer<typeof uiNode>;
export type UiWorkflow = z.infer<typeof uiWorkflowSchema>;

/** A link in one shape whichever version saved it. */
export interface UiLink {
  id: number;
  originId: string;
  originSlot: number;
  targetId: string;
  type: string;
}

/** True when the JSON is a UI-format export; an API-format prompt never has an array under `nodes`. */
export function isUiWorkflow(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Array.isArray((value as { nodes?: unknown }).nodes);
}

/** Normalises a link; the type is `*` when the export does not say. */
export function normaliseLink(link: UiWorkflow['links'][number]): UiLink {
  if (Array.isArray(link)) {
    const [id, originId, originSlot, targetId, , type] = link;
    return { id, originId: String(originId), originSlot, targetId: String(targetId), type: typeText(type) };
  }
  return {
    id: link.id,
    originId: String(link.origin_id),
    originSlot: link.origin_slot,
    targetId: String(link.target_id),
    type: typeText(link.type),
  };
}

/** A slot type as text; `*` (anything) when absent or not a string. */
export function typeText(type: unknown): string {
  return typeof type === 'string' && type !== '' ? type : '*';
}
