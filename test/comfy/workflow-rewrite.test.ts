import { describe, expect, it } from 'vitest';
import {
  rewriteWorkflowForJob,
  sanitizePrefix,
  WorkflowRewriteError,
} from '../../src/comfy/workflow-rewrite.js';
import type { FileInputCatalog } from '../../src/comfy/file-inputs.js';
import type { Workflow } from '../../src/jobs/types.js';

const JOB = 'job_01HZX';

const workflow: Workflow = {
  '1': { class_type: 'LoadImage', inputs: { image: 'photo', upload: 'image' } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'peer/basic' } },
  '4': { class_type: 'VHS_VideoCombine', inputs: { images: ['2', 0], filename_prefix: '%date:yyyy%/../x' } },
  '5': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: ['6', 0] } },
  '6': { class_type: 'PrimitiveString', inputs: { value: '../../etc' } },
};

describe('rewriteWorkflowForJob', () => {
  it('puts every saver under arrakis/<jobId>/ and maps loaders to this job uploads', () => {
    const out = rewriteWorkflowForJob(workflow, JOB, { photo: 'arrakis-in/job_01HZX/photo.png' });
    expect(out['1']?.inputs).toEqual({ image: 'arrakis-in/job_01HZX/photo.png', upload: 'image' });
    expect(out['3']?.inputs.filename_prefix).toBe('arrakis/job_01HZX/peer_basic');
    expect(out['4']?.inputs.filename_prefix).toBe('arrakis/job_01HZX/date_yyyy_x');
    // A prefix computed by another node could name any path: it is replaced, not followed.
    expect(out['5']?.inputs.filename_prefix).toBe('arrakis/job_01HZX/out');
    expect(out['2']).toEqual(workflow['2']);
  });

  it('never mutates the workflow it is given', () => {
    const before = structuredClone(workflow);
    rewriteWorkflowForJob(workflow, JOB, new Map([['photo', 'in/photo.png']]));
    expect(workflow).toEqual(before);
  });

  it('rejects loaders naming anything but one of the job inputs, listing every node', () => {
    const bad: Workflow = {
      a: { class_type: 'LoadImage', inputs: { image: '../other/secret.png' } },
      b: { class_type: 'LoadImage', inputs: { image: '/etc/passwd' } },
      c: { class_type: 'LoadImage', inputs: { image: 'tenantB/their.png' } },
      d: { class_type: 'LoadImageMask', inputs: { image: ['x', 0], channel: 'alpha' } },
      e: { class_type: 'LoadImage', inputs: { image: 'constructor' } },
      f: { class_type: 'LoadImage', inputs: { image: 'photo' } },
    };
    let thrown: unknown;
    try {
      rewriteWorkflowForJob(bad, JOB, { photo: 'in/photo.png' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WorkflowRewriteError);
    if (!(thrown instanceof WorkflowRewriteError)) return;
    expect(thrown.code).toBe('workflow_invalid');
    expect(thrown.nodeIds).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(thrown.message).toContain('node a');
  });

  it('refuses a job id that is not a safe path segment', () => {
    expect(() => rewriteWorkflowForJob(workflow, '../x', { photo: 'p.png' })).toThrow(TypeError);
  });

  it('enforces the file-input rules again on the worker (a template or an old queued job cannot bypass them)', () => {
    const sneaky: Workflow = {
      a: { class_type: 'LoadImageOutput', inputs: { image: 'arrakis/job_other/x_00001_.png [output]' } },
      b: {
        class_type: 'LoadImageSetFromFolderNode',
        inputs: { folder: 'arrakis/job_other', resize_method: 'None' },
      },
      c: {
        class_type: 'CheckpointLoaderSimple',
        inputs: { ckpt_name: '../../input/arrakis/job_other/p.png' },
      },
      d: { class_type: 'CustomReader', inputs: { weights: 'w.bin' } },
      e: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    };
    // The worker checks names, not its (possibly stale) model list: ComfyUI validates that list itself.
    const catalog: FileInputCatalog = new Map<string, Map<string, string[] | null>>([
      ['CustomReader', new Map([['weights', null]])],
      ['CheckpointLoaderSimple', new Map([['ckpt_name', ['other.safetensors']]])],
    ]);
    const refused = (() => {
      try {
        rewriteWorkflowForJob(sneaky, JOB, {}, { catalog });
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(refused).toBeInstanceOf(WorkflowRewriteError);
    expect((refused as WorkflowRewriteError).problems.map((p) => [p.nodeId, p.input])).toEqual([
      ['a', 'image'],
      ['b', 'folder'],
      ['c', 'ckpt_name'],
      ['d', 'weights'],
    ]);
  });

  it('lets an operator-allowlisted node type through unchanged', () => {
    const allowed: Workflow = {
      a: { class_type: 'LoadImageOutput', inputs: { image: 'mine_00001_.png [output]' } },
      b: { class_type: 'SaveImage', inputs: { images: ['a', 0], filename_prefix: 'x' } },
    };
    const out = rewriteWorkflowForJob(allowed, JOB, {}, { fileNodeAllowlist: ['LoadImageOutput'] });
    expect(out['a']?.inputs.image).toBe('mine_00001_.png [output]');
    expect(() => rewriteWorkflowForJob(allowed, JOB, {})).toThrow(WorkflowRewriteError);
  });
});

describe('sanitizePrefix', () => {
  it('reduces any prefix to one safe segment, out when nothing is left', () => {
    expect(sanitizePrefix('ComfyUI')).toBe('ComfyUI');
    expect(sanitizePrefix('../..')).toBe('out');
    expect(sanitizePrefix('/abs/path')).toBe('abs_path');
    expect(sanitizePrefix('C:\\win\\x')).toBe('C_win_x');
    expect(sanitizePrefix('')).toBe('out');
    expect(sanitizePrefix(42)).toBe('out');
    expect(sanitizePrefix('a'.repeat(200))).toHaveLength(64);
  });
});
