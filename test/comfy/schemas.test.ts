import { describe, expect, it } from 'vitest';
import { collectOutputFiles, outcomeFromHistory } from '../../src/comfy/history-outcome.js';
import {
  historyAnswerSchema,
  historyEntrySchema,
  objectInfoEntrySchema,
  objectInfoSchema,
  promptAcceptedSchema,
  promptRejectedSchema,
  queueAnswerSchema,
  systemStatsSchema,
  uploadAnswerSchema,
  type WsFrame,
} from '../../src/comfy/schemas.js';
import { classifyWsMessage } from '../../src/comfy/ws-message.js';
import { capture, list, pick } from './captures.js';

const BASIC_ID = '4ffadc80-eaaf-46a8-ac21-d90428d1ba86';

/** The frame a message carries, else null (binary, invalid, unknown or malformed: classifyWsMessage says which). */
function parseWsMessage(data: Buffer | string, isBinary: boolean): WsFrame | null {
  const message = classifyWsMessage(data, isBinary);
  return message.kind === 'frame' ? message.frame : null;
}
const ACTED_ON = new Set([
  'status',
  'execution_start',
  'execution_cached',
  'executing',
  'progress',
  'executed',
  'execution_success',
  'execution_error',
  'execution_interrupted',
]);

function historyEntry(value: unknown) {
  return historyEntrySchema.parse(value);
}

describe('POST /prompt answers', () => {
  it('parses the 200 answer of the basic prompt', () => {
    const body = promptAcceptedSchema.parse(pick(capture('basic-post.json'), 'resp'));
    expect(body).toEqual({ prompt_id: BASIC_ID, number: 0, node_errors: {} });
  });

  it('parses every captured 400 body with its error type', () => {
    const errors = capture('errors.json');
    const cases = [
      'no_prompt',
      'unknown_class',
      'missing_class_type',
      'no_outputs',
      'missing_input',
      'out_of_range',
      'bad_link',
      'bad_combo',
    ];
    const types = cases.map((name) => {
      expect(pick(errors, name, 0)).toBe(400);
      return promptRejectedSchema.parse(pick(errors, name, 1)).error.type;
    });
    expect(types).toEqual([
      'no_prompt',
      'invalid_prompt',
      'invalid_prompt',
      'prompt_no_outputs',
      'prompt_outputs_failed_validation',
      'prompt_outputs_failed_validation',
      'prompt_outputs_failed_validation',
      'prompt_outputs_failed_validation',
    ]);
    const badLink = promptRejectedSchema.parse(pick(errors, 'bad_link', 1));
    expect(badLink.node_errors['2']?.class_type).toBe('SaveImage');
    expect(badLink.node_errors['2']?.errors[0]?.type).toBe('exception_during_validation');
  });

  it('keeps the node_errors of a partial 200 acceptance', () => {
    const body = promptAcceptedSchema.parse(pick(capture('errors.json'), 'partial_ok', 1));
    expect(Object.keys(body.node_errors)).toEqual(['3']);
  });

  it('refuses a body that is not ComfyUI', () => {
    expect(promptAcceptedSchema.safeParse({ ok: true }).success).toBe(false);
    expect(promptRejectedSchema.safeParse({ message: 'bad gateway' }).success).toBe(false);
  });
});

describe('history', () => {
  it('turns the basic history into success with every file, temp previews included', () => {
    const answer = historyAnswerSchema.parse(capture('basic-history.json'));
    const outcome = outcomeFromHistory(historyEntry(answer[BASIC_ID]));
    expect(outcome).toEqual({
      kind: 'success',
      outputs: [
        // JSON key order is lost for integer-like node ids: they come back in ascending order.
        { nodeId: '3', filename: 'basic_00001_.png', subfolder: 'peer', type: 'output' },
        { nodeId: '3', filename: 'basic_00002_.png', subfolder: 'peer', type: 'output' },
        { nodeId: '4', filename: 'ComfyUI_temp_ebrvy_00001_.png', subfolder: '', type: 'temp' },
        { nodeId: '4', filename: 'ComfyUI_temp_ebrvy_00002_.png', subfolder: '', type: 'temp' },
      ],
    });
  });

  it('turns a runtime error history into an error naming the node', () => {
    const answer = historyAnswerSchema.parse(pick(capture('errors.json'), 'runtime_error_history', 1));
    const outcome = outcomeFromHistory(historyEntry(answer['a506c3af-dcdd-4b85-a877-2fdf00506cab']));
    expect(outcome).toEqual({
      kind: 'error',
      nodeId: '2',
      nodeType: 'PeerSlowImage',
      message: 'PeerSlowImage failing on purpose at step 1',
    });
  });

  it('turns an interrupted history into interrupted', () => {
    const entry = historyEntry(pick(capture('cancel.json'), 'p1_history_status_outputs'));
    expect(outcomeFromHistory(entry)).toEqual({ kind: 'interrupted' });
  });

  it('answers {} for an unknown id', () => {
    const answer = historyAnswerSchema.parse(
      pick(capture('upload-loadimage-queue.json'), 'GET /history/does-not-exist', 1),
    );
    expect(answer).toEqual({});
  });

  it('collects files under any output key and skips what is not a file', () => {
    const files = collectOutputFiles({
      '7': {
        gifs: [
          { filename: 'a.mp4', subfolder: 'x', type: 'output', format: 'video/h264-mp4', frame_rate: 8 },
        ],
        text: ['hello'],
        animated: [false],
      },
      '8': {
        audio: [{ filename: 'b.flac', subfolder: '', type: 'output' }],
        '3d': { filename: 'c.glb', subfolder: '', type: 'output' },
      },
      '9': { images: [{ filename: 'd.png', subfolder: '', type: 'somewhere-else' }] },
    });
    expect(files).toEqual([
      { nodeId: '7', filename: 'a.mp4', subfolder: 'x', type: 'output' },
      { nodeId: '8', filename: 'b.flac', subfolder: '', type: 'output' },
      { nodeId: '8', filename: 'c.glb', subfolder: '', type: 'output' },
    ]);
  });

  it('lists nodes by id, numbers by value, whatever order the server keyed them in', () => {
    const image = (name: string) => ({ images: [{ filename: name, subfolder: '', type: 'output' }] });
    const ids = ['x:3', '10:10', '011', '9', '10:2', '10', 'x:03', '100'];
    const files = collectOutputFiles(Object.fromEntries(ids.map((id) => [id, image(`${id}.png`)])));
    expect(files.map((f) => f.nodeId)).toEqual(['9', '10', '10:2', '10:10', '011', '100', 'x:03', 'x:3']);
    const reversed = collectOutputFiles(
      Object.fromEntries(ids.reverse().map((id) => [id, image(`${id}.png`)])),
    );
    expect(reversed).toEqual(files);
  });

  it("types a file by the folder /view reads: a `[input]` name is ComfyUI's input folder whatever its type says", () => {
    const files = collectOutputFiles({
      '3': {
        images: [
          { filename: 'face.png [input]', subfolder: 'arrakis/job_other', type: 'output' },
          { filename: 'x.png [temp]', subfolder: '', type: 'output' },
          { filename: 'y.png', subfolder: '', type: 'temp' },
        ],
      },
    });
    expect(files.map((f) => f.type)).toEqual(['input', 'temp', 'temp']);
  });
});

describe('WebSocket frames', () => {
  it('parses every captured text frame Arrakis acts on and ignores the others', () => {
    const frames = list(capture('basic-ws.json')).filter(
      (f) => typeof f === 'object' && f !== null && 'type' in f,
    );
    const parsed = frames.map((f) => parseWsMessage(JSON.stringify(f), false));
    const actedOn = frames.filter((f) => ACTED_ON.has(String(pick(f, 'type'))));
    expect(parsed.filter((p) => p !== null)).toHaveLength(actedOn.length);
    expect(parsed.filter((p) => p !== null).length).toBeGreaterThan(10);
    expect(
      parseWsMessage(JSON.stringify(pick(capture('cancel.json'), 'feature_flags_msgs', 0)), false),
    ).toBeNull();
    const last = parsed.at(-1);
    expect(last?.type === 'executing' && last.data.node === null && last.data.prompt_id === BASIC_ID).toBe(
      true,
    );
  });

  it('parses error and interrupt frames with their node', () => {
    const errorFrame = list(pick(capture('errors.json'), 'runtime_error_ws')).find(
      (f) => pick(f, 'type') === 'execution_error',
    );
    const parsed = parseWsMessage(Buffer.from(JSON.stringify(errorFrame)), false);
    expect(parsed?.type === 'execution_error' && parsed.data.node_id).toBe('2');
    const interrupted = list(pick(capture('cancel.json'), 'p1_ws_non_progress')).find(
      (f) => pick(f, 'type') === 'execution_interrupted',
    );
    expect(parseWsMessage(JSON.stringify(interrupted), false)?.type).toBe('execution_interrupted');
  });

  it('ignores binary preview frames, broken JSON and malformed known frames', () => {
    const preview = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), Buffer.from('89504e47', 'hex')]);
    expect(parseWsMessage(preview, true)).toBeNull();
    expect(parseWsMessage('{"type":', false)).toBeNull();
    expect(parseWsMessage('{"type":"progress","data":{"value":"x"}}', false)).toBeNull();
    expect(parseWsMessage('{"type":"brand_new_event","data":{}}', false)).toBeNull();
    expect(
      parseWsMessage('{"type":"progress","data":{"value":1,"max":4,"node":"2","prompt_id":"p"}}', false),
    ).toEqual({
      type: 'progress',
      data: { value: 1, max: 4, node: '2', prompt_id: 'p' },
    });
  });
});

describe('other answers', () => {
  it('parses the queue while a prompt runs', () => {
    const captured = pick(capture('cancel.json'), 'queue_while_running');
    const queue = queueAnswerSchema.parse({
      queue_running: [[12, pick(captured, 'running_ids', 0), {}, {}, []]],
      queue_pending: pick(captured, 'pending'),
    });
    expect(queue.queue_pending.map((item) => item[1])).toEqual([
      'a2e6ea0b-9335-4cbe-bbc2-1f1ed177611f',
      'e9ef9de3-7d56-43f1-ad1d-058b63866136',
    ]);
    expect(
      queueAnswerSchema.parse(pick(capture('upload-loadimage-queue.json'), 'GET /queue', 1)).queue_running,
    ).toEqual([]);
  });

  it('parses system_stats, object_info and upload answers', () => {
    const captures = capture('upload-loadimage-queue.json');
    const stats = systemStatsSchema.parse(pick(captures, 'GET /api/system_stats', 1));
    expect(stats.system.comfyui_version).toBe('0.3.65');
    const info = capture('object_info-subset.json');
    expect(Object.keys(objectInfoSchema.parse(info))).toContain('LoadImage');
    for (const entry of Object.values(objectInfoSchema.parse(info))) {
      expect(objectInfoEntrySchema.safeParse(entry).success).toBe(true);
    }
    expect(uploadAnswerSchema.parse(pick(captures, 'upload_diff_same_name', 1)).name).toBe('up (1).png');
    expect(systemStatsSchema.safeParse({ status: 'ok' }).success).toBe(false);
  });

  it('tells frames it ignores from frames that should have parsed and did not', () => {
    const kind = (text: string, binary = false) => classifyWsMessage(text, binary).kind;
    expect(kind('\u0000\u0000\u0000\u0001', true)).toBe('ignored');
    expect(kind('{"type":"progress_state","data":{}}')).toBe('ignored');
    expect(kind('{"type":"brand_new_event","data":{}}')).toBe('ignored');
    expect(kind('{"type":')).toBe('malformed');
    expect(kind('{"type":"executed","data":{"output":{},"prompt_id":"p"}}')).toBe('malformed');
    expect(kind('{"type":"execution_success","data":{"prompt_id":"p"}}')).toBe('frame');
  });
});
