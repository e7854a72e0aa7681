// Every rendered JoinConfiguration must pass `kubeadm config validate` of the kubeadm that will read it: the
// target version's binary (integration/components builds them into the cache). The v1beta3 case targets 1.30,
// which the cache does not hold; the FROM kubeadm (1.36, the last minor that still reads v1beta3) validates it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { cases } from '../test/templates/cases.ts';
import { kubernetesBinary, readVersions } from './sandbox/binaries.ts';

const run = promisify(execFile);
const { from: FROM, to: TO } = readVersions();

function kubeadmBinary(version: string): string | undefined {
  const path = kubernetesBinary(version, 'kubeadm');
  return existsSync(path) ? path : undefined;
}

/** The kubeadm that reads a case's file: the target's own, or FROM for targets the cache does not build. */
function validatorFor(version: string): { version: string; path?: string } {
  const own = version === FROM || version === TO ? version : FROM;
  return { version: own, path: kubeadmBinary(own) };
}

function joinFile(userData: string, dir: string, name: string): string {
  const doc = parse(userData, { version: '1.1' });
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, doc.write_files[0].content, { mode: 0o600 });
  return file;
}

describe('rendered JoinConfigurations pass kubeadm config validate of the target version', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubeswap-validate-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const c of cases) {
    const validator = validatorFor(c.kubernetesVersion);
    it(`${c.snapshot}: kubeadm ${validator.version} accepts it`, async function () {
      if (!validator.path) {
        console.warn(
          `    kubeadm ${validator.version} not built (bash integration/components/build.sh kubernetes ${validator.version} kubeadm): skipping`,
        );
        this.skip();
      }
      const file = joinFile(c.render(), dir, c.snapshot);
      const { stdout } = await run(validator.path!, ['config', 'validate', '--config', file]);
      assert.match(stdout, /^ok$/m);
    });
  }

  it(`kubeadm ${TO} refuses v1beta3, so the API version must follow the target`, async function () {
    const kubeadm = kubeadmBinary(TO);
    if (!kubeadm) {
      console.warn(`    kubeadm ${TO} not built: skipping`);
      this.skip();
    }
    const v1beta3 = cases.find((c) => c.render().includes('kubeadm.k8s.io/v1beta3'))!;
    const file = joinFile(v1beta3.render(), dir, 'v1beta3-for-to');
    await assert.rejects(run(kubeadm!, ['config', 'validate', '--config', file]), (err: { stderr?: string }) => {
      assert.match(err.stderr ?? '', /old API spec: "kubeadm.k8s.io\/v1beta3"/);
      return true;
    });
  });
});
