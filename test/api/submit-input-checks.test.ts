/**
 * Submission's input validation leaves a model loader's list to model placement: a model on no worker's disk
 * may be in the registry and fetched on claim (`model_unavailable` decides), so its combo list is not checked —
 * for ComfyUI's loaders and for the custom loaders an operator names with `--model-loaders`.
 */
import { describe, expect, it } from 'vitest';
import { parseNodeDefinitions } from '../../src/comfy/node-definitions.js';
import { checkInputs } from '../../src/api/submit-job.js';
import { NodeTypeRegistry } from '../../src/jobs/node-type-registry.js';
import type { Workflow } from '../../src/jobs/types.js';

// A custom loader whose list does not look like file names (so the file-input rules do not know it).
const objectInfo = {
  StyleFlavour: {
    input: { required: { flavour: [['alpha', 'beta']], strength: ['INT', { default: 1, min: 0, max: 10 }] } },
    output: ['STYLE'],
    name: 'StyleFlavour',
  },
};

function registry(): NodeTypeRegistry {
  const r = new NodeTypeRegistry();
  r.set('w1', new Set(['StyleFlavour']), { definitions: parseNodeDefinitions(objectInfo) });
  return r;
}

const workflow: Workflow = { '1': { class_type: 'StyleFlavour', inputs: { flavour: 'gamma', strength: 2 } } };

describe('checkInputs and model loaders', () => {
  it('checks an ordinary combo list against the definitions', () => {
    expect(checkInputs(registry(), workflow)).toEqual([
      expect.objectContaining({ nodeId: '1', input: 'flavour', message: expect.stringContaining('not in') }),
    ]);
  });

  it('skips the list of an input --model-loaders names, and still checks its other inputs', () => {
    expect(checkInputs(registry(), workflow, new Set(), ['StyleFlavour.flavour=other'])).toEqual([]);
    const tooStrong = { '1': { class_type: 'StyleFlavour', inputs: { flavour: 'gamma', strength: 11 } } };
    expect(checkInputs(registry(), tooStrong, new Set(), ['StyleFlavour.flavour=other'])).toEqual([
      expect.objectContaining({ input: 'strength', message: 'Value 11 bigger than max of 10: strength' }),
    ]);
  });
});
