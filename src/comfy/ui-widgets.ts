/**
 * Which `widgets_values` entry of a UI-format node belongs to which input. The front end saves widget values
 * by position, and the positions include widgets that are not inputs: the "control after generate" choice
 * after a seed (and, for a combo, its filter), the upload button of LoadImage-like nodes, and in older front
 * ends the widgets of `forceInput` inputs. Front-end versions differ on these, so every layout is tried and
 * one is accepted only when all layouts that fit the saved values agree on what each input gets.
 */
import type { NodeDefinition, NodeInputDefinition } from './node-definitions.js';

const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);
const CONTROL_VALUES = new Set(['fixed', 'increment', 'decrement', 'randomize', 'increment-wrap']);
const SEED_NAMES = new Set(['seed', 'noise_seed']);

type Slot =
  | { kind: 'value'; input: NodeInputDefinition }
  | { kind: 'control' }
  | { kind: 'filter' }
  | { kind: 'upload' };

interface Layout {
  controls: boolean;
  comboFilters: boolean;
  uploads: boolean;
  forced: boolean;
}

/** The value of each widget input by name, or why the saved values cannot be placed. */
export type WidgetAssignment = { values: Record<string, unknown> } | { problem: string };

/** True when the front end draws this input as a widget (it may still be converted to a socket). */
export function isWidgetInput(input: NodeInputDefinition): boolean {
  return WIDGET_TYPES.has(input.type);
}

function hasControl(input: NodeInputDefinition): boolean {
  const control = input.options.control_after_generate;
  if (control !== undefined && control !== false) return true;
  return input.type === 'INT' && SEED_NAMES.has(input.name);
}

function hasUpload(input: NodeInputDefinition): boolean {
  return ['image_upload', 'video_upload', 'audio_upload'].some((k) => input.options[k] === true);
}

function slotsFor(def: NodeDefinition, layout: Layout): Slot[] {
  const slots: Slot[] = [];
  let uploads = 0;
  for (const input of def.inputs) {
    if (!isWidgetInput(input)) continue;
    if (input.options.forceInput === true && !layout.forced) continue;
    slots.push({ kind: 'value', input });
    if (layout.controls && hasControl(input)) {
      slots.push({ kind: 'control' });
      if (input.type === 'COMBO' && layout.comboFilters) slots.push({ kind: 'filter' });
    }
    if (hasUpload(input)) uploads += 1;
  }
  // The upload button is added after the node's own widgets.
  if (layout.uploads) for (let i = 0; i < uploads; i++) slots.push({ kind: 'upload' });
  return slots;
}

function allLayouts(): Layout[] {
  const layouts: Layout[] = [];
  for (let bits = 0; bits < 16; bits++) {
    layouts.push({
      controls: (bits & 1) > 0,
      comboFilters: (bits & 2) > 0,
      uploads: (bits & 4) > 0,
      forced: (bits & 8) > 0,
    });
  }
  return layouts;
}

/** Each combo's choices as a set, built once per definition: a model list can hold thousands of names. */
const choiceSets = new WeakMap<readonly unknown[], ReadonlySet<unknown>>();

function isChoice(input: NodeInputDefinition, value: unknown): boolean {
  let set = choiceSets.get(input.choices);
  if (set === undefined) {
    set = new Set(input.choices);
    choiceSets.set(input.choices, set);
  }
  return set.has(value);
}

/** Places the values by the layout's slots; null when a non-input widget holds something it never holds. */
function place(
  slots: Slot[],
  saved: readonly unknown[],
): { values: Record<string, unknown>; fitsChoices: boolean } | null {
  const values: Record<string, unknown> = {};
  let fitsChoices = true;
  for (const [i, slot] of slots.entries()) {
    const value = saved[i];
    if (slot.kind === 'control' && !(typeof value === 'string' && CONTROL_VALUES.has(value))) return null;
    if ((slot.kind === 'filter' || slot.kind === 'upload') && !(typeof value === 'string' || value === null))
      return null;
    if (slot.kind !== 'value') continue;
    const { input } = slot;
    if (input.type === 'COMBO' && !hasUpload(input) && input.choices.length > 0 && !isChoice(input, value)) {
      fitsChoices = false;
    }
    values[input.name] = value;
  }
  return { values, fitsChoices };
}

function distinct(candidates: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  const seen = new Map<string, Record<string, unknown>>();
  for (const c of candidates) seen.set(JSON.stringify(c), c);
  return [...seen.values()];
}

function widgetNames(def: NodeDefinition): string {
  return (
    def.inputs
      .filter(isWidgetInput)
      .map((i) => i.name)
      .join(', ') || 'none'
  );
}

/** Assigns a node's saved widget values (a list, or an object by name as some custom nodes save them). */
export function assignWidgetValues(
  def: NodeDefinition,
  saved: readonly unknown[] | Record<string, unknown> | undefined,
): WidgetAssignment {
  if (saved !== undefined && !Array.isArray(saved)) {
    const byName = saved as Record<string, unknown>;
    const values: Record<string, unknown> = {};
    for (const input of def.inputs)
      if (isWidgetInput(input) && Object.hasOwn(byName, input.name)) values[input.name] = byName[input.name];
    return { values };
  }
  const list: readonly unknown[] = saved ?? [];
  const fits: Array<{ values: Record<string, unknown>; fitsChoices: boolean }> = [];
  for (const layout of allLayouts()) {
    const slots = slotsFor(def, layout);
    if (slots.length !== list.length) continue;
    const placed = place(slots, list);
    if (placed !== null) fits.push(placed);
  }
  if (fits.length === 0) {
    return {
      problem: `has ${list.length} widget values, which do not match the widgets the workers' ${def.name} has (${widgetNames(def)})`,
    };
  }
  let options = distinct(fits.map((f) => f.values));
  if (options.length > 1) options = distinct(fits.filter((f) => f.fitsChoices).map((f) => f.values));
  const [only] = options;
  if (options.length !== 1 || only === undefined) {
    return {
      problem: `has widget values that could belong to different inputs of ${def.name} (${widgetNames(def)})`,
    };
  }
  return { values: only };
}
