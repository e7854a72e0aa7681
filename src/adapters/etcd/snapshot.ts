// Backup before the first swap. Like `etcdctl snapshot save`: stream Maintenance.Snapshot from one
// member into a temporary file next to the target, fsync, then rename, so a crash never leaves a
// half-written file under the final name.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { EndpointConnection } from './connection.ts';
import { EtcdError } from './errors.ts';

export interface SnapshotResult {
  file: string;
  bytes: number;
  /** Store revision when the server sends a header with the stream (etcd 3.6 does not). */
  revision?: string;
  endpoint: string;
}

const SHA256_SIZE = 32;

/**
 * etcd appends the SHA-256 of the database to the stream (v3rpc maintenance.go); etcdutl recognizes it
 * by `size % 512 == 32`. Checking it here catches a stream cut short that still ended cleanly.
 */
class ChecksumTrailer {
  private readonly hash = createHash('sha256');
  private tail = Buffer.alloc(0);

  add(chunk: Buffer): void {
    const joined = Buffer.concat([this.tail, chunk]);
    const keep = Math.min(SHA256_SIZE, joined.length);
    this.hash.update(joined.subarray(0, joined.length - keep));
    this.tail = joined.subarray(joined.length - keep);
  }

  /** True when the trailer matches, false when it does not, undefined when the stream carries none. */
  verify(totalBytes: number): boolean | undefined {
    if (totalBytes % 512 !== SHA256_SIZE) return undefined;
    return this.hash.digest().equals(this.tail);
  }
}

export async function saveSnapshot(
  connection: EndpointConnection,
  file: string,
  timeoutMs: number,
): Promise<SnapshotResult> {
  const target = path.resolve(file);
  // The snapshot holds every Secret of the cluster: a folder created here is the user's alone.
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  const partial = `${target}.part-${randomBytes(4).toString('hex')}`;
  const handle = await open(partial, 'wx', 0o600);
  const fail = (message: string, cause?: unknown) =>
    new EtcdError('etcd.snapshot-failed', message, { endpoint: connection.endpoint, cause });
  const checksum = new ChecksumTrailer();
  let bytes = 0;
  let revision: string | undefined;
  try {
    for await (const chunk of connection.snapshot(timeoutMs)) {
      revision ??= chunk.revision;
      await handle.write(chunk.blob);
      checksum.add(chunk.blob);
      bytes += chunk.blob.length;
    }
    if (bytes === 0) throw fail(`snapshot from ${connection.endpoint} was empty`);
    if (checksum.verify(bytes) === false) throw fail(`snapshot from ${connection.endpoint} failed its SHA-256 check`);
    await handle.sync();
    await handle.close();
    await rename(partial, target);
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(partial, { force: true });
    if (err instanceof EtcdError) throw err;
    throw fail(`writing the etcd snapshot to ${target} failed: ${String(err)}`, err);
  }
  return { file: target, bytes, endpoint: connection.endpoint, ...(revision ? { revision } : {}) };
}
