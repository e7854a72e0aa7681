// The machine simulator against real components: joins from user data (refused and accepted), the load balancer
// following target registration, termination, and each fault injection.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import * as k8s from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { awsClients, registerImage, registerTargets } from './aws.ts';
import { clientUrl, clusterHealthy, etcdClient, type Member, membersWithin } from './etcd.ts';
import { type Sandbox, upSandbox } from './index.ts';
import { caPinOf, createBootstrapToken, kubeClients, renderJoinUserData } from './join-fixtures.ts';
import { storeAsV1beta3 } from './kubeadm.ts';
import { readyzProbe } from './load-balancer.ts';
import { retryingFor, sleep, waitFor } from './processes.ts';

/**
 * Bound of the waits for what the daemon does in reaction (status reports, LB health, restarts): generous, because
 * the suite runs sandboxes side by side on few cores; a wait still returns as soon as its condition holds.
 */
const SETTLE_MS = 90_000;

describe('sandbox machine simulator (real components)', function () {
  this.timeout(600_000);
  let sb: Sandbox;
  let core: k8s.CoreV1Api;
  let aws: ReturnType<typeof awsClients>;
  let joinUserData: string;

  // etcd calls retry within a bound: a member may be restarting (heal) or a busy machine slow to answer; the
  // client dials one of the listed endpoints, so one refused connection is not an answer.
  const members = (): Promise<Member[]> => membersWithin(() => sb.refresh().etcd.endpoints, sb.etcd, SETTLE_MS);
  const removeMember = (id: string) =>
    retryingFor(async () => {
      const client = etcdClient(sb.refresh().etcd.endpoints, sb.etcd);
      try {
        await client.cluster.memberRemove({ ID: id });
      } catch (err) {
        // An earlier attempt removed it and only its answer was lost.
        if (!/member not found/.test((err as Error).message)) throw err;
      } finally {
        client.close();
      }
    }, SETTLE_MS);
  const launch = async (version: string, userData?: string, imageId = sb.aws.images[version]): Promise<string> => {
    const out = await aws.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: sb.aws.launchTemplateId, Version: '$Latest' },
        ImageId: imageId,
        SubnetId: sb.aws.subnetIds[1],
        UserData: userData ? Buffer.from(userData).toString('base64') : undefined,
      }),
    );
    return out.Instances![0]!.InstanceId!;
  };
  const terminate = (id: string) => aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  /** Terminate the instance and remove whatever etcd member it left, so the next test starts from N healthy voters. */
  const discard = async (id: string) => {
    const machine = (await sb.status()).machines.find((m) => m.instanceId === id);
    await terminate(id);
    await sb.waitForMachine(id, ['terminated']);
    const leftover = (await members()).find((m) => m.id === machine?.etcdMemberId && machine.etcdMemberId !== '');
    if (leftover) await removeMember(leftover.id);
  };
  const daemonLog = () => readFileSync(join(sb.stateDir, 'logs/daemon.log'), 'utf8');
  const nodeReady = async (name: string) => {
    const node = await core.readNode({ name });
    return node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  };
  /** The real condition behind "healthy voters": `n` started voting members, each answering, one leader they agree on. */
  const votersHealthy = async (n: number) => {
    const voters = (await members()).filter((m) => !m.isLearner && m.name !== '');
    if (voters.length !== n) return undefined;
    return (await clusterHealthy(
      voters.flatMap((m) => m.clientUrls),
      sb.etcd,
    ))
      ? true
      : undefined;
  };
  /** Whether the member on this client port answers a status call on its own (not through another endpoint). */
  const memberAnswers = async (port: number) => {
    const client = etcdClient([clientUrl(port)], sb.etcd, 3000);
    try {
      await client.maintenance.status();
      return true;
    } catch {
      return false;
    } finally {
      client.close();
    }
  };
  const podReady = async (name: string) => {
    const pod = await core.readNamespacedPod({ name, namespace: 'kube-system' });
    return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  };

  before(async () => {
    sb = await upSandbox({ controlPlanes: 3, bootDelaySeconds: 1, ownerPid: process.pid });
    core = kubeClients(sb.kubeconfig).core;
    aws = awsClients(sb.aws.endpoint);
    const token = await createBootstrapToken(core, 3600);
    joinUserData = renderJoinUserData({
      apiServerEndpoint: new URL(sb.apiServer).host,
      token,
      caCertHash: caPinOf(sb.kubeconfig),
    });
  });
  // A failure on a loaded machine is only explained by what the daemon saw meanwhile.
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && sb) {
      console.log(`--- daemon.log (last 60 lines)\n${daemonLog().split('\n').slice(-60).join('\n')}`);
    }
  });
  after(async () => {
    await sb?.down();
  });

  it('refuses a TO machine while kubeadm-config kubernetesVersion is still FROM (kubelet newer than control plane)', async () => {
    const id = await launch(sb.versions.to, joinUserData);
    const machine = await sb.waitForMachine(id, ['refused', 'running', 'failed']);
    assert.equal(machine.state, 'refused');
    assert.match(machine.detail, /higher than the control plane version/);
    await assert.rejects(
      core.readNode({ name: machine.node }),
      (e: unknown) => (e as k8s.ApiException<unknown>).code === 404,
    );
    await discard(id);
  });

  it('refuses user data whose CA pin does not match', async () => {
    const bad = joinUserData.replace(/sha256:[0-9a-f]{64}/, `sha256:${'0'.repeat(64)}`);
    const id = await launch(sb.versions.from, bad);
    const machine = await sb.waitForMachine(id, ['refused', 'running', 'failed']);
    assert.match(machine.detail, /CA cert hashes/);
    await discard(id);
  });

  describe('after kubernetesVersion is bumped to TO', () => {
    let joined: string;
    let node: string;

    before(async () => {
      const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
      const config = parse(cm.data!['ClusterConfiguration']!);
      config.kubernetesVersion = sb.versions.to;
      cm.data!['ClusterConfiguration'] = stringify(config);
      await core.replaceNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system', body: cm });
    });

    it('refuses a TO machine while kubeadm-config is v1beta3, which its real kubeadm no longer reads', async () => {
      const stored = (await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' })).data!;
      await storeAsV1beta3(core);
      try {
        const image = await registerImage(aws.ec2, 'to-with-certs-v1beta3', sb.versions.to, [
          { Key: 'kubeswap-sandbox/brings-certificates', Value: 'true' },
        ]);
        const id = await launch(sb.versions.to, joinUserData, image);
        const machine = await sb.waitForMachine(id, ['refused', 'running', 'failed']);
        assert.equal(machine.state, 'refused', machine.detail);
        assert.match(machine.detail, /cannot read kubeadm-config: .*old API spec: "kubeadm.k8s.io\/v1beta3"/);
        await discard(id);
      } finally {
        const cm = await core.readNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system' });
        cm.data = stored;
        await core.replaceNamespacedConfigMap({ name: 'kubeadm-config', namespace: 'kube-system', body: cm });
      }
    });

    it('joins a TO machine from a JoinConfiguration: learner added, promoted, TO apiserver, Ready Node', async () => {
      // This join carries no certificate key: like kubeadm, the simulator lets it join only from an image that
      // brings the shared control-plane certificates.
      const withCerts = await registerImage(aws.ec2, 'to-with-certs', sb.versions.to, [
        { Key: 'kubeswap-sandbox/brings-certificates', Value: 'true' },
      ]);
      const refused = await launch(sb.versions.to, joinUserData);
      assert.match(
        (await sb.waitForMachine(refused, ['refused', 'running', 'failed'])).detail,
        /without a certificate key/,
      );
      await discard(refused);
      joined = await launch(sb.versions.to, joinUserData, withCerts);
      const machine = await sb.waitForMachine(joined, ['running', 'refused', 'failed']);
      assert.equal(machine.state, 'running', machine.detail);
      node = machine.node;
      assert.match(daemonLog(), new RegExp(`${node}: etcd learner \\d+ added`));
      assert.match(daemonLog(), new RegExp(`${node}: etcd member promoted`));
      const member = (await members()).find((m) => m.name === node);
      assert.equal(member?.isLearner, false);
      assert.equal(member?.id, machine.etcdMemberId);
      const version = JSON.parse(await httpsGetText(`${machine.apiServer}/version`, sb.kubeconfig));
      assert.equal(version.gitVersion, sb.versions.to);
      await waitFor('Node Ready', async () => ((await nodeReady(node)) === 'True' ? true : undefined), SETTLE_MS);
      const n = await core.readNode({ name: node });
      assert.equal(n.status?.nodeInfo?.kubeletVersion, sb.versions.to);
      assert.equal(n.spec?.providerID, `aws:///us-east-1b/${joined}`);
    });

    it('a target registration puts it behind the load balancer', async () => {
      await registerTargets(aws, sb.aws.targetGroupArn, [joined]);
      await waitFor(
        'LB serving the new target',
        async () => ((await sb.status()).loadBalancer.includes(joined) ? true : undefined),
        SETTLE_MS,
      );
      const versions = new Set<string>();
      for (let i = 0; i < 12; i++)
        versions.add(JSON.parse(await httpsGetText(`${sb.apiServer}/version`, sb.kubeconfig)).gitVersion);
      assert.ok(versions.has(sb.versions.to), `some /version answers come from the TO apiserver (${[...versions]})`);
    });

    it('terminating the instance stops its processes and its Node goes NotReady', async () => {
      await terminate(joined);
      const machine = await sb.waitForMachine(joined, ['terminated']);
      assert.deepEqual(machine.processes, []);
      // The sandbox publishes "terminated" once its Node is marked; the wait observes the Node condition itself.
      await waitFor('Node not Ready', async () => ((await nodeReady(node)) !== 'True' ? true : undefined), SETTLE_MS);
      // ... and it stays so (kwok must not put Ready back, as its node-initialize stage would for a Node it manages).
      await sleep(3000);
      assert.notEqual(await nodeReady(node), 'True', 'the Node went back to Ready');
      await waitFor(
        'LB to stop serving it',
        async () => ((await sb.status()).loadBalancer.includes(joined) ? undefined : true),
        SETTLE_MS,
      );
      await removeMember(machine.etcdMemberId);
      await core.deleteNode({ name: node });
    });

    it('fault never-boot (next launch): the VM never joins and no member is added', async () => {
      await sb.fault({ kind: 'never-boot', next: true });
      const before = (await members()).length;
      const id = await launch(sb.versions.to);
      await sb.waitForMachine(id, ['never-booted']);
      await sleep(3000);
      assert.equal((await members()).length, before);
      await discard(id);
    });

    it('fault die-after-member-add: leaves an unstarted learner behind', async () => {
      await sb.fault({ kind: 'die-after-member-add', next: true });
      const id = await launch(sb.versions.to);
      const machine = await sb.waitForMachine(id, ['failed', 'running']);
      assert.equal(machine.state, 'failed');
      const learner = (await members()).find((m) => m.id === machine.etcdMemberId);
      assert.equal(learner?.isLearner, true);
      assert.equal(learner?.name, '', 'never started, so etcd has no name for it');
      await discard(id);
    });

    it('fault die-after-promote: leaves a dead voting member behind', async () => {
      await sb.fault({ kind: 'die-after-promote', next: true });
      const id = await launch(sb.versions.to);
      const machine = await sb.waitForMachine(id, ['failed', 'running']);
      assert.equal(machine.state, 'failed');
      assert.deepEqual(machine.processes, []);
      const voter = (await members()).find((m) => m.id === machine.etcdMemberId);
      assert.equal(voter?.isLearner, false, 'promoted before it died');
      await discard(id);
    });

    it('fault slow-etcd-catchup: promotion waits until the learner has caught up', async () => {
      await sb.fault({ kind: 'slow-etcd-catchup', next: true, seconds: 8 });
      const id = await launch(sb.versions.to);
      await waitFor(
        'learner added',
        async () => (await sb.status()).machines.find((m) => m.instanceId === id)?.etcdMemberId || undefined,
        60_000,
      );
      const added = Date.now();
      const learner = (await members()).find((m) => m.isLearner);
      assert.ok(learner, 'a learner while it catches up');
      const machine = await sb.waitForMachine(id, ['running', 'failed']);
      assert.equal(machine.state, 'running', machine.detail);
      // `added` is when the test noticed the learner, up to a status poll after etcd added it: allow that slack.
      assert.ok(Date.now() - added >= 6000, 'promoted only after the catch-up delay');
      await discard(id);
    });

    it('fault apiserver-crash: the new machine joins, then its apiserver mirror pod goes not Ready', async () => {
      await sb.fault({ kind: 'apiserver-crash', next: true });
      const id = await launch(sb.versions.to);
      const machine = await sb.waitForMachine(id, ['running', 'failed']);
      await waitFor(
        'apiserver mirror pod not Ready',
        async () => ((await podReady(`kube-apiserver-${machine.node}`)) === 'False' ? true : undefined),
        SETTLE_MS,
      );
      assert.equal(
        (await sb.status()).machines.find((m) => m.instanceId === id)?.processes.length,
        1,
        'only etcd still runs',
      );
      await discard(id);
    });

    it('faults crash-etcd / crash-apiserver on an existing machine, then heal', async () => {
      const victim = sb.machines[0]!;
      const apiServerPort = Number(new URL(victim.apiServer).port);
      // Start from the condition the fault needs to leave quorum: 3 healthy voters (the previous tests' members gone).
      await waitFor('3 healthy etcd voters', () => votersHealthy(3), SETTLE_MS);
      const etcdPort = Number(new URL((await members()).find((m) => m.name === victim.node)!.clientUrls[0]!).port);
      await sb.fault({ kind: 'crash-etcd', node: victim.node });
      await waitFor(
        'the member to stop answering',
        async () => ((await memberAnswers(etcdPort)) ? undefined : true),
        SETTLE_MS,
      );
      await waitFor(
        'etcd mirror pod not Ready',
        async () => ((await podReady(`etcd-${victim.node}`)) === 'False' ? true : undefined),
        SETTLE_MS,
      );
      await sb.fault({ kind: 'crash-apiserver', instanceId: victim.instanceId });
      await waitFor(
        'apiserver mirror pod not Ready',
        async () => ((await podReady(`kube-apiserver-${victim.node}`)) === 'False' ? true : undefined),
        SETTLE_MS,
      );
      assert.equal(await readyzProbe(apiServerPort), false, 'its apiserver is down');
      await sb.fault({ kind: 'heal', node: victim.node });
      // The real conditions first: the member back among 3 healthy voters, its apiserver ready, the LB serving it.
      await waitFor('3 healthy etcd voters after heal', () => votersHealthy(3), SETTLE_MS);
      await waitFor(
        'its apiserver ready',
        async () => ((await readyzProbe(apiServerPort)) ? true : undefined),
        SETTLE_MS,
      );
      await waitFor(
        'LB serving it again',
        async () => ((await sb.status()).loadBalancer.includes(victim.instanceId) ? true : undefined),
        SETTLE_MS,
      );
      // Then the kubelet's report of them: the restarted static pods' mirror pods Ready.
      for (const pod of [`etcd-${victim.node}`, `kube-apiserver-${victim.node}`]) {
        await waitFor(
          `${pod} Ready again`,
          async () => ((await podReady(pod)) === 'True' ? true : undefined),
          SETTLE_MS,
        );
      }
    });
  });
});

/** GET over a fresh TLS connection (no keep-alive), trusting the cluster CA from the kubeconfig. */
function httpsGetText(url: string, kubeconfig: string): Promise<string> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const ca = Buffer.from(kc.getCurrentCluster()!.caData!, 'base64');
  return new Promise((resolve, reject) => {
    get(url, { ca, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
