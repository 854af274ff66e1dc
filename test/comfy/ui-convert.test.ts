/**
 * UI-format → API-format conversion against the real ComfyUI `/object_info` capture (plus a sampler-like
 * definition shaped like ComfyUI's KSampler for seed widgets).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseNodeDefinitions, type NodeDefinition } from '../../src/comfy/node-definitions.js';
import { convertUiWorkflow, type ConversionResult } from '../../src/comfy/ui-convert.js';
import { isUiWorkflow } from '../../src/comfy/ui-format.js';
import { capture } from './captures.js';

const objectInfo = capture('object_info-subset.json') as Record<string, unknown>;
const definitions: Map<string, NodeDefinition> = parseNodeDefinitions({
  ...objectInfo,
  // ComfyUI's KSampler, reduced: a seed with control_after_generate, a combo, sockets in between.
  TestSampler: {
    input: {
      required: {
        image: ['IMAGE'],
        seed: ['INT', { default: 0, min: 0, max: 2 ** 53, control_after_generate: true }],
        steps: ['INT', { default: 20 }],
        sampler_name: [['euler', 'dpmpp_2m']],
      },
      optional: { label: ['STRING', { forceInput: true }], note: ['STRING', {}] },
    },
    input_order: { required: ['image', 'seed', 'steps', 'sampler_name'], optional: ['label', 'note'] },
    output: ['IMAGE'],
    display_name: 'Test Sampler',
  },
  TestAmbiguous: {
    input: { required: { seed: ['INT', {}], text: ['STRING', { forceInput: true }], note: ['STRING', {}] } },
    output: [],
  },
});

function example(name: string): unknown {
  const parsed: unknown = JSON.parse(
    readFileSync(new URL(`../../examples/ui/${name}`, import.meta.url), 'utf8'),
  );
  return parsed;
}

function node(id: number, type: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, type, mode: 0, inputs: [], outputs: [], widgets_values: [], ...extra };
}

const input = (
  name: string,
  type: string,
  link: number | null,
  widget?: string,
): Record<string, unknown> => ({
  name,
  type,
  link,
  ...(widget === undefined ? {} : { widget: { name: widget } }),
});

function converted(
  result: ConversionResult,
): Record<string, { class_type: string; inputs: Record<string, unknown> }> {
  if ('problems' in result) throw new Error(JSON.stringify(result.problems));
  return result.workflow;
}

/** EmptyImage(1) → X(2) → SaveImage(3), with X given by the test. */
function chain(middle: Record<string, unknown>): Record<string, unknown> {
  return {
    nodes: [
      node(1, 'EmptyImage', { widgets_values: [8, 8, 1, 0] }),
      middle,
      node(3, 'SaveImage', { inputs: [input('images', 'IMAGE', 2)], widgets_values: ['out'] }),
    ],
    links: [
      [1, 1, 0, 2, 0, 'IMAGE'],
      [2, 2, 0, 3, 0, 'IMAGE'],
    ],
  };
}

describe('UI-format workflows', () => {
  it('tells the UI format from the API format', () => {
    expect(isUiWorkflow(example('invert.json'))).toBe(true);
    expect(isUiWorkflow({ '1': { class_type: 'ImageInvert', inputs: {} } })).toBe(false);
  });

  it('converts the invert export: widget values by the definition order, links as [id, slot], titles', () => {
    expect(converted(convertUiWorkflow(example('invert.json'), definitions))).toEqual({
      '1': {
        class_type: 'EmptyImage',
        inputs: { width: 64, height: 64, batch_size: 1, color: 1052688 },
        _meta: { title: 'EmptyImage' },
      },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] }, _meta: { title: 'Invert Image' } },
      '3': {
        class_type: 'SaveImage',
        inputs: { images: ['2', 0], filename_prefix: 'invert' },
        _meta: { title: 'Save Image' },
      },
    });
  });

  it('skips the upload widget of LoadImage and ignores notes and groups', () => {
    const scale = converted(convertUiWorkflow(example('load-scale-save.json'), definitions));
    expect(scale['1']?.inputs).toEqual({ image: 'photo' });
    expect(scale['2']?.inputs).toEqual({
      image: ['1', 0],
      upscale_method: 'nearest-exact',
      width: 8,
      height: 6,
      crop: 'disabled',
    });
    const blur = converted(convertUiWorkflow(example('blur.json'), definitions));
    expect(Object.keys(blur)).toEqual(['1', '2', '3']);
    expect(blur['2']?.inputs).toEqual({ image: ['1', 0], blur_radius: 3, sigma: 1.5 });
  });

  it('drops a bypassed node and passes its matching input through', () => {
    const ui = chain(
      node(2, 'ImageBlur', {
        mode: 4,
        inputs: [input('image', 'IMAGE', 1)],
        outputs: [{ name: 'IMAGE', type: 'IMAGE' }],
        widgets_values: [1, 1],
      }),
    );
    const wf = converted(convertUiWorkflow(ui, definitions));
    expect(Object.keys(wf)).toEqual(['1', '3']);
    expect(wf['3']?.inputs.images).toEqual(['1', 0]);
  });

  it('drops a muted node and the links out of it', () => {
    const ui = chain(node(2, 'ImageInvert', { mode: 2, inputs: [input('image', 'IMAGE', 1)] }));
    const wf = converted(convertUiWorkflow(ui, definitions));
    expect(Object.keys(wf)).toEqual(['1', '3']);
    expect(wf['3']?.inputs).toEqual({ filename_prefix: 'out' });
  });

  it('resolves Reroute nodes to their source, and links saved as objects (schema version 1)', () => {
    const ui = chain(
      node(2, 'Reroute', { inputs: [input('', '*', 1)], outputs: [{ name: '', type: 'IMAGE' }] }),
    );
    ui.links = [
      { id: 1, origin_id: 1, origin_slot: 0, target_id: 2, target_slot: 0, type: 'IMAGE' },
      { id: 2, origin_id: 2, origin_slot: 0, target_id: 3, target_slot: 0, type: 'IMAGE' },
    ];
    const wf = converted(convertUiWorkflow(ui, definitions));
    expect(Object.keys(wf)).toEqual(['1', '3']);
    expect(wf['3']?.inputs.images).toEqual(['1', 0]);
  });

  it('passes the first input of the output type or "*" through a bypassed node when the same slot does not match', () => {
    const ui = chain(
      node(2, 'ImageBlur', {
        mode: 4,
        inputs: [input('mask', 'MASK', 10), input('any', '*', 11), input('image', 'IMAGE', 1)],
        outputs: [{ name: 'IMAGE', type: 'IMAGE' }],
        widgets_values: [1, 1],
      }),
    );
    (ui.nodes as unknown[]).push(
      node(4, 'EmptyImage', { widgets_values: [8, 8, 1, 0] }),
      node(5, 'EmptyImage', { widgets_values: [8, 8, 1, 0] }),
    );
    (ui.links as unknown[]).push([10, 5, 0, 2, 0, 'MASK'], [11, 4, 0, 2, 1, '*']);
    const wf = converted(convertUiWorkflow(ui, definitions));
    expect(wf['3']?.inputs.images).toEqual(['4', 0]);
  });

  it('looks through a chain of 50,000 Reroutes (no recursion) and drops a loop of them', () => {
    const n = 50_000;
    const nodes = [node(1, 'EmptyImage', { widgets_values: [8, 8, 1, 0] })];
    const links: unknown[] = [];
    for (let i = 0; i < n; i++) {
      nodes.push(node(10 + i, 'Reroute', { inputs: [input('', '*', i + 1)] }));
      links.push([i + 1, i === 0 ? 1 : 9 + i, 0, 10 + i, 0, 'IMAGE']);
    }
    // Two readers of the chain's end, and one of a two-Reroute loop (ids 7 and 8, links -1 and -2).
    nodes.push(
      node(2, 'SaveImage', { inputs: [input('images', 'IMAGE', n + 1)], widgets_values: ['a'] }),
      node(3, 'SaveImage', { inputs: [input('images', 'IMAGE', n + 2)], widgets_values: ['b'] }),
      node(7, 'Reroute', { inputs: [input('', '*', -2)] }),
      node(8, 'Reroute', { inputs: [input('', '*', -1)] }),
      node(4, 'SaveImage', { inputs: [input('images', 'IMAGE', -3)], widgets_values: ['c'] }),
    );
    links.push(
      [n + 1, 9 + n, 0, 2, 0, 'IMAGE'],
      [n + 2, 9 + n, 0, 3, 0, 'IMAGE'],
      [-1, 7, 0, 8, 0, 'IMAGE'],
      [-2, 8, 0, 7, 0, 'IMAGE'],
      [-3, 8, 0, 4, 0, 'IMAGE'],
    );
    const wf = converted(convertUiWorkflow({ nodes, links }, definitions));
    expect(wf['2']?.inputs.images).toEqual(['1', 0]);
    expect(wf['3']?.inputs.images).toEqual(['1', 0]);
    expect(wf['4']?.inputs).toEqual({ filename_prefix: 'c' });
  });

  it('takes a converted widget value from a PrimitiveNode and a link from a real node', () => {
    const ui = {
      nodes: [
        node(5, 'PrimitiveNode', {
          outputs: [{ name: 'INT', type: 'INT', widget: { name: 'width' } }],
          widgets_values: [40, 'fixed'],
        }),
        node(1, 'EmptyImage', {
          inputs: [input('width', 'INT', 7, 'width'), input('height', 'INT', null, 'height')],
          widgets_values: [8, 16, 1, 0],
        }),
        node(3, 'SaveImage', {
          inputs: [input('images', 'IMAGE', 8), input('filename_prefix', 'STRING', 9, 'filename_prefix')],
          widgets_values: ['ignored'],
        }),
        node(6, 'TestSampler', {
          outputs: [{ name: 'IMAGE', type: 'IMAGE' }],
          inputs: [input('image', 'IMAGE', null)],
          widgets_values: [1, 'fixed', 2, 'euler', 'n'],
        }),
      ],
      links: [
        [7, 5, 0, 1, 0, 'INT'],
        [8, 1, 0, 3, 0, 'IMAGE'],
        [9, 6, 0, 3, 1, 'STRING'],
      ],
    };
    const wf = converted(convertUiWorkflow(ui, definitions));
    expect(wf['1']?.inputs).toEqual({ width: 40, height: 16, batch_size: 1, color: 0 });
    expect(wf['3']?.inputs.filename_prefix).toEqual(['6', 0]);
    expect(wf['5']).toBeUndefined();
  });

  it('skips the control_after_generate value after a seed, and accepts exports without it', () => {
    for (const values of [
      [42, 'randomize', 30, 'dpmpp_2m', 'n'],
      [42, 30, 'dpmpp_2m', 'n'],
    ]) {
      const ui = {
        nodes: [node(1, 'TestSampler', { inputs: [input('image', 'IMAGE', null)], widgets_values: values })],
        links: [],
      };
      expect(converted(convertUiWorkflow(ui, definitions))['1']?.inputs).toEqual({
        seed: 42,
        steps: 30,
        sampler_name: 'dpmpp_2m',
        note: 'n',
      });
    }
  });

  it('refuses an ambiguous widget layout with the node id and "Save (API Format)"', () => {
    // Either [seed, control, note] or (older front ends) [seed, text (forceInput), note]: both fit.
    const ui = { nodes: [node(9, 'TestAmbiguous', { widgets_values: [42, 'fixed', 'y'] })], links: [] };
    const result = convertUiWorkflow(ui, definitions);
    expect(result).toEqual({
      problems: [
        {
          nodeId: '9',
          message: expect.stringMatching(
            /node 9 \(TestAmbiguous\).*could belong to different inputs.*Save \(API Format\)/,
          ),
        },
      ],
    });
  });

  it('refuses an unknown node type and a widget count that fits no layout, naming each node', () => {
    const ui = {
      nodes: [
        node(4, 'KSamplerAdvanced', { widgets_values: [1] }),
        node(7, 'ImageBlur', { widgets_values: [1, 2, 3] }),
      ],
      links: [],
    };
    const result = convertUiWorkflow(ui, definitions);
    if (!('problems' in result)) throw new Error('expected problems');
    expect(result.problems.map((p) => p.nodeId)).toEqual(['4', '7']);
    expect(result.problems[0]?.message).toMatch(/no worker knows.*Save \(API Format\)/);
    expect(result.problems[1]?.message).toMatch(/3 widget values.*blur_radius, sigma/);
  });

  it('names a subgraph node as such instead of an unknown type', () => {
    const id = '5d2c8a1e-0000-4000-8000-000000000001';
    const ui = { nodes: [node(3, id)], links: [], definitions: { subgraphs: [{ id, name: 'Blur twice' }] } };
    const result = convertUiWorkflow(ui, definitions);
    expect(result).toEqual({
      problems: [{ nodeId: '3', message: expect.stringMatching(/is a subgraph.*Save \(API Format\)/) }],
    });
  });

  it('refuses a malformed export', () => {
    const result = convertUiWorkflow({ nodes: [{ id: 1 }], links: [] }, definitions);
    expect(result).toEqual({
      problems: [
        { nodeId: null, message: expect.stringMatching(/malformed at nodes\.0\.type.*Save \(API Format\)/) },
      ],
    });
  });
});
