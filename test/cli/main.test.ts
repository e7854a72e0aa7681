import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Io } from '../../src/cli/io.ts';
import { main } from '../../src/cli/main.ts';

function io(): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (t) => void out.push(t), isTTY: false },
    stderr: { write: (t) => void err.push(t), isTTY: false },
    stdinIsTTY: false,
    env: {},
  };
}

describe('kubeswap command line', () => {
  after(() => {
    for (const name of ['kubeswap-test', 'kubeswap-test-bad'])
      rmSync(path.join(tmpdir(), `${name}-${process.pid}.yaml`), { force: true });
  });

  it('prints help and exits 0', async () => {
    const t = io();
    assert.equal(await main(['--help'], t), 0);
    assert.match(t.out.join(''), /plan.*apply.*status.*unlock/s);
  });

  it('refuses an unknown command or flag with exit 2', async () => {
    const t = io();
    assert.equal(await main(['apply', '--bogus'], t), 2);
    assert.match(t.err.join(''), /Unknown argument/);
  });

  it('refuses a malformed version before contacting anything, exit 2', async () => {
    const t = io();
    assert.equal(
      await main(['plan', '--to', 'latest', '--launch-template', 'lt-1', '--kubeconfig', '/nonexistent'], t),
      2,
    );
    const text = t.err.join('');
    assert.match(text, /--to latest is not a Kubernetes version/);
    assert.match(text, /--kubeconfig \/nonexistent does not exist/);
  });

  it('emits a JSON failure event with a stable code under --output json', async () => {
    const t = io();
    assert.equal(await main(['apply', '--to', 'v1.37', '--output', 'json'], t), 2);
    const event = JSON.parse(t.out.join('').trim());
    assert.equal(event.code, 'run.failed');
    assert.equal(event.data.exitCode, 2);
    assert.ok(event.data.problems.some((p: { code: string }) => p.code === 'input.version'));
  });

  it('reads a YAML config file and reports its problems with the flags', async () => {
    const file = path.join(tmpdir(), `kubeswap-test-${process.pid}.yaml`);
    writeFileSync(file, 'to: v1.37.2\nmaxSurge: 7\nprovider: { launchTemplate: lt-1 }\n');
    const t = io();
    assert.equal(await main(['plan', '--config', file], t), 2);
    assert.match(t.err.join(''), /--max-surge must be 0 or 1/);
  });

  it('refuses a config file that is not YAML', async () => {
    const file = path.join(tmpdir(), `kubeswap-test-bad-${process.pid}.yaml`);
    writeFileSync(file, 'to: [unclosed\n');
    const t = io();
    assert.equal(await main(['plan', '--config', file], t), 2);
    assert.match(t.err.join(''), /config file/);
  });
});
