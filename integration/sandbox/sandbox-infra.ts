// The sandbox's Cluster API infrastructure provider (CRDs in infrastructure/crds.yaml), reconciled in the daemon:
// a SandboxMachine is a VM in the sandbox cloud. Once its owning Machine has a bootstrap data Secret (rendered by
// the real CABPK), the VM is launched in moto with that data as its user data, tagged for the cluster, so the machine
// simulator boots it exactly as it boots any EC2 instance; deleting the SandboxMachine terminates the VM (the
// simulator then stops its processes). Contract: Cluster API v1beta2 infrastructure machine (spec.providerID,
// status.initialization.provisioned, status.addresses; internal/contract/infrastructure_machine.go), like the
// docker provider's DockerMachine; `status.ready` too, for readers of the v1beta1 contract.
import {
  DescribeInstancesCommand,
  type Instance,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { DeregisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import * as k8s from '@kubernetes/client-node';
import { AZS, clusterTag, ROLE_TAG, registerTargets } from './aws.ts';
import { Poller } from './poller.ts';
import type { Runtime } from './runtime.ts';

export const INFRA_GROUP = 'infrastructure.sandbox.kubeswap.dev';
export const INFRA_VERSION = 'v1alpha1';
export const CAPI_GROUP = 'cluster.x-k8s.io';
export const CAPI_VERSION = 'v1beta2';
export const CLUSTER_NAME_LABEL = 'cluster.x-k8s.io/cluster-name';
export const CONTROL_PLANE_LABEL = 'cluster.x-k8s.io/control-plane';
/** Kept on a SandboxMachine until its VM is terminated (as CAPA's AWSMachine finalizer). */
export const MACHINE_FINALIZER = 'sandboxmachine.infrastructure.sandbox.kubeswap.dev';
/** The tag that finds a SandboxMachine's VM again (find before create: a crash between launch and status). */
export const SANDBOX_MACHINE_UID_TAG = 'kubeswap-sandbox/sandbox-machine-uid';

const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export const providerIdOf = (az: string, instanceId: string) => `aws:///${az}/${instanceId}`;
export const instanceIdOf = (providerId: string | undefined) => providerId?.split('/').pop() || undefined;

interface Obj {
  metadata: k8s.V1ObjectMeta;
  spec?: any;
  status?: any;
}

export class SandboxInfraController {
  private readonly poller: Poller;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;

  constructor(
    private readonly rt: Runtime,
    kubeconfig: string,
    private readonly namespace: string,
    pollIntervalMs = 1000,
  ) {
    this.poller = new Poller(
      () => this.poll(),
      pollIntervalMs,
      (err) => this.rt.log(`sandbox-infra: poll failed: ${err.message}`),
    );
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  start(): void {
    this.poller.start();
  }

  stop(): void {
    this.poller.stop();
  }

  private async poll(): Promise<void> {
    for (const cluster of await this.list('sandboxclusters')) await this.reconcileCluster(cluster);
    for (const machine of await this.list('sandboxmachines')) {
      await this.reconcileMachine(machine).catch((err) =>
        this.rt.log(`sandbox-infra: SandboxMachine ${machine.metadata.name}: ${(err as Error).message}`),
      );
    }
  }

  private async list(plural: string): Promise<Obj[]> {
    const out = await this.custom.listNamespacedCustomObject({
      group: INFRA_GROUP,
      version: INFRA_VERSION,
      namespace: this.namespace,
      plural,
    });
    return (out as { items: Obj[] }).items;
  }

  /** The cluster's "infrastructure" (VPC, subnets, API load balancer) exists from the sandbox's start. */
  private async reconcileCluster(c: Obj): Promise<void> {
    if (c.status?.initialization?.provisioned) return;
    await this.patchStatus('sandboxclusters', c.metadata.name!, {
      initialization: { provisioned: true },
      ready: true,
      conditions: [readyCondition(true, 'Provisioned')],
      failureDomains: AZS.map((name) => ({ name, controlPlane: true })),
    });
    this.rt.log(`sandbox-infra: SandboxCluster ${c.metadata.name} provisioned`);
  }

  private async reconcileMachine(m: Obj): Promise<void> {
    const name = m.metadata.name!;
    if (m.metadata.deletionTimestamp) return this.deleteMachine(m);
    if (!m.metadata.finalizers?.includes(MACHINE_FINALIZER)) {
      await this.patch('sandboxmachines', name, {
        metadata: { finalizers: [...(m.metadata.finalizers ?? []), MACHINE_FINALIZER] },
      });
    }
    // Adopted (spec.providerID given) or launched before: report the VM; otherwise launch it.
    const instance = await this.findInstance(m);
    if (instance) return this.reportInstance(m, instance);
    if (m.spec?.providerID) {
      if (m.status?.instanceState !== 'not-found')
        await this.patchStatus('sandboxmachines', name, { instanceState: 'not-found' });
      return;
    }
    const owner = await this.owningMachine(m);
    if (!owner) return; // the Machine controller sets the owner reference first
    const dataSecretName: string | undefined = owner.spec?.bootstrap?.dataSecretName;
    if (!dataSecretName) return; // CABPK has not rendered the bootstrap data yet (Cluster API waits the same way)
    const secret = await this.core.readNamespacedSecret({ name: dataSecretName, namespace: this.namespace });
    const userData = secret.data?.['value'];
    if (!userData) throw new Error(`bootstrap data Secret ${dataSecretName} has no value`);
    const image: string | undefined = m.spec?.image ?? this.rt.topology.images[owner.spec?.version];
    if (!image) throw new Error(`no image given and none for Kubernetes ${owner.spec?.version}`);
    const az = AZS.includes(owner.spec?.failureDomain) ? owner.spec.failureDomain : AZS[hash(name) % AZS.length]!;
    const controlPlane = owner.metadata.labels?.[CONTROL_PLANE_LABEL] !== undefined;
    const out = await this.rt.aws.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        ImageId: image,
        InstanceType: m.spec?.instanceType ?? 't3.large',
        SubnetId: this.rt.topology.subnetIds[AZS.indexOf(az)],
        UserData: userData, // the Secret's value, already base64 as RunInstances wants it
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: clusterTag(this.rt.plan.clusterName), Value: 'owned' },
              { Key: ROLE_TAG, Value: controlPlane ? 'control-plane' : 'worker' },
              { Key: SANDBOX_MACHINE_UID_TAG, Value: m.metadata.uid! },
              { Key: 'Name', Value: name },
            ],
          },
        ],
      }),
    );
    const launched = out.Instances![0]!;
    this.rt.log(
      `sandbox-infra: SandboxMachine ${name}: launched ${launched.InstanceId} from ${image} (${dataSecretName})`,
    );
    // As CAPA does for control-plane machines: the infrastructure provider puts them behind the API load balancer.
    if (controlPlane) await registerTargets(this.rt.aws, this.rt.topology.targetGroupArn, [launched.InstanceId!]);
    await this.reportInstance(m, launched);
  }

  private async reportInstance(m: Obj, instance: Instance): Promise<void> {
    const az = instance.Placement?.AvailabilityZone ?? AZS[0]!;
    const providerID = providerIdOf(az, instance.InstanceId!);
    if (m.spec?.providerID !== providerID)
      await this.patch('sandboxmachines', m.metadata.name!, { spec: { providerID } });
    const state = instance.State?.Name ?? 'unknown';
    const provisioned = state === 'running';
    const status = {
      instanceID: instance.InstanceId,
      instanceState: state,
      failureDomain: az,
      addresses: [
        { type: 'InternalIP', address: instance.PrivateIpAddress },
        { type: 'InternalDNS', address: instance.PrivateDnsName },
      ].filter((a) => a.address),
      initialization: { provisioned },
      ready: provisioned,
      // The Machine mirrors its infrastructure's Ready condition (contract: ReadyConditionType "Ready").
      conditions: [readyCondition(provisioned, provisioned ? 'Running' : `Instance${capitalize(state)}`)],
    };
    const s = m.status ?? {};
    if (
      s.instanceState === state &&
      s.instanceID === instance.InstanceId &&
      s.initialization?.provisioned === provisioned
    )
      return;
    await this.patchStatus('sandboxmachines', m.metadata.name!, status);
  }

  /** The VM goes away (out of the load balancer first, as CAPA deregisters before terminating); then the finalizer. */
  private async deleteMachine(m: Obj): Promise<void> {
    const instance = await this.findInstance(m);
    if (instance && !['terminated', 'shutting-down'].includes(instance.State?.Name ?? '')) {
      await this.rt.aws.elb
        .send(
          new DeregisterTargetsCommand({
            TargetGroupArn: this.rt.topology.targetGroupArn,
            Targets: [{ Id: instance.InstanceId! }],
          }),
        )
        .catch(() => {});
      await this.rt.aws.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instance.InstanceId!] }));
      this.rt.log(`sandbox-infra: SandboxMachine ${m.metadata.name} deleted: terminated ${instance.InstanceId}`);
    }
    if (m.metadata.finalizers?.includes(MACHINE_FINALIZER)) {
      const finalizers = m.metadata.finalizers.filter((f) => f !== MACHINE_FINALIZER);
      await this.patch('sandboxmachines', m.metadata.name!, {
        metadata: { finalizers, resourceVersion: m.metadata.resourceVersion },
      });
    }
  }

  private async findInstance(m: Obj): Promise<Instance | undefined> {
    const id = instanceIdOf(m.spec?.providerID);
    const filter = id
      ? { InstanceIds: [id] }
      : { Filters: [{ Name: `tag:${SANDBOX_MACHINE_UID_TAG}`, Values: [m.metadata.uid!] }] };
    const out = await this.rt.aws.ec2.send(new DescribeInstancesCommand(filter)).catch((err) => {
      if ((err as Error).name === 'InvalidInstanceID.NotFound') return undefined;
      throw err;
    });
    return out?.Reservations?.flatMap((r) => r.Instances ?? [])[0];
  }

  private async owningMachine(m: Obj): Promise<Obj | undefined> {
    const ref = m.metadata.ownerReferences?.find(
      (o) => o.kind === 'Machine' && o.apiVersion.startsWith(`${CAPI_GROUP}/`),
    );
    if (!ref) return undefined;
    return (await this.custom.getNamespacedCustomObject({
      group: CAPI_GROUP,
      version: CAPI_VERSION,
      namespace: this.namespace,
      plural: 'machines',
      name: ref.name,
    })) as Obj;
  }

  private patch(plural: string, name: string, body: unknown): Promise<unknown> {
    return this.custom.patchNamespacedCustomObject(
      { group: INFRA_GROUP, version: INFRA_VERSION, namespace: this.namespace, plural, name, body },
      merge,
    );
  }

  private patchStatus(plural: string, name: string, status: unknown): Promise<unknown> {
    return this.custom.patchNamespacedCustomObjectStatus(
      { group: INFRA_GROUP, version: INFRA_VERSION, namespace: this.namespace, plural, name, body: { status } },
      merge,
    );
  }
}

function readyCondition(ready: boolean, reason: string) {
  return { type: 'Ready', status: ready ? 'True' : 'False', reason, lastTransitionTime: new Date().toISOString() };
}

const capitalize = (s: string) =>
  s.charAt(0).toUpperCase() + s.slice(1).replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

function hash(text: string): number {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}
