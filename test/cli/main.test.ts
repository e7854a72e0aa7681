import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.ts';
import { io } from './fake-io.ts';

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

  it('reads a YAML config file and reports its problems naming the key in the file', async () => {
    const file = path.join(tmpdir(), `kubeswap-test-${process.pid}.yaml`);
    writeFileSync(file, 'to: v1.37.2\nmaxSurge: 7\nprovider: { launchTemplate: lt-1 }\n');
    const t = io();
    assert.equal(await main(['plan', '--config', file], t), 2);
    assert.match(t.err.join(''), /maxSurge must be 0 or 1, got 7 \(in .*kubeswap-test-\d+\.yaml\)/);
  });

  it('refuses a config file that is not YAML', async () => {
    const file = path.join(tmpdir(), `kubeswap-test-bad-${process.pid}.yaml`);
    writeFileSync(file, 'to: [unclosed\n');
    const t = io();
    assert.equal(await main(['plan', '--config', file], t), 2);
    assert.match(t.err.join(''), /config file/);
  });
  it('prints its version with --version', async () => {
    const t = io();
    assert.equal(await main(['--version'], t), 0);
    assert.match(t.out.join(''), /^\d+\.\d+\.\d+\n$/);
  });

  it('groups the flags in help and shows examples', async () => {
    const t = io();
    assert.equal(await main(['apply', '--help'], t), 0);
    const help = t.out.join('');
    for (const group of ['Target:', 'Safety:', 'etcd access:', 'Provider:', 'Render mode', 'Output:'])
      assert.ok(help.includes(group), group);
    assert.match(help, /--drain-timeout .*\[default: 10m\]/);
  });

  it('prints a shell completion script', async () => {
    const t = io();
    assert.equal(await main(['completion'], t), 0);
    assert.match(t.out.join(''), /kubeswap-completions/);
  });

  it('prints the config file JSON Schema', async () => {
    const t = io();
    assert.equal(await main(['config', 'schema'], t), 0);
    const schema = JSON.parse(t.out.join(''));
    assert.equal(schema.additionalProperties, false);
  });

  it('suggests the nearest flag for a mistyped one', async () => {
    const t = io();
    assert.equal(await main(['apply', '--drain-timout', '5m'], t), 2);
    assert.match(t.err.join(''), /Unknown argument: --drain-timout \(did you mean --drain-timeout\?\)/);
  });

  it('lets status run with KUBESWAP_* variables meant for apply', async () => {
    const t = io();
    t.env = { KUBESWAP_YES: 'true', KUBESWAP_CERTIFICATE_KEY: 'not-checked-here' };
    assert.equal(await main(['status', '--kubeconfig', '/nonexistent'], t), 2);
    const text = t.err.join('');
    assert.doesNotMatch(text, /Unknown argument/);
    assert.match(text, /--kubeconfig \/nonexistent does not exist/);
  });

  it('takes -o as --output and reads settings from KUBESWAP_* through io.env', async () => {
    const t = io();
    t.env = { KUBESWAP_MACHINE_TIMEOUT: '0' };
    assert.equal(await main(['plan', '-o', 'json', '--to', 'v1.37.2', '--launch-template', 'lt-1'], t), 2);
    const event = JSON.parse(t.out.join('').trim());
    assert.deepEqual(
      event.data.problems.map((p: { message: string }) => p.message),
      ['KUBESWAP_MACHINE_TIMEOUT must be more than 0, got 0'],
    );
  });

  it('status against a cluster that does not answer: exit 2 naming the server, no stack trace', async () => {
    // A port that was just free: nothing listens there (fetch refuses "bad ports" like 9 before connecting).
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const file = path.join(tmpdir(), `kubeswap-test-unreachable-${process.pid}.kubeconfig`);
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
        'users: [{name: u, user: {token: not-a-secret}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    try {
      const t = io();
      assert.equal(await main(['status', '--kubeconfig', file], t), 2);
      const text = t.err.join('');
      assert.match(text, new RegExp(`cannot reach https://127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(text, /\n\s+at /, 'no stack trace');
    } finally {
      rmSync(file, { force: true });
    }
  });
});
