import assert from 'node:assert/strict';
import { createExecProvider } from '../../../providers/exec/index.ts';
import { parseOptions } from '../../../providers/exec/options.ts';
import { loadProvider } from '../../../providers/index.ts';
import type { Desired, Machine } from '../../../src/domain/model.ts';
import { type FakeMachine, type FakeState, fakeCommand } from './fake-command.ts';

const OLD: FakeMachine = {
  id: 'vm-old',
  providerId: 'fake://zone-a/vm-old',
  phase: 'running',
  imageId: 'img-v1.36.4',
  zone: 'zone-a',
  launchedAt: '2025-06-01T00:00:00Z',
};
const DESIRED: Desired = { version: 'v1.37.2', imageId: 'img-v1.37.2', force: false };

function setup(initial: Partial<FakeState> = { machines: [OLD] }, settings: Record<string, unknown> = {}, mode = '') {
  const fake = fakeCommand(initial);
  const options = parseOptions(
    { name: 'exec', command: fake.command, env: { ...fake.env, FAKE_MODE: mode }, ...settings },
    10,
  );
  return { fake, provider: createExecProvider(options, { PATH: process.env['PATH'] }) };
}

const rejectsWith = (promise: Promise<unknown>, code: string, pattern: RegExp) =>
  assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });

describe('exec provider', () => {
  describe('list', () => {
    it('maps the machines the command lists and links Nodes by the providerIds it returned', async () => {
      const newer = { ...OLD, id: 'vm-2', providerId: 'fake://zone-b/vm-2', launchedAt: '2026-01-01T00:00:00Z' };
      const { fake, provider } = setup({ machines: [newer, OLD] });
      const machines = await provider.listMachines('control-plane', [OLD.providerId]);
      assert.deepEqual(
        machines.map((m) => [m.id, m.pool, m.phase, m.status, m.launchedAt.toISOString()]),
        [
          ['vm-old', 'control-plane', 'running', 'running', '2025-06-01T00:00:00.000Z'],
          ['vm-2', 'control-plane', 'running', 'running', '2026-01-01T00:00:00.000Z'],
        ],
      );
      assert.deepEqual(fake.state().calls[0], {
        verb: 'list',
        input: { protocol: 1, verb: 'list', pool: 'control-plane', providerIds: [OLD.providerId] },
      });
      assert.equal(provider.machineIdOf(OLD.providerId), 'vm-old');
      assert.equal(provider.machineIdOf('aws:///us-east-1a/i-0123'), undefined);
    });

    it('links by providerIdPattern when one is configured', () => {
      const { provider } = setup(undefined, { providerIdPattern: '^fake://[^/]+/(vm-[a-z0-9]+)$' });
      assert.equal(provider.machineIdOf('fake://zone-c/vm-9'), 'vm-9');
      assert.equal(provider.machineIdOf('aws:///us-east-1a/i-0123'), undefined);
    });

    it('names every bad field of an invalid answer', async () => {
      const { provider } = setup(undefined, {}, 'bad-machine');
      await rejectsWith(
        provider.listMachines('control-plane', []),
        'response.invalid',
        /answer to list is invalid: machines\[0\]\.phase "up" is not one of provisioning, .*; machines\[0\]\.imageId must be a non-empty string, got 5/,
      );
    });

    it('reports the command printing something other than JSON', async () => {
      const { provider } = setup(undefined, {}, 'not-json');
      await rejectsWith(
        provider.listMachines('control-plane', []),
        'response.invalid',
        /printed no JSON object on stdout \(got: created it!\)/,
      );
    });
  });

  describe('failures of the command', () => {
    it('fails with its trimmed stderr and exit code', async () => {
      const { provider } = setup(undefined, {}, 'fail');
      await rejectsWith(
        provider.listMachines('control-plane', []),
        'command.failed',
        /machines\.cjs list failed \(exit 3\): terraform: no credentials$/,
      );
    });

    it('keeps the code of an error the command reported as JSON (the engine rolls back on no capacity)', async () => {
      const { provider } = setup(undefined, {}, 'no-capacity');
      const machine = (await setup().provider.listMachines('control-plane', []))[0]!;
      await assert.rejects(
        provider.createReplacement({
          pool: 'control-plane',
          replaces: machine,
          runId: 'r1',
          token: 't1',
          desired: DESIRED,
        }),
        {
          code: 'capacity.insufficient',
          message: /create failed: no m5\.large in eu-west-1a/,
          hint: 'try another type',
        },
      );
    });

    it('kills a command that outlives the timeout', async () => {
      const { provider } = setup(undefined, { timeout: '300ms' }, 'hang');
      const started = Date.now();
      await rejectsWith(provider.listMachines('control-plane', []), 'command.timeout', /did not finish within 300 ms/);
      assert.ok(Date.now() - started < 5_000);
    });

    it('says when the command cannot be started', async () => {
      const provider = createExecProvider(parseOptions({ command: '/nonexistent/machines' }, 10));
      await rejectsWith(provider.listMachines('control-plane', []), 'command.not-started', /ENOENT/);
    });

    it('never puts the bootstrap token of render-mode user data into an error', async () => {
      const { provider } = setup(undefined, {}, 'echo-stdin');
      const userData =
        '#cloud-config\nruncmd:\n- kubeadm join lb:6443 --token abcdef.0123456789abcdef --control-plane\n';
      const replaces: Machine = {
        ...OLD,
        phase: 'running',
        pool: 'control-plane',
        status: 'running',
        zone: 'zone-a',
        launchedAt: new Date(0),
      };
      await assert.rejects(
        provider.createReplacement({
          pool: 'control-plane',
          replaces,
          runId: 'r1',
          token: 't1',
          desired: DESIRED,
          userData,
        }),
        (err: Error) => {
          assert.doesNotMatch(err.message, /abcdef\.0123456789abcdef|kubeadm join/);
          assert.match(err.message, /<redacted>/);
          return true;
        },
      );
    });
  });

  describe('create', () => {
    it('sends the token, the machine replaced and the desired image; a second call finds, never duplicates', async () => {
      const { fake, provider } = setup();
      const [old] = await provider.listMachines('control-plane', [OLD.providerId]);
      const request = {
        pool: 'control-plane',
        replaces: old!,
        runId: 'run-1',
        token: 'run-1-vm-old-1',
        desired: DESIRED,
        tags: { 'kubeswap.io/attempt': '1' },
      };
      const first = await provider.createReplacement(request);
      const again = await provider.createReplacement(request);
      assert.equal(again.id, first.id);
      assert.deepEqual(
        [first.phase, first.imageId, first.zone, first.replaces],
        ['provisioning', 'img-v1.37.2', 'zone-a', 'vm-old'],
      );
      assert.equal(fake.state().machines.length, 2);
      assert.equal(provider.machineIdOf(first.providerId), first.id);
      const sent = fake.state().calls.find((c) => c.verb === 'create')!.input;
      assert.deepEqual(sent['replaces'], {
        id: 'vm-old',
        providerId: OLD.providerId,
        pool: 'control-plane',
        phase: 'running',
        status: 'running',
        zone: 'zone-a',
        imageId: 'img-v1.36.4',
        launchedAt: '2025-06-01T00:00:00.000Z',
      });
      assert.deepEqual(
        [sent['token'], sent['runId'], sent['desired'], sent['tags']],
        ['run-1-vm-old-1', 'run-1', DESIRED, { 'kubeswap.io/attempt': '1' }],
      );
      assert.ok(!('userData' in sent), 'no user data outside render mode');
    });
  });

  describe('terminate', () => {
    it('deletes, then polls status until the machine is gone', async () => {
      const { fake, provider } = setup();
      await provider.terminate('vm-old', 5_000);
      assert.deepEqual(fake.verbs(), ['status', 'delete', 'status', 'status', 'status']);
      assert.equal(fake.state().machines[0]!.phase, 'gone');
    });

    it('succeeds without deleting when the machine is already gone or unknown', async () => {
      const { fake, provider } = setup({ machines: [{ ...OLD, phase: 'gone' }] });
      await provider.terminate('vm-old', 5_000);
      await provider.terminate('vm-unknown', 5_000);
      assert.deepEqual(fake.verbs(), ['status', 'status']);
    });

    it('lets the command in flight finish on an interrupt, then ends the wait with its reason', async () => {
      const { fake, provider } = setup();
      const interrupt = new AbortController();
      const reason = new Error('interrupted');
      const terminating = provider.terminate('vm-old', 60_000, { signal: interrupt.signal });
      // Ctrl-C while `status` runs: it finishes, and so does the `delete` the step was in; no `status` poll follows.
      setTimeout(() => interrupt.abort(reason), 0);
      await assert.rejects(terminating, (err) => err === reason);
      assert.deepEqual(fake.verbs(), ['status', 'delete']);
      assert.equal(fake.state().machines[0]!.phase, 'deleting');
    });

    it('gives up at the timeout when the machine stays', async () => {
      const { provider } = setup({ machines: [{ ...OLD, phase: 'failed' }] }, {});
      // `failed` never turns gone in the fake unless deleted; deleting takes two looks, more than 1 ms allows.
      await rejectsWith(provider.terminate('vm-old', 1), 'terminate.timeout', /vm-old was not gone within 1 ms/);
    });
  });

  describe('drift and checks', () => {
    const machine = (extra: Partial<FakeMachine>) =>
      setup({ machines: [{ ...OLD, ...extra }] }).provider.listMachines('control-plane', []);

    it('compares the image and adds the reasons the command reported', async () => {
      const { provider } = setup();
      const [m] = await machine({ drift: [{ code: 'instance-type', message: 'm5.large != m6i.large' }] });
      assert.deepEqual(provider.drift(m!, DESIRED), [
        { code: 'image', message: 'image img-v1.36.4 != img-v1.37.2' },
        { code: 'instance-type', message: 'm5.large != m6i.large' },
      ]);
      assert.deepEqual(provider.drift({ ...m!, imageId: DESIRED.imageId, reportedDrift: [] } as Machine, DESIRED), []);
    });

    it('passes on the problems the command reports for a machine', async () => {
      const { provider } = setup();
      const problem = {
        code: 'machine.not-managed',
        message: 'vm-old is not in the Terraform state',
        hint: 'import it',
      };
      const machines = await machine({ problems: [problem] });
      assert.deepEqual(provider.checkMachines(machines), [problem]);
    });
  });

  describe('resolveDesired', () => {
    it('asks the command, which may answer a template too', async () => {
      const { fake, provider } = setup();
      assert.deepEqual(await provider.resolveDesired({ version: 'v1.37.2' }), {
        desired: { version: 'v1.37.2', imageId: 'img-v1.37.2', template: { id: 'tpl', version: '7' }, force: false },
        problems: [],
      });
      assert.deepEqual((await provider.resolveDesired({ version: 'v9.9.9' })).problems, [
        { code: 'image.not-found', message: 'no image for v9.9.9' },
      ]);
      assert.deepEqual(fake.verbs(), ['resolve', 'resolve']);
    });

    it('passes the image facts the command answers on to the plan', async () => {
      const { provider } = setup();
      assert.deepEqual((await provider.resolveDesired({ version: 'v1.37.3' })).desired?.image, {
        name: 'cp-1.37.3',
        owner: 'build',
        createdAt: '2026-05-01T00:00:00Z',
      });
    });

    it('answers from provider.images without running the command', async () => {
      const { fake, provider } = setup(undefined, { images: { 'v1.37.2': 'img-b' } });
      assert.equal((await provider.resolveDesired({ version: 'v1.37.2' })).desired?.imageId, 'img-b');
      assert.equal((await provider.resolveDesired({ version: 'v1.37.2', imageId: 'img-c' })).desired?.imageId, 'img-c');
      assert.equal((await provider.resolveDesired({ version: 'v1.38.0' })).problems[0]?.code, 'image.not-found');
      assert.deepEqual(fake.verbs(), []);
    });
  });

  describe('load balancer', () => {
    it('is absent unless the configuration says the command manages one', () => {
      assert.equal(setup().provider.loadBalancer, undefined);
    });

    it('registers, lists, and deregisters waiting for draining to end', async () => {
      const { fake, provider } = setup({ machines: [OLD], targets: { 'vm-old': 'serving' } }, { loadBalancer: true });
      const lb = provider.loadBalancer!;
      await lb.register('vm-2');
      assert.deepEqual(await lb.targets(), [
        { machineId: 'vm-old', state: 'serving' },
        { machineId: 'vm-2', state: 'registering' },
      ]);
      await lb.deregister('vm-old', 5_000);
      assert.equal(fake.state().targets['vm-old'], 'absent');
      await lb.deregister('vm-never-registered', 5_000);
      assert.deepEqual(fake.verbs(), ['register', 'targets', 'targets', 'deregister', 'targets', 'targets', 'targets']);
    });
  });

  describe('load balancer, interrupted', () => {
    it('ends the wait for draining with the reason once the command in flight finished', async () => {
      const { fake, provider } = setup({ machines: [OLD], targets: { 'vm-old': 'serving' } }, { loadBalancer: true });
      const interrupt = new AbortController();
      const reason = new Error('interrupted');
      const deregistering = provider.loadBalancer!.deregister('vm-old', 60_000, { signal: interrupt.signal });
      setTimeout(() => interrupt.abort(reason), 0);
      await assert.rejects(deregistering, (err) => err === reason);
      assert.deepEqual(fake.verbs(), ['targets', 'deregister']);
      assert.equal(fake.state().targets['vm-old'], 'draining');
    });
  });

  describe('options', () => {
    it('reports every problem of the provider section at once', () => {
      assert.throws(
        () =>
          parseOptions(
            {
              timeout: 'soon',
              capabilities: { surge: 'yes', ownsLoadBalancer: true, teleport: true },
              loadBalancer: true,
              providerIdPattern: '^fake://.*$',
            },
            10,
          ),
        {
          code: 'options.invalid',
          message:
            /command is required.*; timeout soon is not a duration.*; capabilities.surge must be true or false; capabilities.teleport is not a capability.*; loadBalancer: true and capabilities.ownsLoadBalancer: true contradict.*; providerIdPattern must have exactly one capture group/,
        },
      );
    });

    it('defaults to surge, engine-driven load balancer, kubeswap-rendered bootstrap, tag idempotency', () => {
      const options = parseOptions({ command: '/opt/machines' }, 10);
      assert.deepEqual(options.command, ['/opt/machines']);
      assert.deepEqual(options.capabilities, {
        surge: true,
        ownsLoadBalancer: false,
        rendersBootstrap: false,
        acceptsUserData: true,
        idempotencyKey: 'tag',
      });
    });
  });

  it('loads through the registry with its contract checked', async () => {
    const fake = fakeCommand();
    const provider = await loadProvider('exec', {
      settings: { name: 'exec', command: fake.command },
      pollIntervalMs: 10,
      env: { ...process.env, ...fake.env },
    });
    assert.equal(provider.name, 'exec');
    assert.deepEqual(await provider.listMachines('control-plane', []), []);
  });
});
