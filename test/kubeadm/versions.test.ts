import assert from 'node:assert/strict';
import {
  assessUpgrade,
  type KubeletVersionReport,
  minorOf,
  normalizeVersion,
  parseTargetVersion,
  upgradeKind,
  validateUpgrade,
} from '../../src/domain/kubeadm/versions.ts';

describe('Kubernetes versions', () => {
  const normalized = [
    ['v1.31.2', 'v1.31.2'],
    ['1.31.2', 'v1.31.2'],
    ['v1.31.2-eks-1234abc', 'v1.31.2'],
    ['v1.31.2+k3s1', 'v1.31.2'],
    ['v1.31', 'v1.31.0'],
    ['not-a-version', 'not-a-version'],
  ] as const;
  for (const [input, expected] of normalized) {
    it(`normalizes ${input} to ${expected}`, () => assert.equal(normalizeVersion(input), expected));
  }

  it('reads the minor as kubeadm names versioned objects', () => assert.equal(minorOf('v1.23.17'), '1.23'));

  it('accepts only full versions as a target', () => {
    assert.equal(parseTargetVersion('v1.37.2')?.text, 'v1.37.2');
    assert.equal(parseTargetVersion('v1.38.0-rc.1')?.text, 'v1.38.0-rc.1');
    assert.equal(parseTargetVersion('v1.37'), undefined);
    assert.equal(parseTargetVersion('latest'), undefined);
  });

  const kinds = [
    ['v1.36.3', 'v1.37.2', 'minor-upgrade'],
    ['v1.36.3', 'v1.36.5', 'patch-upgrade'],
    ['v1.36.3', 'v1.36.3', 'same'],
    ['v1.36.3', 'v1.36.1', 'patch-downgrade'],
    ['v1.36.3', 'v1.35.9', 'minor-downgrade'],
    ['v1.35.3', 'v1.37.2', 'skips-minor'],
  ] as const;
  for (const [from, to, kind] of kinds) {
    it(`calls ${from} -> ${to} a ${kind}`, () => {
      assert.equal(upgradeKind(parseTargetVersion(from)!, parseTargetVersion(to)!), kind);
    });
  }
});

describe('upgrade validation', () => {
  const cp = (version: string, node = 'cp-a'): KubeletVersionReport => ({ node, version, controlPlane: true });
  const worker = (version: string, node = 'w-1'): KubeletVersionReport => ({ node, version });
  const cases: Array<{
    name: string;
    from: string;
    to: string;
    kubelets: KubeletVersionReport[];
    codes: string[];
    allowPatchDowngrade?: boolean;
  }> = [
    {
      name: 'accepts one minor up',
      from: 'v1.36.3',
      to: 'v1.37.2',
      kubelets: [cp('v1.36.3'), worker('v1.34.1')],
      codes: [],
    },
    { name: 'accepts a patch upgrade', from: 'v1.36.3', to: 'v1.36.5', kubelets: [cp('v1.36.3')], codes: [] },
    {
      name: 'accepts an EKS-style kubelet version',
      from: 'v1.36.3',
      to: 'v1.37.2',
      kubelets: [worker('v1.36.1-eks-1234abc')],
      codes: [],
    },
    {
      name: 'refuses a target that is not a version',
      from: 'v1.36.3',
      to: 'v1.37',
      kubelets: [],
      codes: ['version.invalid'],
    },
    {
      name: 'refuses an unreadable cluster version',
      from: 'garbage',
      to: 'v1.37.2',
      kubelets: [],
      codes: ['version.cluster-unreadable'],
    },
    {
      name: 'refuses skipping a minor',
      from: 'v1.35.3',
      to: 'v1.37.2',
      kubelets: [cp('v1.35.3')],
      codes: ['version.skips-minor', 'version.control-plane-skips-minor'],
    },
    {
      name: 'refuses a minor downgrade',
      from: 'v1.37.2',
      to: 'v1.36.3',
      kubelets: [],
      codes: ['version.minor-downgrade'],
    },
    {
      name: 'refuses an implicit patch downgrade',
      from: 'v1.36.3',
      to: 'v1.36.1',
      kubelets: [],
      codes: ['version.patch-downgrade'],
    },
    {
      name: 'accepts an explicit patch downgrade',
      from: 'v1.36.3',
      to: 'v1.36.1',
      kubelets: [],
      codes: [],
      allowPatchDowngrade: true,
    },
    { name: 'refuses a major change', from: 'v1.36.3', to: 'v2.0.0', kubelets: [], codes: ['version.major-change'] },
    {
      name: 'accepts a kubelet 3 minors behind the target (>= 1.25)',
      from: 'v1.36.3',
      to: 'v1.37.2',
      kubelets: [worker('v1.34.0')],
      codes: [],
    },
    {
      name: 'refuses a kubelet 4 minors behind the target',
      from: 'v1.36.3',
      to: 'v1.37.2',
      kubelets: [worker('v1.33.9')],
      codes: ['kubelet.too-old'],
    },
    {
      name: 'refuses a kubelet older than 1.25 three minors behind',
      from: 'v1.26.5',
      to: 'v1.27.3',
      kubelets: [worker('v1.24.17')],
      codes: ['kubelet.too-old'],
    },
    {
      name: 'accepts a kubelet older than 1.25 two minors behind',
      from: 'v1.25.5',
      to: 'v1.26.3',
      kubelets: [worker('v1.24.17')],
      codes: [],
    },
    {
      name: 'accepts a kubelet 1.25 three minors behind',
      from: 'v1.27.5',
      to: 'v1.28.3',
      kubelets: [worker('v1.25.16')],
      codes: [],
    },
    {
      name: 'refuses a kubelet newer than the target',
      from: 'v1.36.3',
      to: 'v1.37.2',
      kubelets: [worker('v1.38.0')],
      codes: ['kubelet.newer-than-target'],
    },
    {
      name: 'refuses an unreadable kubelet version',
      from: 'v1.36.3',
      to: 'v1.37.2',
      kubelets: [worker('unknown')],
      codes: ['kubelet.version-unreadable'],
    },
    {
      name: 'collects every problem instead of stopping at the first',
      from: 'v1.34.1',
      to: 'v1.36.0',
      kubelets: [worker('v1.31.0', 'w-old'), worker('v1.37.0', 'w-new'), worker('?', 'w-odd')],
      codes: ['kubelet.version-unreadable', 'version.skips-minor', 'kubelet.too-old', 'kubelet.newer-than-target'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const problems = validateUpgrade({
        from: c.from,
        to: c.to,
        kubelets: c.kubelets,
        allowPatchDowngrade: c.allowPatchDowngrade,
      });
      assert.deepEqual(
        problems.map((p) => p.code),
        c.codes,
      );
    });
  }

  it('names the offending nodes in the problem', () => {
    const [problem] = validateUpgrade({ from: 'v1.36.3', to: 'v1.37.2', kubelets: [worker('v1.32.0', 'w-7')] });
    assert.match(problem!.message, /w-7 \(v1\.32\.0\)/);
  });

  const atTarget = [
    {
      name: 'is at target when kubeadm-config and every control-plane kubelet run it',
      kubelets: [cp('v1.37.2'), worker('v1.36.0')],
      imageChange: false,
      atTarget: true,
      nothingToDo: true,
    },
    {
      name: 'is not at target while a control-plane kubelet still runs the old version (resumed run)',
      kubelets: [cp('v1.37.2'), cp('v1.36.3', 'cp-b')],
      imageChange: false,
      atTarget: false,
      nothingToDo: false,
    },
    {
      name: 'still has work at target when the image changes',
      kubelets: [cp('v1.37.2')],
      imageChange: true,
      atTarget: true,
      nothingToDo: false,
    },
  ];
  for (const c of atTarget) {
    it(c.name, () => {
      const assessment = assessUpgrade({
        from: 'v1.37.2',
        to: 'v1.37.2',
        kubelets: c.kubelets,
        imageChange: c.imageChange,
      });
      assert.equal(assessment.atTarget, c.atTarget);
      assert.equal(assessment.nothingToDo, c.nothingToDo);
      assert.deepEqual(assessment.problems, []);
    });
  }
});
