/**
 * Which node inputs name a file or folder on the ComfyUI host, and the rule each one follows.
 *
 * ComfyUI resolves such names against shared folders and does not confine the result: `x.png [output]` reads
 * from the output folder, `../input/… [output]` or an absolute path reads anywhere (folder_paths.
 * get_annotated_filepath is a bare os.path.join), and a folder input lists a whole directory. Every tenant's
 * files sit in those folders, so Arrakis denies every file input by default and lets through only:
 * - `job_input`: LoadImage / LoadImageMask `image`, which must name one of this job's inputs and is rewritten
 *   to the uploaded file of this job;
 * - `model`: a model loader's file name, which must be a plain name (see modelNameProblem) and, where the
 *   workers reported their lists, one of them;
 * and, for node types an operator allowlisted for the account, anything (documented as dangerous).
 * Inputs are found three ways: the table below (read from ComfyUI's source), the workers' `/object_info`
 * (upload flags, combo lists of file names, file-like names), and the input's name when no worker described
 * the node.
 */
import { objectInfoEntrySchema } from './schemas.js';

export type FileInputRule = 'job_input' | 'model' | 'refuse';

/** Known file-reading inputs of ComfyUI's own nodes (v0.3.65 source: nodes.py, comfy_extras/*). */
export const KNOWN_FILE_INPUTS: Readonly<Record<string, Readonly<Record<string, FileInputRule>>>> = {
  LoadImage: { image: 'job_input' },
  LoadImageMask: { image: 'job_input' },
  // LoadImage's loader with the output folder's list; `x [output]` and `../` reach any file.
  LoadImageOutput: { image: 'refuse' },
  WebcamCapture: { image: 'refuse' },
  LoadImageSetNode: { images: 'refuse' },
  LoadImageSetFromFolderNode: { folder: 'refuse' },
  LoadImageTextSetFromFolderNode: { folder: 'refuse' },
  LoadImageDataSetFromFolder: { folder: 'refuse' },
  LoadImageTextDataSetFromFolder: { folder: 'refuse' },
  SaveImageDataSetToFolder: { folder_name: 'refuse' },
  SaveImageTextDataSetToFolder: { folder_name: 'refuse' },
  LoadAudio: { audio: 'refuse' },
  LoadVideo: { file: 'refuse' },
  Load3D: { model_file: 'refuse', image: 'refuse' },
  Load3DAnimation: { model_file: 'refuse', image: 'refuse' },
  Preview3D: { model_file: 'refuse' },
  Preview3DAnimation: { model_file: 'refuse' },
  LoadLatent: { latent: 'refuse' },
  DiffusersLoader: { model_path: 'refuse' },
  OpenAIInputFiles: { file: 'refuse' },
  GeminiInputFiles: { file: 'refuse' },
  CheckpointLoaderSimple: { ckpt_name: 'model' },
  CheckpointLoader: { config_name: 'model', ckpt_name: 'model' },
  unCLIPCheckpointLoader: { ckpt_name: 'model' },
  ImageOnlyCheckpointLoader: { ckpt_name: 'model' },
  LoraLoader: { lora_name: 'model' },
  LoraLoaderModelOnly: { lora_name: 'model' },
  VAELoader: { vae_name: 'model' },
  UNETLoader: { unet_name: 'model' },
  CLIPLoader: { clip_name: 'model' },
  DualCLIPLoader: { clip_name1: 'model', clip_name2: 'model' },
  TripleCLIPLoader: { clip_name1: 'model', clip_name2: 'model', clip_name3: 'model' },
  QuadrupleCLIPLoader: { clip_name1: 'model', clip_name2: 'model', clip_name3: 'model', clip_name4: 'model' },
  CLIPVisionLoader: { clip_name: 'model' },
  ControlNetLoader: { control_net_name: 'model' },
  DiffControlNetLoader: { control_net_name: 'model' },
  UpscaleModelLoader: { model_name: 'model' },
  StyleModelLoader: { style_model_name: 'model' },
  GLIGENLoader: { gligen_name: 'model' },
  HypernetworkLoader: { hypernetwork_name: 'model' },
  PhotoMakerLoader: { photomaker_model_name: 'model' },
};

/** File inputs the workers' `/object_info` describes: class → input → the combo list, if it has one. */
export type FileInputCatalog = ReadonlyMap<string, ReadonlyMap<string, readonly string[] | null>>;

/** Input names that name a file or folder (`filename_prefix` is not one: savers are rewritten). */
const FILE_LIKE_NAME =
  /^(?:folder|folder_name|path|file|file_name|filename|directory|dir)$|_(?:path|dir|folder|file|filename|directory)$/i;

/** True when an input's name says it names a file or folder. */
export function isFileLikeName(name: string): boolean {
  return FILE_LIKE_NAME.test(name);
}

/** A combo value that looks like a file: an extension, or a path separator. */
function looksLikeFile(value: unknown): boolean {
  return typeof value === 'string' && (/\.[A-Za-z][A-Za-z0-9]{0,11}$/.test(value) || /[/\\]/.test(value));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether one `/object_info` input spec (`[type]` or `[type, options]`) names a file: an upload flag
 * (`image_upload`, `audio_upload`, `video_upload`, `file_upload`), an output-folder picker (`image_folder`,
 * `remote`), a combo list of file names (v1 `[[...]]` or v3 `["COMBO", {options}]`), or a string or combo
 * input with a file-like name. Returns the combo list (possibly empty) when it is one, undefined when not.
 */
export function fileInputSpec(name: string, spec: unknown): readonly string[] | null | undefined {
  if (!Array.isArray(spec)) return undefined;
  const [type, rawOptions] = spec;
  const options = isRecord(rawOptions) ? rawOptions : {};
  const list = Array.isArray(type)
    ? type
    : type === 'COMBO' && Array.isArray(options.options)
      ? options.options
      : null;
  const values = list === null ? null : list.filter((v): v is string => typeof v === 'string');
  const flagged =
    Object.entries(options).some(([key, value]) => key.endsWith('_upload') && value === true) ||
    'image_folder' in options ||
    isRecord(options.remote);
  const namedLikeFile = (type === 'STRING' || type === 'COMBO' || list !== null) && isFileLikeName(name);
  if (flagged || namedLikeFile || (list !== null && list.some(looksLikeFile))) return values;
  return undefined;
}

/** The file inputs described by one `/object_info` answer; entries that do not parse are skipped. */
export function fileInputCatalog(objectInfo: Readonly<Record<string, unknown>>): FileInputCatalog {
  const catalog = new Map<string, Map<string, readonly string[] | null>>();
  for (const [classType, raw] of Object.entries(objectInfo)) {
    const entry = objectInfoEntrySchema.safeParse(raw);
    if (!entry.success) continue;
    const inputs = new Map<string, readonly string[] | null>();
    const groups = [entry.data.input?.required, entry.data.input?.optional];
    for (const group of groups) {
      for (const [name, spec] of Object.entries(group ?? {})) {
        const files = fileInputSpec(name, spec);
        if (files !== undefined) inputs.set(name, files);
      }
    }
    catalog.set(classType, inputs);
  }
  return catalog;
}

/** Several workers' catalogs as one: a class's file inputs and combo lists are the union of theirs. */
export function mergeCatalogs(catalogs: Iterable<FileInputCatalog>): FileInputCatalog {
  const merged = new Map<string, Map<string, readonly string[] | null>>();
  for (const catalog of catalogs) {
    for (const [classType, inputs] of catalog) {
      const into = merged.get(classType) ?? new Map<string, readonly string[] | null>();
      merged.set(classType, into);
      for (const [name, list] of inputs) {
        const had = into.get(name);
        into.set(
          name,
          had === undefined || had === null ? list : list === null ? had : [...new Set([...had, ...list])],
        );
      }
    }
  }
  return merged;
}

/**
 * The rule for one input of a node: the table first; else `refuse` when the workers' `/object_info` marks it
 * as a file input or its name looks like one (so a node no worker described is still covered). Null for an
 * ordinary input.
 */
export function fileInputRule(
  classType: string,
  input: string,
  catalog: FileInputCatalog | null,
): FileInputRule | null {
  // Own keys only: a class named `constructor` must not find Object's `name` as its rule.
  const known = Object.hasOwn(KNOWN_FILE_INPUTS, classType) ? KNOWN_FILE_INPUTS[classType] : undefined;
  if (known !== undefined && Object.hasOwn(known, input)) return known[input]!;
  if (catalog?.get(classType)?.has(input) === true || isFileLikeName(input)) return 'refuse';
  return null;
}

/**
 * Null when `value` is a safe model file name, else why not: a non-empty string without a ComfyUI folder
 * annotation (`[input]`, `[output]`, `[temp]`), path separators, `..`, a drive letter, NUL or other control
 * characters. Model loaders resolve names inside their model folders, but a name must never be able to say
 * which folder or climb out of one.
 */
export function modelNameProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'must be a model file name (a string)';
  if (value === '' || value.length > 255) return 'must be a model file name of 1–255 characters';
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain NUL or control characters';
  if (/\[(?:input|output|temp)\]$/.test(value)) return 'must not carry a folder annotation like [output]';
  if (/[/\\]/.test(value)) return 'must not contain a path separator';
  if (value.includes('..')) return 'must not contain ".."';
  if (/^[A-Za-z]:/.test(value)) return 'must not start with a drive letter';
  return null;
}

/** What the file-input rules need besides the workflow. */
export interface FileInputContext {
  /** Names of this job's inputs: a `job_input` must name one of them. */
  jobInputs: { has(name: string): boolean };
  /** The workers' file inputs and model lists; null when no worker has described its nodes. */
  catalog: FileInputCatalog | null;
  /** Node types an operator allowlisted for the account: their `model` and `refuse` inputs pass unchecked. */
  allowlist: ReadonlySet<string>;
  /**
   * Whether a model name must be in the catalog's list (default true). The worker's re-check skips it: its list
   * is read once, ComfyUI checks combo lists itself, and only the name rules protect other tenants.
   */
  checkModelLists?: boolean;
}

/** Why one file input breaks its rule, or null when it follows it. */
function fileInputProblem(
  classType: string,
  input: string,
  value: unknown,
  rule: FileInputRule,
  ctx: FileInputContext,
): string | null {
  if (rule === 'job_input') {
    return typeof value === 'string' && ctx.jobInputs.has(value)
      ? null
      : `${classType} input "${input}" must be the name of one of this job's inputs (got ${JSON.stringify(value) ?? 'nothing'})`;
  }
  if (ctx.allowlist.has(classType)) return null;
  if (rule === 'refuse') {
    return (
      `${classType} input "${input}" names a file or folder on the GPU host, which a job may not read or write ` +
      `(an operator can allowlist ${classType} for the account: see docs/security.md)`
    );
  }
  const nameProblem = modelNameProblem(value);
  if (nameProblem !== null) return `${classType} input "${input}" ${nameProblem}`;
  const offered = ctx.checkModelLists === false ? undefined : ctx.catalog?.get(classType)?.get(input);
  if (typeof value === 'string' && offered !== undefined && offered !== null && !offered.includes(value)) {
    return `${classType} input "${input}": no worker has the model ${JSON.stringify(value)}`;
  }
  return null;
}

/** One file input that breaks its rule. */
export interface FileInputProblem {
  nodeId: string;
  input: string;
  message: string;
}

/**
 * Every file input of the workflow that breaks its rule, in node order. Shared by submission (422) and the
 * agent's rewrite just before the prompt goes to ComfyUI, so a template or a job queued before a rule
 * changed cannot slip through.
 */
export function checkFileInputs(
  workflow: Readonly<Record<string, { class_type: string; inputs: Record<string, unknown> }>>,
  ctx: FileInputContext,
): FileInputProblem[] {
  const problems: FileInputProblem[] = [];
  for (const [nodeId, node] of Object.entries(workflow)) {
    for (const [input, value] of Object.entries(node.inputs)) {
      const rule = fileInputRule(node.class_type, input, ctx.catalog);
      if (rule === null) continue;
      const message = fileInputProblem(node.class_type, input, value, rule, ctx);
      if (message !== null) problems.push({ nodeId, input, message });
    }
  }
  return problems;
}
