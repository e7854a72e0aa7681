// A tiny snapshot helper: compares rendered text to a committed file under __snapshots__/. A missing or changed
// snapshot fails; UPDATE_SNAPSHOTS=1 rewrites them (review the diff before committing).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export function snapshotPath(name: string): string {
  return fileURLToPath(new URL(`./__snapshots__/${name}`, import.meta.url));
}

export function matchSnapshot(name: string, actual: string): void {
  const file = snapshotPath(name);
  if (process.env.UPDATE_SNAPSHOTS === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  if (!existsSync(file)) assert.fail(`no snapshot ${name}: run with UPDATE_SNAPSHOTS=1 to write it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `snapshot ${name} differs: run with UPDATE_SNAPSHOTS=1 to accept`);
}
