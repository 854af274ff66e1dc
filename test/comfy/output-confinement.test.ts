/**
 * The output confinement check: a file a node names is this job's only when `/view` would read it from the job's
 * own output folder (`arrakis/<jobId>`), resolved as ComfyUI resolves it (os.path.join + normpath, annotations).
 */
import { describe, expect, it } from 'vitest';
import { collectOutputFiles } from '../../src/comfy/history-outcome.js';
import { outputRefusal, subfolderSegments } from '../../src/comfy/output-confinement.js';
import { historyAnswerSchema } from '../../src/comfy/schemas.js';
import type { ComfyOutputFile } from '../../src/comfy/contract.js';
import { capture } from './captures.js';

const JOB = 'job-1';
const OTHER = 'job-2';

function file(subfolder: string, filename = 'out_00001_.png', type: ComfyOutputFile['type'] = 'output') {
  return { nodeId: '9', filename, subfolder, type };
}

/** Typed by the folder /view reads, as the agent gets them (collectOutputFiles applies the annotation). */
function viewed(filename: string, subfolder: string, type: ComfyOutputFile['type']): ComfyOutputFile {
  return collectOutputFiles({ '9': { images: [{ filename, subfolder, type }] } })[0]!;
}

describe('outputRefusal', () => {
  it('keeps the files real ComfyUI reports for a saver whose prefix was rewritten', () => {
    // basic-history.json: SaveImage with filename_prefix `peer/basic` reports subfolder `peer` (dirname of the
    // normalised prefix); PreviewImage reports its temp files at the top of the temp folder.
    const answer = historyAnswerSchema.parse(capture('basic-history.json'));
    const entry = Object.values(answer)[0]!;
    const files = collectOutputFiles(entry.outputs);
    expect(files.map((f) => [f.type, f.subfolder])).toEqual([
      ['output', 'peer'],
      ['output', 'peer'],
      ['temp', ''],
      ['temp', ''],
    ]);
    // Rewritten, the same saver's prefix is `arrakis/<job>/basic`, its subfolder `arrakis/<job>` (a Windows
    // worker's normpath writes `arrakis\<job>`).
    for (const f of files.filter((x) => x.type === 'output')) {
      expect(outputRefusal(f, JOB)).toBe('outside_job_folder');
      expect(outputRefusal({ ...f, subfolder: `arrakis/${JOB}` }, JOB)).toBeNull();
      expect(outputRefusal({ ...f, subfolder: `arrakis\\${JOB}` }, JOB)).toBeNull();
    }
    for (const f of files.filter((x) => x.type === 'temp')) expect(outputRefusal(f, JOB)).toBeNull();
  });

  it('keeps subfolders that resolve at or under arrakis/<job>', () => {
    for (const sub of [
      `arrakis/${JOB}`,
      `arrakis/${JOB}/`,
      `arrakis/${JOB}/sub`,
      `arrakis/${JOB}/sub/deeper`,
      `./arrakis/${JOB}`,
      `arrakis//${JOB}//`,
      `arrakis/./${JOB}`,
      `arrakis/${JOB}/sub/..`,
      `arrakis/x/../${JOB}`,
      `arrakis\\${JOB}\\sub`,
    ])
      expect([sub, outputRefusal(file(sub), JOB)]).toEqual([sub, null]);
  });

  it('refuses subfolders that resolve anywhere else', () => {
    for (const sub of [
      '',
      '.',
      'arrakis',
      `arrakis/${OTHER}`,
      `arrakis/${JOB}/../${OTHER}`,
      `arrakis/${JOB}/..`,
      `arrakis/${JOB}x`,
      `arrakis/${JOB}-2`,
      `arrakis\\${OTHER}`,
      `arrakis/${JOB}\\..\\${OTHER}`,
      `${JOB}`,
      `other/arrakis/${JOB}`,
      `/arrakis/${JOB}`,
      `/srv/comfy/output/arrakis/${OTHER}`,
      `\\\\host\\share\\arrakis\\${JOB}`,
      `\\arrakis\\${JOB}`,
      `C:\\comfy\\output\\arrakis\\${JOB}`,
      `C:arrakis/${JOB}`,
      `arrakis/${JOB}:stream`,
      `../arrakis/${JOB}`,
      `../../output/arrakis/${JOB}`,
      `arrakis/${JOB}.`,
      `arrakis/${JOB} `,
      `arrakis/${JOB}/.../..`,
      `arrakis/${JOB}\0`,
      `ARRAKIS/${JOB}`,
    ])
      expect([sub, outputRefusal(file(sub), JOB)]).toEqual([sub, 'outside_job_folder']);
  });

  it('refuses file names that are not a plain name in the subfolder', () => {
    for (const name of [
      '../x.png',
      '..',
      `../${OTHER}/x.png`,
      'sub/x.png',
      'sub\\x.png',
      '/x.png',
      '',
      'a..png',
    ])
      expect([name, outputRefusal(file(`arrakis/${JOB}`, name), JOB)]).toEqual([name, 'unsafe_filename']);
    expect(outputRefusal(file('', '../x.png', 'temp'), JOB)).toBe('unsafe_filename');
  });

  it('follows the folder annotation /view obeys, whatever `type` says', () => {
    // `[output]` makes a temp-typed ref read the output folder: it must be under this job's folder then.
    expect(outputRefusal(viewed('x.png [output]', `arrakis/${OTHER}`, 'temp'), JOB)).toBe(
      'outside_job_folder',
    );
    expect(outputRefusal(viewed('x.png [output]', `arrakis/${JOB}`, 'temp'), JOB)).toBeNull();
    expect(outputRefusal(viewed('x.png [input]', `arrakis/${JOB}`, 'output'), JOB)).toBe('input_folder');
    expect(outputRefusal(viewed('x.png [temp]', '', 'output'), JOB)).toBeNull();
  });

  it("refuses temp refs in another job's arrakis folder, keeps the rest of temp", () => {
    // VideoHelperSuite's VideoCombine with save_output off writes its rewritten prefix under temp:
    // `temp/arrakis/<job>/…`, typed temp. Another job's such file is not this job's.
    expect(outputRefusal(file(`arrakis/${JOB}`, 'out_00001.mp4', 'temp'), JOB)).toBeNull();
    expect(outputRefusal(file(`arrakis\\${JOB}\\sub`, 'out_00001.mp4', 'temp'), JOB)).toBeNull();
    for (const sub of [
      `arrakis/${OTHER}`,
      `arrakis\\${OTHER}`,
      `ARRAKIS/${OTHER}`, // a Windows worker's folders ignore case
      'arrakis/JOB_01~1', // a Windows 8.3 short name of some job's folder
      `arrakis/${JOB}/../${OTHER}`,
      'arrakis',
      `x/../arrakis/${OTHER}`,
      '../output', // /view answers 403, but it is not this job's either
      'C:/x',
    ])
      expect([sub, outputRefusal(file(sub, 'out_00001.mp4', 'temp'), JOB)]).toEqual([
        sub,
        'outside_job_folder',
      ]);
    // Previews at the top of temp, or in a custom node's own temp subfolder, stay.
    expect(outputRefusal(file('', 'ComfyUI_temp_abcde_00001_.png', 'temp'), JOB)).toBeNull();
    expect(outputRefusal(file('previews', 'p_00001_.png', 'temp'), JOB)).toBeNull();
  });

  it('refuses ComfyUI input folder refs', () => {
    expect(outputRefusal(file(`arrakis/${JOB}`, 'x.png', 'input'), JOB)).toBe('input_folder');
  });
});

describe('subfolderSegments', () => {
  it('normalises like os.path.join + normpath with either separator', () => {
    expect(subfolderSegments('a//b/./c/../d/')).toEqual(['a', 'b', 'd']);
    expect(subfolderSegments('a\\b/c')).toEqual(['a', 'b', 'c']);
    expect(subfolderSegments('')).toEqual([]);
    expect(subfolderSegments('a/../..')).toBeNull();
    expect(subfolderSegments('/a')).toBeNull();
  });
});
