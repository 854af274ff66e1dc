import { describe, expect, it } from 'vitest';
import {
  checkAllowlist,
  checkNodeTypes,
  checkWorkflow,
  parseWorkflow,
} from '../../src/comfy/workflow-check.js';
import type { Workflow } from '../../src/jobs/types.js';
import { capture, list, pick } from './captures.js';

const basic: Workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 48, batch_size: 1, color: 0 } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
};

describe('checkWorkflow', () => {
  it('accepts a well-formed workflow, including the captured real one', () => {
    expect(checkWorkflow(basic)).toEqual([]);
    const real = list(
      pick(capture('basic-history.json'), '4ffadc80-eaaf-46a8-ac21-d90428d1ba86', 'prompt'),
    )[2];
    expect(checkWorkflow(real)).toEqual([]);
    expect(parseWorkflow(real)).not.toBeNull();
  });

  it('rejects what is not an object of nodes, and an empty workflow', () => {
    for (const bad of [null, [], 'x', 3]) {
      expect(checkWorkflow(bad)).toEqual([
        { nodeId: null, message: expect.stringContaining('must be an object') },
      ]);
    }
    expect(checkWorkflow({})).toEqual([{ nodeId: null, message: 'workflow has no nodes' }]);
    expect(parseWorkflow({})).toBeNull();
  });

  it('requires a non-empty class_type and an inputs object per node', () => {
    const problems = checkWorkflow({
      a: { class_type: '', inputs: {} },
      b: { class_type: 'X' },
      c: { class_type: 7, inputs: [] },
      d: 'node',
    });
    expect(problems.map((p) => p.nodeId)).toEqual(['a', 'b', 'c', 'c', 'd']);
    expect(problems[0]?.message).toBe('class_type must be a non-empty string');
    expect(problems[1]?.message).toBe('inputs must be an object');
  });

  it('rejects links to missing nodes, bad indexes and malformed links', () => {
    const problems = checkWorkflow({
      '1': { class_type: 'A', inputs: { x: ['99', 0] } },
      '2': { class_type: 'A', inputs: { x: ['1', -1], y: ['1', 0.5] } },
      '3': { class_type: 'A', inputs: { x: [1, 0], y: ['1', 0, 2] } },
    });
    expect(problems).toEqual([
      { nodeId: '1', message: 'input "x" links to node "99", which does not exist' },
      { nodeId: '2', message: 'input "x" link output index must be a non-negative integer' },
      { nodeId: '2', message: 'input "y" link output index must be a non-negative integer' },
      { nodeId: '3', message: 'input "x" must be a link [node id (string), output index]' },
      { nodeId: '3', message: 'input "y" must be a link [node id (string), output index]' },
    ]);
  });

  it('finds cycles, including a node linked to itself, and leaves other nodes out', () => {
    const problems = checkWorkflow({
      '1': { class_type: 'A', inputs: { x: ['3', 0] } },
      '2': { class_type: 'A', inputs: { x: ['1', 0] } },
      '3': { class_type: 'A', inputs: { x: ['2', 0] } },
      '4': { class_type: 'A', inputs: { x: ['4', 0] } },
      '5': { class_type: 'A', inputs: { x: ['1', 0] } },
    });
    expect(problems.every((p) => p.message === 'node is part of a cycle of links')).toBe(true);
    expect(problems.map((p) => p.nodeId).sort()).toEqual(['1', '2', '3', '4']);
  });

  it('handles a long chain without recursion limits', () => {
    const chain: Workflow = { '0': { class_type: 'A', inputs: {} } };
    for (let i = 1; i < 20_000; i += 1)
      chain[String(i)] = { class_type: 'A', inputs: { x: [String(i - 1), 0] } };
    expect(checkWorkflow(chain)).toEqual([]);
  });
});

describe('node types', () => {
  it('lists nodes whose class the workers do not know', () => {
    const known = new Set(['EmptyImage', 'SaveImage']);
    expect(checkNodeTypes(basic, known)).toEqual([{ nodeId: '2', classType: 'ImageInvert' }]);
  });

  it('applies an allowlist, null meaning everything', () => {
    expect(checkAllowlist(basic, null)).toEqual([]);
    expect(checkAllowlist(basic, ['EmptyImage', 'ImageInvert'])).toEqual([
      { nodeId: '3', classType: 'SaveImage' },
    ]);
  });
});
