/**
 * A control plane's close() stops its object storage too: the file storage's writer thread, started by the
 * storage check at start, must not outlive the plane (a process that starts and closes planes — tests, an
 * embedding host — would gather one idle thread per start).
 */
import { expect, it } from 'vitest';
import { FileStorage } from '../../src/media/storage/file-storage.js';
import { RecentOutputs } from '../../src/media/storage/recent-outputs.js';
import { startTestServer } from '../support/server.js';

it('close() stops the file storage writer thread the start warmed', async () => {
  const server = await startTestServer();
  const recent = server.cp.storage;
  expect(recent).toBeInstanceOf(RecentOutputs);
  const storage = (recent as RecentOutputs).backend;
  expect(storage).toBeInstanceOf(FileStorage);
  const writer = (storage as FileStorage).writerThread;
  expect(writer?.running).toBe(true); // warmed by the check at start
  await server.close();
  expect(writer?.running).toBe(false);
});
