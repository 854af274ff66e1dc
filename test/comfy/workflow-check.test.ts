import { describe, expect, it } from 'vitest';
import {
  checkAllowlist,
  checkNodeTypes,
  checkWorkflow,
  DEFAULT_WORKFLOW_LIMITS,
  parseWorkflow,
  workflowSizeProblem,
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

  it('finds a cycle through a 20k-node chain in linear time (one back edge per node was quadratic)', () => {
    // Each node links to the one before it and to the last one: a DFS from the last node walks the whole chain
    // and meets a back edge at every step. The old check sliced the DFS stack at each: minutes at 40k.
    const n = 20_000;
    const last = String(n - 1);
    const ring: Workflow = { '0': { class_type: 'A', inputs: { loop: [last, 0] } } };
    for (let i = 1; i < n; i += 1) {
      ring[String(i)] = { class_type: 'A', inputs: { x: [String(i - 1), 0], loop: [last, 0] } };
    }
    ring['tail'] = { class_type: 'A', inputs: { x: ['0', 0] } };
    const started = performance.now();
    const problems = checkWorkflow(ring);
    const ms = performance.now() - started;
    expect(problems).toHaveLength(n);
    expect(problems.every((p) => p.message === 'node is part of a cycle of links')).toBe(true);
    expect(problems.some((p) => p.nodeId === 'tail')).toBe(false);
    // Generous: linear takes a few ms; the quadratic check took seconds at this size.
    expect(ms).toBeLessThan(1500);
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

describe('workflowSizeProblem', () => {
  it('bounds nodes and links, stopping at the first bound crossed', () => {
    const chain = (n: number): Workflow => {
      const w: Workflow = { '0': { class_type: 'A', inputs: {} } };
      for (let i = 1; i < n; i += 1) w[String(i)] = { class_type: 'A', inputs: { x: [String(i - 1), 0] } };
      return w;
    };
    expect(DEFAULT_WORKFLOW_LIMITS).toEqual({ maxNodes: 5000, maxLinks: 20000 });
    expect(workflowSizeProblem(chain(5000), DEFAULT_WORKFLOW_LIMITS)).toBeNull();
    expect(workflowSizeProblem(chain(5001), DEFAULT_WORKFLOW_LIMITS)).toBe(
      'the workflow has more than 5000 nodes',
    );
    expect(workflowSizeProblem(chain(11), { maxNodes: 100, maxLinks: 10 })).toBeNull();
    expect(workflowSizeProblem(chain(12), { maxNodes: 100, maxLinks: 10 })).toBe(
      'the workflow has more than 10 links',
    );
    expect(workflowSizeProblem('not a workflow', DEFAULT_WORKFLOW_LIMITS)).toBeNull();
  });

  it('bounds a UI-format export by its nodes and links arrays, before any conversion', () => {
    const ui = (nodes: number, links: number): unknown => ({
      nodes: Array.from({ length: nodes }, (_, id) => ({ id, type: 'Reroute' })),
      links: Array.from({ length: links }, (_, id) => [id, 0, 0, 1, 0, '*']),
      version: 0.4,
    });
    const limits = { maxNodes: 100, maxLinks: 10 };
    expect(workflowSizeProblem(ui(100, 10), limits)).toBeNull();
    expect(workflowSizeProblem(ui(101, 0), limits)).toBe('the workflow has more than 100 nodes');
    expect(workflowSizeProblem(ui(1, 11), limits)).toBe('the workflow has more than 10 links');
  });
});
