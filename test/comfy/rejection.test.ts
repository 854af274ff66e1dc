import { describe, expect, it } from 'vitest';
import { rejectionFromBody, rejectionFromPartial } from '../../src/comfy/rejection.js';
import { promptAcceptedSchema, promptRejectedSchema } from '../../src/comfy/schemas.js';
import type { Workflow } from '../../src/jobs/types.js';
import { capture, pick } from './captures.js';

const errors = capture('errors.json');
const body = (name: string) => promptRejectedSchema.parse(pick(errors, name, 1));

const unknownClass: Workflow = {
  '1': { class_type: 'NoSuchNode', inputs: {} },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
};

describe('ComfyUI rejections', () => {
  it('names the node of an unknown class from the details', () => {
    const error = rejectionFromBody(body('unknown_class'), unknownClass);
    expect(error.nodeErrors).toEqual([
      {
        nodeId: '1',
        classType: 'NoSuchNode',
        message: 'Cannot execute because node NoSuchNode does not exist.',
      },
    ]);
    expect(error.message).toContain('invalid_prompt');
  });

  it('finds the node by its class when the details do not name it', () => {
    const bare = {
      ...body('unknown_class'),
      error: {
        type: 'invalid_prompt',
        message: 'Cannot execute because node NoSuchNode does not exist.',
        details: '',
      },
    };
    expect(rejectionFromBody(bare, unknownClass).nodeErrors.map((n) => n.nodeId)).toEqual(['1']);
  });

  it('falls back to structural analysis for a missing class_type', () => {
    const bare = {
      ...body('missing_class_type'),
      error: { type: 'invalid_prompt', message: 'a node is missing the class_type property', details: '' },
    };
    const workflow: Workflow = { '5': { class_type: '', inputs: {} } };
    expect(rejectionFromBody(bare, workflow).nodeErrors.map((n) => n.nodeId)).toEqual(['5']);
  });

  it('lists node_errors with class and messages (bad link, out of range)', () => {
    const badLink = rejectionFromBody(body('bad_link'), {});
    expect(badLink.nodeErrors).toEqual([
      { nodeId: '2', classType: 'SaveImage', message: "Exception when validating node: '99'" },
    ]);
    const range = rejectionFromBody(body('out_of_range'), {});
    expect(range.nodeErrors[0]?.message).toBe('Value 0 smaller than min of 1: width');
  });

  it('reports a whole-prompt error without nodes', () => {
    const error = rejectionFromBody(body('no_outputs'), {});
    expect(error.nodeErrors).toEqual([]);
    expect(error.message).toContain('Prompt has no outputs');
  });

  it('turns a partial 200 acceptance into a rejection of the failing nodes', () => {
    const accepted = promptAcceptedSchema.parse(pick(errors, 'partial_ok', 1));
    const error = rejectionFromPartial(accepted.node_errors, {});
    expect(error.nodeErrors).toEqual([
      { nodeId: '3', classType: 'SaveImage', message: 'Required input is missing: images' },
    ]);
  });

  // Issue 13 item 2: the reason ComfyUI gave was reduced to "… (nodes 1)".
  it('keeps the input ComfyUI named (extra_info.input_name) and its reason in the message', () => {
    const range = rejectionFromBody(body('out_of_range'), {});
    expect(range.details).toEqual([
      {
        nodeId: '1',
        classType: 'EmptyImage',
        input: 'width',
        message: 'Value 0 smaller than min of 1: width',
      },
    ]);
    expect(range.message).toContain(
      'node 1 (EmptyImage) input "width": Value 0 smaller than min of 1: width',
    );
    const badLink = rejectionFromBody(body('bad_link'), {});
    expect(badLink.details).toEqual([
      { nodeId: '2', classType: 'SaveImage', input: null, message: "Exception when validating node: '99'" },
    ]);
    const accepted = promptAcceptedSchema.parse(pick(errors, 'partial_ok', 1));
    expect(rejectionFromPartial(accepted.node_errors, {}).details[0]).toMatchObject({
      nodeId: '3',
      input: 'images',
    });
  });
});
