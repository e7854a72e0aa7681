// kubeswap converts a v1beta3 kubeadm-config for a target kubeadm that no longer reads it (1.37). The conversion
// must be kubeadm's own: for each fixture, the FROM kubeadm's `kubeadm config migrate` (1.36, the last minor that
// reads both) and kubeswap's result are the same configuration, and the TO kubeadm's `config validate` accepts ours.
// "The same" is judged after kubeadm's defaulting: migrate of our v1beta4 equals migrate of the v1beta3 original,
// and every value we write equals migrate's.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { apiVersionNeed, migrateClusterConfiguration } from '../src/domain/kubeadm/api-migration.ts';
import { bumpKubernetesVersion } from '../src/domain/kubeadm/cluster-config.ts';
import { parseTargetVersion } from '../src/domain/kubeadm/versions.ts';
import { kubernetesBinary, readVersions } from './sandbox/binaries.ts';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const { from: FROM, to: TO } = readVersions();
const kubeadm = (version: string) => kubernetesBinary(version, 'kubeadm');
const fixtures = join(repoRoot, 'test/kubeadm/fixtures/v1beta3');

type Docs = Record<string, Record<string, unknown>>;

/** `kubeadm config migrate` output by kind (it adds an InitConfiguration to a lone ClusterConfiguration). */
async function migrate(binary: string, file: string): Promise<Docs> {
  const { stdout } = await run(binary, ['config', 'migrate', '--old-config', file]);
  const docs: Docs = {};
  for (const doc of parseAllDocuments(stdout)) {
    const value = doc.toJS() as Record<string, unknown>;
    docs[String(value['kind'])] = value;
  }
  return docs;
}

/** Go's zero values, which kubeadm's marshalling leaves out (omitempty): absent means the same. */
const isZero = (v: unknown) =>
  v === false || v === '' || v === 0 || (typeof v === 'object' && v !== null && Object.keys(v).length === 0);

/** Every value in `part` is in `whole` at the same place, element by element in lists. */
function assertContained(part: unknown, whole: unknown, path: string): void {
  if (whole === undefined && isZero(part)) return;
  if (Array.isArray(part)) {
    assert.ok(Array.isArray(whole) && whole.length === part.length, `${path}: another list in kubeadm's output`);
    for (const [i, item] of part.entries()) assertContained(item, whole[i], `${path}[${i}]`);
    return;
  }
  if (part && typeof part === 'object') {
    assert.ok(whole && typeof whole === 'object', `${path}: missing in kubeadm's output`);
    for (const [key, value] of Object.entries(part))
      assertContained(value, (whole as Record<string, unknown>)[key], `${path}.${key}`);
    return;
  }
  assert.deepEqual(part, whole, `${path} differs from kubeadm config migrate`);
}

describe('kubeadm-config conversion v1beta3 -> v1beta4 equals kubeadm config migrate', function () {
  this.timeout(120_000);
  let dir: string;
  before(function () {
    for (const v of [FROM, TO]) {
      if (!existsSync(kubeadm(v))) {
        console.warn(`    kubeadm ${v} not built (bash integration/components/build.sh kubernetes ${v} kubeadm)`);
        this.skip();
      }
    }
    dir = mkdtempSync(join(tmpdir(), 'kubeswap-migrate-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it(`the real kubeadm ${TO} refuses v1beta3 and ${FROM} reads it, as kubeswap's table says`, async () => {
    const file = join(fixtures, 'minimal.yaml.txt');
    await run(kubeadm(FROM), ['config', 'validate', '--config', file]);
    await assert.rejects(run(kubeadm(TO), ['config', 'validate', '--config', file]), /old API spec/);
    const need = apiVersionNeed('kubeadm.k8s.io/v1beta3', parseTargetVersion(TO)!);
    assert.equal(need.kind, 'migrate');
    assert.equal(apiVersionNeed('kubeadm.k8s.io/v1beta3', parseTargetVersion(FROM)!).kind, 'keep');
  });

  for (const name of readdirSync(fixtures).filter((f) => f.endsWith('.yaml.txt'))) {
    it(`${name}: same configuration as kubeadm ${FROM}'s migrate, accepted by kubeadm ${TO}`, async () => {
      const original = join(fixtures, name);
      const migrated = migrateClusterConfiguration(readFileSync(original, 'utf8'), 'kubeadm.k8s.io/v1beta4');
      const ours = join(dir, `ours-${name}.yaml`);
      writeFileSync(ours, migrated.text);

      const theirs = await migrate(kubeadm(FROM), original);
      const oursDefaulted = await migrate(kubeadm(FROM), ours);
      assert.deepEqual(oursDefaulted['ClusterConfiguration'], theirs['ClusterConfiguration']);
      const oursParsed = parseAllDocuments(migrated.text)[0]!.toJS();
      assertContained(oursParsed, theirs['ClusterConfiguration'], 'ClusterConfiguration');
      // What v1beta4 keeps outside ClusterConfiguration is where kubeadm puts it, with the same value.
      for (const moved of migrated.moved) {
        const timeouts = theirs['InitConfiguration']?.['timeouts'] as Record<string, string>;
        assert.equal(timeouts['controlPlaneComponentHealthCheck'], moved.value);
      }

      // As kubeswap leaves it for the upgrade: kubernetesVersion bumped to the target, then converted.
      const forTarget = join(dir, `target-${name}.yaml`);
      const bumped = bumpKubernetesVersion(readFileSync(original, 'utf8'), TO).text;
      writeFileSync(forTarget, migrateClusterConfiguration(bumped, 'kubeadm.k8s.io/v1beta4').text);
      const { stdout } = await run(kubeadm(TO), ['config', 'validate', '--config', forTarget]);
      assert.match(stdout, /^ok$/m);
    });
  }
});
