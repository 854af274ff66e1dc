/**
 * What `arrakis run` submits, built from FILE and the flags. FILE may be a request body (`{ "workflow" |
 * "template", … }`), a bare API-format prompt, or a bare UI-format export (the server converts it).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { createJobBody } from '../api/wire/job.js';
import type { CreateJobRequest } from '../client/index.js';

export interface RunFlags {
  template?: string | undefined;
  param: readonly string[];
  input: readonly string[];
}

export interface RunRequest {
  request: CreateJobRequest;
  /** Local files to upload (multipart), by input name. */
  uploads: Record<string, File>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(json)) throw new Error(`${path} must hold a JSON object (a request body or a workflow)`);
  return json;
}

/** `k=v` split at the first `=`; throws naming the flag when there is none. */
export function splitPair(flag: string, pair: string): [string, string] {
  const at = pair.indexOf('=');
  if (at <= 0) throw new Error(`${flag} ${pair}: expected name=value`);
  return [pair.slice(0, at), pair.slice(at + 1)];
}

/** A `--param` value: JSON when it parses (numbers, booleans, quoted strings, arrays), else the text itself. */
export function paramValue(text: string): unknown {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed;
  } catch {
    return text;
  }
}

async function applyInputs(
  body: Record<string, unknown>,
  inputs: readonly string[],
): Promise<Record<string, File>> {
  const uploads: Record<string, File> = {};
  const urls: Record<string, unknown> = isObject(body.inputs) ? { ...body.inputs } : {};
  for (const pair of inputs) {
    const [name, where] = splitPair('--input', pair);
    if (/^https?:\/\//i.test(where)) {
      urls[name] = { url: where };
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(where);
    } catch (err) {
      throw new Error(
        `--input ${name}: cannot read ${where}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    uploads[name] = new File([new Uint8Array(bytes)], basename(where));
  }
  if (Object.keys(urls).length > 0) body.inputs = urls;
  return uploads;
}

/** Builds and checks the request (the same schema the server validates with) before anything is sent. */
export async function buildRunRequest(file: string | undefined, flags: RunFlags): Promise<RunRequest> {
  const json = file === undefined ? {} : await readJson(file);
  const body: Record<string, unknown> =
    'workflow' in json || 'template' in json ? { ...json } : { workflow: json };
  if (flags.template !== undefined) {
    delete body.workflow;
    body.template = flags.template;
  }
  if (file === undefined && flags.template === undefined) {
    throw new Error('give a FILE.json (request body, API-format prompt or UI export) or --template NAME');
  }
  if (flags.param.length > 0) {
    if (body.template === undefined) throw new Error('--param goes with a template (--template NAME)');
    const params: Record<string, unknown> = isObject(body.params) ? { ...body.params } : {};
    for (const pair of flags.param) {
      const [name, value] = splitPair('--param', pair);
      params[name] = paramValue(value);
    }
    body.params = params;
  }
  const uploads = await applyInputs(body, flags.input);
  const parsed = createJobBody.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (i) => `${['body', ...i.path.map(String)].join('.')}: ${i.message}`,
    );
    throw new Error(`the request is invalid: ${issues.join('; ')}`);
  }
  const { workflow, template, params, ...common } = parsed.data;
  if (template !== undefined && workflow === undefined) {
    return { request: { ...common, template, ...(params === undefined ? {} : { params }) }, uploads };
  }
  if (workflow !== undefined && template === undefined && params === undefined) {
    return { request: { ...common, workflow }, uploads };
  }
  throw new Error(
    'the request needs exactly one of "workflow" or "template" (with "params" only for a template)',
  );
}
