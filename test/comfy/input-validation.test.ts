/**
 * Issue 13 item 2: ComfyUI's validate_inputs at submission, on `/object_info` definitions. Messages must read
 * exactly like ComfyUI's (`message: details` of the real captures in errors.json).
 */
import { describe, expect, it } from 'vitest';
import { fileInputRule } from '../../src/comfy/file-inputs.js';
import { validateInputs } from '../../src/comfy/input-validation.js';
import { parseNodeDefinitions } from '../../src/comfy/node-definitions.js';
import type { Workflow } from '../../src/jobs/types.js';
import { capture, pick } from './captures.js';

const objectInfo = capture('object_info-subset.json') as Record<string, unknown>;
const definitions = parseNodeDefinitions(objectInfo);
const errors = capture('errors.json');

/** ComfyUI's text for the first error of one node in a captured rejection. */
function comfyText(name: string, nodeId: string): string {
  const e = pick(errors, name, 1, 'node_errors', nodeId, 'errors', 0) as { message: string; details: string };
  return `${e.message}: ${e.details}`;
}

function image(inputs: Record<string, unknown>): Workflow {
  return {
    '1': { class_type: 'EmptyImage', inputs },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
  };
}

describe('validateInputs (ComfyUI execution.py validate_inputs)', () => {
  it('refuses "abc" for an INT with the message ComfyUI gives', () => {
    const problems = validateInputs(image({ width: 'abc', height: 8, batch_size: 1, color: 0 }), definitions);
    expect(problems).toEqual([
      {
        nodeId: '1',
        classType: 'EmptyImage',
        input: 'width',
        type: 'invalid_input_type',
        message:
          "Failed to convert an input value to a INT value: width, abc, invalid literal for int() with base 10: 'abc'",
      },
    ]);
  });

  it('converts like Python: "12" and 3.7 are INTs, true is 1', () => {
    expect(
      validateInputs(image({ width: '12', height: 3.7, batch_size: true, color: 0 }), definitions),
    ).toEqual([]);
  });

  it('reads like the real captures: below min, missing input, value not in a combo list', () => {
    const low = validateInputs(image({ width: 0, height: 8, batch_size: 1, color: 0 }), definitions);
    expect(low.map((p) => p.message)).toEqual([comfyText('out_of_range', '1')]);
    const missing = validateInputs(
      { '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } } },
      definitions,
    );
    expect(missing.map((p) => [p.input, p.message])).toEqual([['images', comfyText('missing_input', '2')]]);
    const combo = validateInputs(
      {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
        '2': {
          class_type: 'ImageScale',
          inputs: { image: ['1', 0], upscale_method: 'nope', width: 4, height: 4, crop: 'disabled' },
        },
      },
      definitions,
    );
    expect(combo.map((p) => [p.nodeId, p.input, p.message])).toEqual([
      ['2', 'upscale_method', comfyText('bad_combo', '2')],
    ]);
  });

  it('refuses above max, and leaves links and unknown classes to other checks', () => {
    const high = validateInputs(
      image({ width: 99_999, height: ['9', 0], batch_size: 1, color: 0 }),
      definitions,
    );
    expect(high.map((p) => [p.input, p.type, p.message])).toEqual([
      ['width', 'value_bigger_than_max', 'Value 99999 bigger than max of 16384: width'],
    ]);
    expect(validateInputs({ '1': { class_type: 'Custom', inputs: {} } }, definitions)).toEqual([]);
  });

  it("skips the combo list of file inputs (a job input's name is not in the worker's list)", () => {
    const workflow: Workflow = {
      '1': { class_type: 'LoadImage', inputs: { image: 'photo' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
    };
    expect(validateInputs(workflow, definitions).map((p) => p.input)).toEqual(['image']);
    expect(validateInputs(workflow, definitions, (c, i) => fileInputRule(c, i, null) !== null)).toEqual([]);
  });
});
