// The facts behind the addon phase, checked against the real thing (no sandbox needed):
// - image names: `kubeadm config images list --config` of both built kubeadms, for several ClusterConfigurations;
// - Corefile rules: the real corefile-migration library (the version kubeadm v1.37.2 vendors), built with Go,
//   answers the same questions kubeadm's upgrade preflight asks, for a table of Corefiles and CoreDNS versions.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { coreDnsVersionFor } from '../src/domain/addons/coredns-versions.ts';
import { checkCorefile } from '../src/domain/addons/corefile.ts';
import { coreDnsImage, kubeProxyImage, parseAddonImageConfig } from '../src/domain/addons/images.ts';
import { KUBEADM_COREFILE } from '../test/domain/addons/fixtures.ts';
import { kubernetesBinary, readVersions } from './sandbox/binaries.ts';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const { from: FROM, to: TO } = readVersions();

const CONFIGS = {
  default: '',
  'custom imageRepository': 'imageRepository: mirror.example.com:5000/k8s\n',
  'dns overrides':
    'imageRepository: mirror.example.com\ndns:\n  imageRepository: dns.example.com/team\n  imageTag: v9.9.9+custom\n',
  'dns.imageRepository at the default registry':
    'imageRepository: mirror.example.com\ndns:\n  imageRepository: registry.k8s.io\n',
};

describe('addon images match `kubeadm config images list` of the real kubeadm', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubeswap-addon-images-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const version of [FROM, TO]) {
    for (const [name, extra] of Object.entries(CONFIGS)) {
      it(`kubeadm ${version}, ${name}`, async function () {
        const kubeadm = kubernetesBinary(version, 'kubeadm');
        if (!existsSync(kubeadm)) this.skip();
        const text = `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: ${version}\n${extra}`;
        const file = join(dir, `${version}-${name.replace(/\W+/g, '-')}.yaml`);
        writeFileSync(file, text);
        const { stdout } = await run(kubeadm, ['config', 'images', 'list', '--config', file]);
        const listed = stdout.trim().split('\n');
        const config = parseAddonImageConfig(text);
        const proxy = kubeProxyImage(config, version);
        const dns = coreDnsImage(config, coreDnsVersionFor(version)!);
        assert.ok(listed.includes(proxy), `kube-proxy ${proxy} not in\n${stdout}`);
        assert.ok(listed.includes(dns), `CoreDNS ${dns} not in\n${stdout}`);
        assert.equal(listed.filter((i) => /kube-proxy|coredns/.test(i)).length, 2, stdout);
      });
    }
  }
});

interface OracleAnswer {
  notices: { plugin: string; option?: string; severity: string; version: string }[];
  error?: string;
  migrateError?: string;
}

const corefileCases: { name: string; from: string; to: string; corefile: string }[] = [
  { name: "kubeadm's default, 1.14.2 -> 1.14.6", from: '1.14.2', to: '1.14.6', corefile: KUBEADM_COREFILE },
  { name: "kubeadm's default, 1.9.4 -> 1.14.6", from: '1.9.4', to: '1.14.6', corefile: KUBEADM_COREFILE },
  { name: "kubeadm's default, 1.8.4 -> 1.14.6", from: '1.8.4', to: '1.14.6', corefile: KUBEADM_COREFILE },
  {
    name: 'proxy plugin',
    from: '1.14.2',
    to: '1.14.6',
    corefile: KUBEADM_COREFILE.replace('loop\n', 'loop\n    proxy . 8.8.8.8\n'),
  },
  {
    name: 'unknown kubernetes option',
    from: '1.13.1',
    to: '1.14.6',
    corefile: KUBEADM_COREFILE.replace('ttl 30', 'ttl 30\n       frobnicate yes'),
  },
  {
    name: 'ignored endpoint option',
    from: '1.12.0',
    to: '1.14.6',
    corefile: '.:53 {\n  kubernetes cluster.local {\n    endpoint https://a https://b\n  }\n}\n',
  },
  {
    name: 'forward fail_fast 1.11.3 -> 1.11.4',
    from: '1.11.3',
    to: '1.11.4',
    corefile: '.:53 {\n  forward . 1.1.1.1 {\n    fail_fast\n  }\n}\n',
  },
  {
    name: 'forward fail_fast 1.11.4 -> 1.12.0',
    from: '1.11.4',
    to: '1.12.0',
    corefile: '.:53 {\n  forward . 1.1.1.1 {\n    fail_fast\n  }\n}\n',
  },
  {
    name: 'hosts with IP entries, transfer, rewrite, k8s_external',
    from: '1.11.1',
    to: '1.14.6',
    corefile:
      'example.org {\n  hosts {\n    10.1.2.3 a.example\n    fd00::1:2 b.example\n    fallthrough\n  }\n  transfer example.org {\n    to *\n  }\n  rewrite name a.example b.example\n  k8s_external example.org {\n    fallthrough\n  }\n}\n',
  },
  {
    name: 'cache keepttl 1.9.4 -> 1.10.1',
    from: '1.9.4',
    to: '1.10.1',
    corefile: '.:53 {\n  cache 30 {\n    keepttl\n  }\n}\n',
  },
  { name: 'an unknown start version', from: '1.14.5', to: '1.14.6', corefile: KUBEADM_COREFILE },
  { name: 'a downgrade', from: '1.14.6', to: '1.14.2', corefile: KUBEADM_COREFILE },
];

describe('Corefile rules match the real corefile-migration library', function () {
  this.timeout(180_000);
  let answers: OracleAnswer[] = [];
  before(async function () {
    if (spawnSync('go', ['version']).status !== 0) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'kubeswap-corefile-oracle-'));
    try {
      const binary = join(dir, 'oracle');
      // A copy of go.mod outside the repo: -mod=mod writes its go.sum there, from the Go module cache or proxy.
      const source = join(repoRoot, 'integration/fixtures/corefile-oracle');
      writeFileSync(join(dir, 'go.mod'), readFileSync(join(source, 'go.mod')));
      await run('go', ['build', '-modfile', join(dir, 'go.mod'), '-o', binary, '.'], {
        cwd: source,
        env: { ...process.env, GOFLAGS: '-mod=mod' },
      });
      const child = spawnSync(binary, { input: JSON.stringify(corefileCases), encoding: 'utf8' });
      assert.equal(child.status, 0, child.stderr);
      answers = JSON.parse(child.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  corefileCases.forEach((c, i) => {
    it(c.name, () => {
      const real = answers[i]!;
      const ours = checkCorefile(c.from, c.to, c.corefile);
      if (real.error) {
        assert.equal(ours.migratable, false, `library: ${real.error}`);
        return;
      }
      // The same notices, each named once (the library repeats one per release; we keep the first).
      const seen = new Set<string>();
      const expected = real.notices.filter((n) => {
        const key = `${n.plugin}/${n.option ?? ''}/${n.severity}`;
        if (seen.has(key) || n.severity === 'newdefault') return false;
        seen.add(key);
        return true;
      });
      const sortKey = (n: { plugin: string; option?: string; severity: string }) =>
        `${n.plugin}/${n.option ?? ''}/${n.severity}`;
      assert.deepEqual(
        ours.notices.map((n) => ({ ...n, option: n.option })).sort((a, b) => sortKey(a).localeCompare(sortKey(b))),
        expected
          .map((n) => ({ ...n, option: n.option || undefined }))
          .sort((a, b) => sortKey(a).localeCompare(sortKey(b))),
      );
      // kubeadm: preflight refuses unsupported plugins and a failing Migrate; it rewrites the Corefile only for
      // removed or newdefault notices. "Migratable" for us means: nothing refused and nothing to rewrite.
      const refused = real.migrateError !== undefined || real.notices.some((n) => n.severity === 'unsupported');
      const rewritten = real.notices.some((n) => n.severity === 'removed' || n.severity === 'newdefault');
      assert.equal(ours.migratable, !refused && !rewritten, JSON.stringify(real));
    });
  });
});
