// The machine simulator plays the VMs: for each new running instance tagged for the cluster it waits the boot
// delay, then does what `kubeadm join --control-plane` from the user data would; for a terminated instance it stops
// the machine's processes. Launch faults change how a machine's join goes.
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DescribeImagesCommand, type Instance } from '@aws-sdk/client-ec2';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { clusterInstances, ROLE_TAG, tagValue, VERSION_TAG } from './aws.ts';
import { workerJoinRefusals } from './capi-workers.ts';
import { addLearner, etcdClient, promoteWhenInSync } from './etcd.ts';
import type { FaultBook } from './faults.ts';
import { parseUserData, renderHostnameTemplate, ssmFetchIn, type UserDataIntent } from './join.ts';
import { clusterFacts } from './join-facts.ts';
import { joinRefusals, versionRefusals } from './join-preflight.ts';
import {
  createCerts,
  newMachine,
  registerNode,
  startApiServer,
  startEtcd,
  terminateMachine,
  waitApiServerReady,
} from './machine.ts';
import { sleep } from './processes.ts';
import { apiServerProcess, etcdProcess, liveEtcdEndpoints, type Machine, type Runtime } from './runtime.ts';
import { observeWorker } from './workers.ts';

const run = promisify(execFile);

export class MachineSimulator {
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly rt: Runtime,
    private readonly faults: FaultBook,
    private readonly pollIntervalMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const instance of await clusterInstances(this.rt.aws, this.rt.plan.clusterName)) {
        await this.observe(instance);
      }
    } catch (err) {
      this.rt.log(`simulator: poll failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private async observe(instance: Instance): Promise<void> {
    const id = instance.InstanceId!;
    const state = instance.State?.Name;
    const known = this.rt.machines.get(id);
    if (known && ['shutting-down', 'terminated', 'stopping', 'stopped'].includes(state ?? '')) {
      if (known.state !== 'terminated') {
        this.rt.log(`simulator: ${id} (${known.node}) is ${state}`);
        await terminateMachine(this.rt, known);
      }
      return;
    }
    if (!known && tagValue(instance.Tags, ROLE_TAG) === 'worker') {
      // A worker boots on its own: the next instances are observed meanwhile.
      void observeWorker(this.rt, instance, {
        version: async () => (await this.imageFacts(instance.ImageId!)).version,
        userData: () => this.rt.awsFront.instanceUserData(id),
        apiServerVersion: () => this.apiServerVersion(),
        fault: () => this.faults.take(id),
        joinRefusals: (raw, version) => workerJoinRefusals(this.rt, raw, version),
      }).catch((err: unknown) => this.rt.log(`simulator: worker ${id}: ${(err as Error).message}`));
      return;
    }
    if (known || state !== 'running' || tagValue(instance.Tags, ROLE_TAG) !== 'control-plane') return;
    const { version, bringsCertificates } = await this.imageFacts(instance.ImageId!);
    const machine = await newMachine(this.rt, {
      instanceId: id,
      node: instance.PrivateDnsName || `ip-${id}`,
      az: instance.Placement?.AvailabilityZone ?? 'us-east-1a',
      privateIp: instance.PrivateIpAddress ?? '10.0.0.1',
      instanceType: instance.InstanceType ?? 't3.large',
      version,
    });
    machine.imageBringsCertificates = bringsCertificates;
    machine.fault = this.faults.take(id);
    this.rt.log(`simulator: ${id} launched from ${version}${machine.fault ? ` with fault ${machine.fault.kind}` : ''}`);
    this.rt.publish();
    void this.boot(machine).catch((err) => {
      machine.state = 'failed';
      machine.detail = `join failed: ${(err as Error).message}`;
      this.rt.log(`simulator: ${machine.node}: ${machine.detail}`);
      this.rt.publish();
    });
  }

  /** The oldest kube-apiserver version among the running control-plane machines. */
  private async apiServerVersion(): Promise<string | undefined> {
    const versions = [...this.rt.machines.values()].filter((m) => m.state === 'running').map((m) => m.version);
    return versions.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]))[0];
  }

  private async imageFacts(imageId: string): Promise<{ version: string; bringsCertificates: boolean }> {
    const out = await this.rt.aws.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    const tags = out.Images?.[0]?.Tags;
    return {
      version: tagValue(tags, VERSION_TAG) ?? 'unknown',
      bringsCertificates: tagValue(tags, 'kubeswap-sandbox/brings-certificates') === 'true',
    };
  }

  private async boot(m: Machine): Promise<void> {
    if (m.fault?.kind === 'never-boot') {
      m.state = 'never-booted';
      m.detail = 'fault: the VM never finishes booting';
      this.rt.publish();
      return;
    }
    const slow = m.fault?.kind === 'slow-boot' ? m.fault.seconds : 0;
    await sleep((this.rt.plan.bootDelaySeconds + slow) * 1000);
    if (this.gone(m)) return;
    m.state = 'joining';
    this.rt.publish();
    // Through the AWS front: an Auto Scaling launch from a version moto cannot hold user data for (AWS-EMULATION.md).
    const userData = await this.rt.awsFront.instanceUserData(m.instanceId);
    const raw = Buffer.from(userData, 'base64').toString('utf8');
    const read = await this.joinIntent(raw);
    if ('refusal' in read) return this.refuse(m, [read.refusal]);
    const intent = read.intent;
    if (intent.kind === 'none') return this.refuse(m, ['the user data holds no kubeadm join configuration']);
    if (intent.kind === 'join' && !intent.request.controlPlane) {
      return this.refuse(m, ['the JoinConfiguration has no controlPlane section (a worker join)']);
    }
    const facts = await clusterFacts(
      this.rt,
      intent.kind === 'join' ? intent.request : undefined,
      m.version,
      m.imageBringsCertificates,
    );
    const refusals = intent.kind === 'join' ? joinRefusals(intent.request, facts) : versionRefusals(facts);
    if (!refusals.length && !this.rt.plan.binaries.kubernetes[m.version]) {
      refusals.push(`the sandbox has no Kubernetes ${m.version} binaries for this image`);
    }
    if (!refusals.length) refusals.push(...(await this.kubeadmReads(m, facts.clusterConfiguration)));
    if (refusals.length > 0) return this.refuse(m, refusals);
    const nodeName = intent.kind === 'join' ? renderHostnameTemplate(intent.request.nodeName, m.node) : undefined;
    if (nodeName) m.node = nodeName;
    await this.join(m);
  }

  /**
   * What the user data asks for. A join script that first fetches its JoinConfiguration from Parameter Store
   * (`--bootstrap-secrets ssm`) is read as the AWS CLI on the machine would: its own `kubeadm join --config`
   * line says nothing about the join.
   */
  private async joinIntent(raw: string): Promise<{ intent: UserDataIntent } | { refusal: string }> {
    const fetch = ssmFetchIn(raw);
    if (!fetch) return { intent: parseUserData(raw) };
    // AWS returns a SecureString's ciphertext without it (moto returns the plain value: not relied on here).
    if (!fetch.withDecryption) return { refusal: `aws ssm get-parameter ${fetch.name} without --with-decryption` };
    try {
      const out = await this.rt.aws.ssm.send(new GetParameterCommand({ Name: fetch.name, WithDecryption: true }));
      return { intent: parseUserData(out.Parameter?.Value ?? '') };
    } catch (err) {
      return { refusal: `aws ssm get-parameter ${fetch.name}: ${(err as Error).name}` };
    }
  }

  /**
   * kubeadm join downloads kubeadm-config and refuses a ClusterConfiguration API version its kubeadm no longer reads
   * (1.37: "uses an old API spec"). The image's own kubeadm judges it, as on a real VM.
   */
  private async kubeadmReads(m: Machine, clusterConfiguration: string | undefined): Promise<string[]> {
    if (!clusterConfiguration) return ['kube-system/kubeadm-config has no ClusterConfiguration'];
    const file = join(this.rt.plan.stateDir, `cluster-configuration-${m.instanceId}.yaml`);
    writeFileSync(file, clusterConfiguration);
    try {
      await run(join(this.rt.plan.binaries.kubernetes[m.version]!, 'kubeadm'), [
        'config',
        'validate',
        '--config',
        file,
      ]);
      return [];
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? String(err);
      return [`kubeadm ${m.version} cannot read kubeadm-config: ${stderr.split('\n')[0]}`];
    } finally {
      rmSync(file, { force: true });
    }
  }

  private refuse(m: Machine, reasons: string[]): void {
    m.state = 'refused';
    m.detail = `kubeadm join refused: ${reasons.join('; ')}`;
    this.rt.log(`simulator: ${m.node}: ${m.detail}`);
    this.rt.publish();
  }

  /** kubeadm join's control-plane-join phase: learner, local etcd, promote; then the apiserver and kubelet. */
  private async join(m: Machine): Promise<void> {
    await createCerts(this.rt, m);
    const client = etcdClient(liveEtcdEndpoints(this.rt), this.rt.etcdTls);
    try {
      const learner = await addLearner(client, m.node, m.ports.etcdPeer);
      m.etcdMemberId = learner.id;
      this.rt.log(`simulator: ${m.node}: etcd learner ${learner.id} added`);
      this.rt.publish();
      if (m.fault?.kind === 'die-after-member-add') return this.die(m, 'fault: died right after the learner was added');
      if (m.fault?.kind === 'slow-etcd-catchup') {
        this.rt.log(`simulator: ${m.node}: etcd catches up in ${m.fault.seconds} s (fault)`);
        await sleep(m.fault.seconds * 1000);
      }
      if (this.gone(m)) return;
      startEtcd(this.rt, m, learner.initialCluster, 'existing');
      await promoteWhenInSync(client, learner.id, 120_000 + (m.fault?.seconds ?? 0) * 1000);
      this.rt.log(`simulator: ${m.node}: etcd member promoted`);
      if (m.fault?.kind === 'die-after-promote') {
        await this.rt.processes.stop(etcdProcess(m), 1000, 'SIGKILL');
        return this.die(m, 'fault: died right after its member was promoted');
      }
    } finally {
      client.close();
    }
    if (this.gone(m)) return;
    startApiServer(this.rt, m);
    await waitApiServerReady(m);
    if (this.gone(m)) return;
    await registerNode(this.rt, m, true);
    m.state = 'running';
    m.detail = `joined with ${m.version}`;
    this.rt.log(`simulator: ${m.node}: joined (${m.version})`);
    this.rt.publish();
    if (m.fault?.kind === 'apiserver-crash') {
      await sleep(2000);
      this.rt.processes.crash(apiServerProcess(m));
    }
  }

  private gone(m: Machine): boolean {
    return m.state === 'terminated' || m.terminating === true;
  }

  private die(m: Machine, why: string): void {
    m.state = 'failed';
    m.detail = why;
    this.rt.log(`simulator: ${m.node}: ${why}`);
    this.rt.publish();
  }
}
