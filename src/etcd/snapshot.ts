// Backup before the first swap. Like `etcdctl snapshot save`: stream Maintenance.Snapshot from one
// member into a temporary file next to the target, fsync, then rename, so a crash never leaves a
// half-written file under the final name.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EndpointConnection } from './connection.ts';
import { EtcdError } from './errors.ts';

export interface SnapshotResult {
  file: string;
  bytes: number;
  revision?: string;
  endpoint: string;
}

export async function saveSnapshot(
  connection: EndpointConnection,
  file: string,
  timeoutMs: number,
): Promise<SnapshotResult> {
  const target = path.resolve(file);
  await mkdir(path.dirname(target), { recursive: true });
  const partial = `${target}.part-${randomBytes(4).toString('hex')}`;
  const handle = await open(partial, 'wx', 0o600);
  let bytes = 0;
  let revision: string | undefined;
  try {
    for await (const chunk of connection.snapshot(timeoutMs)) {
      revision ??= chunk.revision;
      await handle.write(chunk.blob);
      bytes += chunk.blob.length;
    }
    if (bytes === 0) {
      throw new EtcdError('etcd.snapshot-failed', `snapshot from ${connection.endpoint} was empty`, {
        endpoint: connection.endpoint,
      });
    }
    await handle.sync();
    await handle.close();
    await rename(partial, target);
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(partial, { force: true });
    if (err instanceof EtcdError) throw err;
    throw new EtcdError('etcd.snapshot-failed', `writing the etcd snapshot to ${target} failed: ${String(err)}`, {
      endpoint: connection.endpoint,
      cause: err,
    });
  }
  return { file: target, bytes, endpoint: connection.endpoint, ...(revision ? { revision } : {}) };
}
