/** The API's base64 and multipart inputs: checked as images, then stored under the job before admission. */
import type { JobInput } from '../jobs/types.js';
import { decodeBase64Input, storeInput, validateInputImage } from '../media/inputs.js';
import type { ObjectStorage } from '../media/storage/contract.js';

/** Decodes, validates and stores one base64 input; ApiError `input_invalid` / `payload_too_large` when unusable. */
export async function storeBase64Input(
  storage: ObjectStorage,
  jobId: string,
  name: string,
  base64: string,
  filename: string,
): Promise<JobInput> {
  const { bytes, info } = await decodeBase64Input(name, base64);
  const stored = await storeInput(storage, jobId, name, bytes, info);
  return { name, filename, contentType: stored.contentType, size: stored.size, objectKey: stored.objectKey };
}

/** Validates and stores one multipart upload; same errors as storeBase64Input. */
export async function storeUploadedInput(
  storage: ObjectStorage,
  jobId: string,
  name: string,
  bytes: Buffer,
  filename: string,
): Promise<JobInput> {
  const info = await validateInputImage(name, bytes);
  const stored = await storeInput(storage, jobId, name, bytes, info);
  return { name, filename, contentType: stored.contentType, size: stored.size, objectKey: stored.objectKey };
}
