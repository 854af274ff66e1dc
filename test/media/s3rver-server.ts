/**
 * A real S3-compatible server (s3rver) on 127.0.0.1 for storage tests: port 0, a temp folder, one
 * bucket. It accepts the S3RVER / S3RVER key pair (and does not verify signatures strictly).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface RunningS3 {
  endpoint: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/** Starts s3rver with one empty bucket. */
export async function startS3(bucket = 'arrakis-test'): Promise<RunningS3> {
  const directory = mkdtempSync(join(tmpdir(), 'arrakis-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const addr = await server.run();
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    bucket,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * The `--storage` setting for a server storing under `prefix` in this bucket; sets the AWS variables the
 * storage layer reads its credentials from.
 */
export function s3StorageSetting(s3: RunningS3, prefix = 'arrakis'): string {
  process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
  return `s3://${s3.bucket}/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1&force_path_style=1`;
}
