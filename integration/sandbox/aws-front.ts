// The one place where the sandbox makes moto behave like AWS where kubeswap depends on it and moto does not
// (integration/AWS-EMULATION.md lists each behaviour with the AWS documentation it follows). Every client
// outside the daemon (kubeswap, the tests) talks to this front; the daemon's own simulator and load balancer
// read moto directly. It forwards every request and changes only what is emulated:
//
// 1. RunInstances ClientToken idempotency. AWS: "If you repeat the request with the same client token and the
//    same parameters, the original result is returned ... If you repeat it with different parameters, you get
//    an IdempotentParameterMismatch error"; a token stays valid for at least 24 hours after the instance is
//    terminated. moto ignores ClientToken and launches again.
// 2. Terminated instances leave DescribeInstances ("terminated instances remain visible for about an hour"),
//    while their ClientTokens are remembered. `forgetTerminated()` plays that hour passing.
// 3. Instance refresh state (Auto Scaling API Reference: StartInstanceRefresh, DescribeInstanceRefreshes,
//    CancelInstanceRefresh): moto implements none of them. A started refresh stays InProgress (it replaces
//    nothing: the sandbox only needs its state) until cancelled, then Cancelled.
// 4. TerminateInstanceInAutoScalingGroup deregisters the instance from the group's target groups first (Auto
//    Scaling User Guide, "Use Elastic Load Balancing to distribute incoming application traffic in your Auto
//    Scaling group": "deregisters the instance from the load balancer ... before terminating it"); moto keeps
//    the terminated instance registered and healthy.
// 5. A group launches from the launch template version it names, and its instances say so (Auto Scaling API
//    Reference, Instance.LaunchTemplate; the instance's aws:ec2launchtemplate:version tag). moto launches with
//    the template's default version's tag and record whatever version the group names (its image is right): when
//    a group is pointed at a version number, the front makes that version the template's default too.
// 6. CreateLaunchTemplateVersion with SourceVersion: the new version inherits the source's parameters except those
//    given (EC2 API Reference, CreateLaunchTemplateVersion, SourceVersion). moto ignores SourceVersion, so a new
//    version with only an image would lose the user data and the instance tags. The front merges the source's data
//    with the given top-level parameters and creates the version from the merge. moto also stores a new version's
//    UserData in a form its Auto Scaling launch then rejects (it fails SetDesiredCapacity with a 500), so the
//    front creates the version without it and keeps it: `instanceUserData` answers an instance launched from that
//    version with the version's user data, as EC2 does (the machine simulator reads user data through it).
// 7. Lifecycle hooks (Auto Scaling User Guide, "Amazon EC2 Auto Scaling lifecycle hooks" and "Complete a lifecycle
//    action"; API Reference, CompleteLifecycleAction): moto stores hooks but never waits on them. With a launch hook
//    (autoscaling:EC2_INSTANCE_LAUNCHING) an instance the group launches stays Pending:Wait until
//    CompleteLifecycleAction, or until the hook's HeartbeatTimeout passes and its DefaultResult applies; CONTINUE
//    puts it InService, ABANDON terminates it. With a terminate hook (autoscaling:EC2_INSTANCE_TERMINATING),
//    TerminateInstanceInAutoScalingGroup puts the instance in Terminating:Wait (the EC2 instance keeps running,
//    the decrement counts at once) and the termination happens on completion or timeout, whatever the result.
//    Deviation: moto registers a launching instance in the group's target groups at once, where AWS waits for
//    InService: on AWS kubeswap registers a held replacement itself once it has joined (and lets its hook go then);
//    in the sandbox the hook goes when the old machine leaves, the next swap starts or the run ends.
// 8. Timings at a chosen scale (opt-in, `AwsTimings`; off, moto's instant answers stand, so the scenarios stay
//    fast). Deregistration delay (Elastic Load Balancing User Guide, "Deregistration delay": "Elastic Load
//    Balancing stops sending requests to targets that are deregistering ... the state of a deregistering target is
//    draining" until the group's deregistration_delay.timeout_seconds, default 300 s, has passed): a target
//    deregistered through the front reads `draining` in DescribeTargetHealth for the group's delay, then `unused`
//    (moto answers `unused` at once). EC2 termination (EC2 User Guide, "Instance state changes": TerminateInstances
//    moves an instance to shutting-down, then terminated): a TerminateInstances through the front answers
//    shutting-down and reaches moto only after `terminationDelayMs`; until then DescribeInstances shows the instance
//    shutting-down and the machine simulator (which reads moto) keeps the VM running, as on AWS while it shuts down.
// Counting, not emulation: every request kubeswap's own SDK clients send (their user agent names `kubeswap`,
// providers/aws-ec2/options.ts USER_AGENT) is recorded by Action and time, so the benchmark counts the real AWS requests
// behind each port call (a deregistration's polls included), not the tests' nor the daemon's (which reads moto directly).
// Fault, not emulation: `loseRunInstancesResponses(n)` drops the next n RunInstances answers after moto launched
// (the connection is cut), so a scenario can show that the client's retry under the same ClientToken (1.) gets the
// original instance, not a second one.
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import {
  CreateLaunchTemplateVersionCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  type RequestLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import {
  type AccessKey,
  credentialScope,
  daemonCredentials,
  enforceIam,
  iamUser,
  motoQuery,
  signAsDaemon,
} from './aws-iam.ts';
import { AWS_REGION, AWS_TEST_CREDENTIALS } from './state.ts';

/** An instance a lifecycle hook holds (Pending:Wait or Terminating:Wait). */
interface LifecycleWait {
  group: string;
  hook: string;
  transition: 'launch' | 'terminate';
  token: string;
  deadline: number;
  defaultResult: 'CONTINUE' | 'ABANDON';
  /** terminate: the capacity is decremented with the termination. */
  decrement?: boolean;
}

interface HookFacts {
  name: string;
  transition: 'launch' | 'terminate';
  heartbeatMs: number;
  defaultResult: 'CONTINUE' | 'ABANDON';
}

interface TokenRecord {
  params: string;
  instanceIds: string[];
}

/** Opt-in timings of AWS at a chosen scale (8. above). */
export interface AwsTimings {
  /** A TerminateInstances reaches moto this much later; meanwhile the instance is shutting-down. 0: at once. */
  terminationDelayMs?: number;
  /** A deregistered target drains for its group's deregistration_delay.timeout_seconds. */
  targetDraining?: boolean;
}

export class AwsFront {
  /** Instances shutting down (8.): when the front hands their termination to moto. */
  private readonly shuttingDown = new Map<string, number>();
  /** Deregistered targets still draining (8.), by `<target group arn> <id>`: when their draining ends. */
  private readonly draining = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly tokens = new Map<string, TokenRecord>();
  /** Instances AWS no longer lists (terminated long ago). */
  private readonly forgotten = new Set<string>();
  /** Instance refreshes by group name (moto has none). */
  private readonly refreshes = new Map<string, { id: string; status: string; started: string }[]>();
  /** UserData of launch template versions the front created (`<template id>:<version>`), base64. */
  private readonly versionUserData = new Map<string, string>();
  /** Instances a lifecycle hook holds, by instance id. */
  private readonly waits = new Map<string, LifecycleWait>();
  /** Instances of a group that were there (or seen) already: a launch hook does not hold them. */
  private readonly seenInGroup = new Set<string>();
  /** Groups whose instances were listed once: before that, every instance counts as seen. */
  private readonly groupsListed = new Set<string>();
  /** RunInstances answers still to drop (a lost response), and the instances launched whose answer was dropped. */
  private losing = 0;
  /** kubeswap's requests (Action, ms since the epoch), oldest first; capped so a long-lived sandbox stays small. */
  private readonly counted: { action: string; at: number }[] = [];
  private readonly lost: string[] = [];
  private server?: Server;
  /** Set once moto enforces IAM (sandbox option awsIam): the sandbox's own admin key. */
  private admin?: AccessKey;
  private readonly ec2: EC2Client;

  constructor(
    private readonly motoEndpoint: string,
    private readonly timings: AwsTimings = {},
  ) {
    this.ec2 = new EC2Client({ region: AWS_REGION, endpoint: motoEndpoint, credentials: daemonCredentials });
  }

  async start(port: number): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req)
        .then(({ status, headers, body, drop }) => {
          // A lost response: AWS acted, the client sees the connection drop and retries.
          if (drop) return void res.socket?.destroy();
          res.writeHead(status, headers);
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`aws front: ${(err as Error).message}`);
        });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${port}`;
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.ec2.destroy();
    this.server?.close();
  }

  /** The requests kubeswap sent through the front so far (Action, ms since the epoch), oldest first. */
  kubeswapRequests(): { action: string; at: number }[] {
    return [...this.counted];
  }

  private count(req: IncomingMessage, action: string | undefined | null): void {
    const agent = `${req.headers['user-agent'] ?? ''} ${req.headers['x-amz-user-agent'] ?? ''}`;
    if (!/\bkubeswap\b/.test(agent) || this.counted.length >= 200_000) return;
    // Query protocol (EC2, ELBv2, Auto Scaling): the form's Action; JSON protocol (SSM): X-Amz-Target's operation.
    const target = String(req.headers['x-amz-target'] ?? '')
      .split('.')
      .pop();
    this.counted.push({ action: action || target || `${req.method} ${req.url}`, at: Date.now() });
  }

  /** Drops the next `count` RunInstances answers (a ClientToken one, after moto launched); the ids lost so far. */
  loseRunInstancesResponses(count: number): string[] {
    this.losing += count;
    return [...this.lost];
  }

  /** An hour passes: every instance terminated so far drops out of DescribeInstances. Returns how many. */
  async forgetTerminated(): Promise<number> {
    const xml = await (await this.moto('Action=DescribeInstances&Version=2016-11-15')).text();
    let count = 0;
    for (const item of instanceItems(xml)) {
      if (/<instanceState>\s*<code>48<\/code>/.test(item.text) && !this.forgotten.has(item.id)) {
        this.forgotten.add(item.id);
        count++;
      }
    }
    return count;
  }

  private async handle(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer; drop?: boolean }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const form = (req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')
      ? new URLSearchParams(body.toString('utf8'))
      : undefined;
    const action = form?.get('Action');
    this.count(req, action);
    await this.expireLifecycleWaits();
    if (form && action === 'PutLifecycleHook') {
      // Instances already in the group are not held by a hook created after their launch.
      await this.groupInstances(form.get('AutoScalingGroupName') ?? '');
    }
    if (form && action === 'CompleteLifecycleAction') return this.completeLifecycleAction(form);
    if (form && action === 'DeleteLifecycleHook') {
      // API Reference, DeleteLifecycleHook: "If there are any outstanding lifecycle actions, they are completed
      // first (ABANDON for launching instances, CONTINUE for terminating instances)."
      for (const [id, wait] of [...this.waits]) {
        if (wait.group === form.get('AutoScalingGroupName') && wait.hook === form.get('LifecycleHookName')) {
          await this.finishWait(id, wait, wait.transition === 'launch' ? 'ABANDON' : 'CONTINUE');
        }
      }
    }
    if (form && action === 'TerminateInstanceInAutoScalingGroup') {
      const held = await this.terminateWithHook(form);
      if (held) return held;
    }
    if (form && (action === 'DescribeAutoScalingGroups' || action === 'DescribeAutoScalingInstances')) {
      return this.withLifecycleStates(action, await this.forward(req, body));
    }
    if (action === 'RunInstances' && form?.get('ClientToken')) return this.runInstances(req, body, form);
    if (form && action === 'TerminateInstances' && (this.timings.terminationDelayMs ?? 0) > 0) {
      return this.terminateLater(form);
    }
    if (form && action === 'DescribeTargetHealth' && this.draining.size > 0) {
      return this.withDraining(form, await this.forward(req, body));
    }
    if (form && action === 'RegisterTargets') {
      for (const id of members(form, 'Targets.member', 'Id'))
        this.draining.delete(`${form.get('TargetGroupArn')} ${id}`);
    }
    if (form && action === 'DeregisterTargets' && this.timings.targetDraining) {
      const answer = await this.forward(req, body);
      if (answer.status === 200) await this.startDraining(form);
      return answer;
    }
    if (form && action && /InstanceRefresh/.test(action)) return this.instanceRefresh(action, form);
    if (form && action === 'CreateLaunchTemplateVersion' && form.get('SourceVersion')) {
      return this.launchTemplateVersionFrom(form);
    }
    const groupVersion = form?.get('LaunchTemplate.Version');
    if (form && action === 'UpdateAutoScalingGroup' && groupVersion && /^\d+$/.test(groupVersion)) {
      const template = form.get('LaunchTemplate.LaunchTemplateId');
      if (template) {
        await this.moto(
          `Action=ModifyLaunchTemplate&Version=2016-11-15&LaunchTemplateId=${template}&SetDefaultVersion=${groupVersion}`,
        );
      }
    }
    if (form && action === 'TerminateInstanceInAutoScalingGroup') {
      await this.deregisterFromGroupTargets(form.get('InstanceId') ?? '');
    }
    const answer = await this.forward(req, body);
    if (action === 'DescribeInstances' && answer.status === 200 && this.forgotten.size > 0) {
      return { ...answer, body: Buffer.from(withoutInstances(answer.body.toString('utf8'), this.forgotten)) };
    }
    if (action === 'DescribeInstances' && answer.status === 200 && this.shuttingDown.size > 0) {
      return { ...answer, body: Buffer.from(withStates(answer.body.toString('utf8'), this.shuttingDown)) };
    }
    return answer;
  }

  /** 8.: the instances go shutting-down now and reach moto's terminated state after the delay. */
  private async terminateLater(form: URLSearchParams) {
    const ids = members(form, 'InstanceId');
    const xml = await (
      await this.moto(
        `Action=DescribeInstances&Version=2016-11-15&${ids.map((id, i) => `InstanceId.${i + 1}=${id}`).join('&')}`,
      )
    ).text();
    const items = instanceItems(xml);
    const missing = ids.find((id) => !items.some((item) => item.id === id));
    if (missing) return ec2Error('InvalidInstanceID.NotFound', `The instance ID '${missing}' does not exist`);
    const answers: string[] = [];
    for (const item of items) {
      const before = /<instanceState>\s*<code>(\d+)<\/code>\s*<name>([a-z-]+)<\/name>/.exec(item.text);
      const previous = this.shuttingDown.has(item.id)
        ? { code: '32', name: 'shutting-down' }
        : { code: before?.[1] ?? '16', name: before?.[2] ?? 'running' };
      const current = previous.name === 'terminated' ? previous : { code: '32', name: 'shutting-down' };
      if (previous.name !== 'terminated' && !this.shuttingDown.has(item.id)) {
        const id = item.id;
        this.shuttingDown.set(id, Date.now() + this.timings.terminationDelayMs!);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          void this.moto(`Action=TerminateInstances&Version=2016-11-15&InstanceId.1=${id}`)
            .catch(() => undefined)
            .finally(() => this.shuttingDown.delete(id));
        }, this.timings.terminationDelayMs);
        this.timers.add(timer);
      }
      answers.push(
        `<item><instanceId>${item.id}</instanceId><currentState><code>${current.code}</code><name>${current.name}</name></currentState>` +
          `<previousState><code>${previous.code}</code><name>${previous.name}</name></previousState></item>`,
      );
    }
    const response =
      '<?xml version="1.0" encoding="UTF-8"?>\n<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
      `<requestId>${randomUUID()}</requestId><instancesSet>${answers.join('')}</instancesSet></TerminateInstancesResponse>`;
    return { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(response) };
  }

  /** 8.: each deregistered target drains for its group's deregistration delay. */
  private async startDraining(form: URLSearchParams) {
    const arn = form.get('TargetGroupArn') ?? '';
    const attributes = await (
      await this.moto(
        `Action=DescribeTargetGroupAttributes&Version=2015-12-01&TargetGroupArn=${encodeURIComponent(arn)}`,
        'elasticloadbalancing',
      )
    ).text();
    const seconds = Number(
      /<Key>deregistration_delay\.timeout_seconds<\/Key>\s*<Value>(\d+)<\/Value>/.exec(attributes)?.[1] ??
        // Elastic Load Balancing's default deregistration delay.
        300,
    );
    for (const id of members(form, 'Targets.member', 'Id'))
      this.draining.set(`${arn} ${id}`, Date.now() + seconds * 1000);
  }

  /** 8.: DescribeTargetHealth with the targets still draining shown so (moto shows them unused or not at all). */
  private withDraining(
    form: URLSearchParams,
    answer: { status: number; headers: Record<string, string>; body: Buffer },
  ) {
    const arn = form.get('TargetGroupArn') ?? '';
    const now = Date.now();
    for (const [key, until] of this.draining) if (until <= now) this.draining.delete(key);
    const named = members(form, 'Targets.member', 'Id');
    const ids = [...this.draining.keys()]
      .filter((key) => key.startsWith(`${arn} `))
      .map((key) => key.slice(arn.length + 1))
      .filter((id) => named.length === 0 || named.includes(id));
    if (answer.status !== 200 || ids.length === 0) return answer;
    let xml = answer.body
      .toString('utf8')
      .replace(/<TargetHealthDescriptions\s*\/>/, '<TargetHealthDescriptions></TargetHealthDescriptions>');
    const draining =
      '<TargetHealth><State>draining</State><Reason>Target.DeregistrationInProgress</Reason><Description>Target deregistration is in progress</Description></TargetHealth>';
    for (const id of ids) {
      const member = new RegExp(
        `<member>(?:(?!</member>)[\\s\\S])*?<Id>${id}</Id>[\\s\\S]*?</TargetHealth>\\s*</member>`,
      );
      const entry = `<member><Target><Id>${id}</Id><Port>6443</Port></Target><HealthCheckPort>6443</HealthCheckPort>${draining}</member>`;
      xml = member.test(xml)
        ? xml.replace(member, entry)
        : xml.replace('</TargetHealthDescriptions>', `${entry}</TargetHealthDescriptions>`);
    }
    return { ...answer, body: Buffer.from(xml) };
  }

  private async runInstances(req: IncomingMessage, body: Buffer, form: URLSearchParams) {
    const token = form.get('ClientToken')!;
    const params = [...form.entries()]
      .filter(([key]) => key !== 'ClientToken')
      .map(([key, value]) => `${key}=${value}`)
      .sort()
      .join('&');
    const known = this.tokens.get(token);
    if (known && known.params !== params) {
      return ec2Error(
        'IdempotentParameterMismatch',
        `The client token ${token} was used before with different parameters.`,
      );
    }
    if (known) {
      // The original reservation, whatever became of its instances since (terminated ones included).
      const ids = known.instanceIds.map((id, i) => `InstanceId.${i + 1}=${id}`).join('&');
      const xml = await (await this.moto(`Action=DescribeInstances&Version=2016-11-15&${ids}`)).text();
      const reservation = /<reservationSet>\s*<item>([\s\S]*)<\/item>\s*<\/reservationSet>/.exec(xml)?.[1] ?? '';
      const response =
        '<?xml version="1.0" encoding="UTF-8"?>\n<RunInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
        `<requestId>${randomUUID()}</requestId>${reservation}</RunInstancesResponse>`;
      return { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(response) };
    }
    const answer = await this.forward(req, body);
    if (answer.status === 200) {
      const instanceIds = instanceItems(answer.body.toString('utf8')).map((i) => i.id);
      this.tokens.set(token, { params, instanceIds });
      if (this.losing > 0) {
        this.losing--;
        this.lost.push(...instanceIds);
        return { ...answer, drop: true };
      }
    }
    return answer;
  }

  private async launchTemplateVersionFrom(form: URLSearchParams) {
    const id = form.get('LaunchTemplateId') ?? undefined;
    const name = form.get('LaunchTemplateName') ?? undefined;
    const [source] =
      (
        await this.ec2.send(
          new DescribeLaunchTemplateVersionsCommand({
            LaunchTemplateId: id,
            LaunchTemplateName: id ? undefined : name,
            Versions: [form.get('SourceVersion')!],
          }),
        )
      ).LaunchTemplateVersions ?? [];
    if (!source) return ec2Error('InvalidLaunchTemplateId.VersionNotFound', 'source version not found');
    const given: Record<string, string> = {};
    for (const [key, value] of form.entries()) {
      const m = /^LaunchTemplateData\.([A-Za-z]+)$/.exec(key);
      if (m) given[m[1]!] = value;
      // Only top-level scalars (ImageId, InstanceType, UserData, ...) are merged; the sandbox needs no more.
      else if (key.startsWith('LaunchTemplateData.'))
        return ec2Error('Unsupported', `the sandbox front merges scalars only: ${key}`);
    }
    // A source version the front made keeps its user data here, not in moto.
    const sourceUserData = this.versionUserData.get(`${source.LaunchTemplateId}:${source.VersionNumber}`);
    const { UserData, ...merged } = {
      ...(source.LaunchTemplateData as RequestLaunchTemplateData),
      ...(sourceUserData ? { UserData: sourceUserData } : {}),
      ...given,
    };
    const created = await this.ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: source.LaunchTemplateId,
        VersionDescription: form.get('VersionDescription') ?? undefined,
        LaunchTemplateData: merged,
      }),
    );
    const v = created.LaunchTemplateVersion!;
    if (UserData) this.versionUserData.set(`${v.LaunchTemplateId}:${v.VersionNumber}`, UserData);
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n<CreateLaunchTemplateVersionResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' +
      `<requestId>${randomUUID()}</requestId><launchTemplateVersion><launchTemplateId>${v.LaunchTemplateId}</launchTemplateId>` +
      `<launchTemplateName>${v.LaunchTemplateName}</launchTemplateName><versionNumber>${v.VersionNumber}</versionNumber>` +
      `<defaultVersion>${v.DefaultVersion ?? false}</defaultVersion></launchTemplateVersion></CreateLaunchTemplateVersionResponse>`;
    return { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml) };
  }

  /** An instance's user data (base64) as EC2 would give it: moto's, else that of the version it launched from. */
  async instanceUserData(instanceId: string): Promise<string> {
    const attribute = await (
      await this.moto(`Action=DescribeInstanceAttribute&Version=2016-11-15&InstanceId=${instanceId}&Attribute=userData`)
    ).text();
    const own = /<userData>\s*<value>([^<]*)<\/value>/.exec(attribute)?.[1];
    if (own) return own;
    const described = await (
      await this.moto(`Action=DescribeInstances&Version=2016-11-15&InstanceId.1=${instanceId}`)
    ).text();
    const tag = (key: string) => new RegExp(`<key>${key}</key>\\s*<value>([^<]*)</value>`).exec(described)?.[1];
    return this.versionUserData.get(`${tag('aws:ec2launchtemplate:id')}:${tag('aws:ec2launchtemplate:version')}`) ?? '';
  }

  private instanceRefresh(action: string, form: URLSearchParams) {
    const group = form.get('AutoScalingGroupName') ?? '';
    const list = this.refreshes.get(group) ?? [];
    this.refreshes.set(group, list);
    const active = list.find((r) => r.status === 'InProgress');
    if (action === 'StartInstanceRefresh') {
      if (active)
        return queryError('InstanceRefreshInProgress', `An instance refresh is already in progress: ${active.id}`);
      const id = randomUUID();
      list.unshift({ id, status: 'InProgress', started: new Date().toISOString() });
      return autoScalingAnswer(action, `<InstanceRefreshId>${id}</InstanceRefreshId>`);
    }
    if (action === 'CancelInstanceRefresh') {
      if (!active) return queryError('ActiveInstanceRefreshNotFound', `No in-progress instance refresh for ${group}`);
      active.status = 'Cancelled';
      return autoScalingAnswer(action, `<InstanceRefreshId>${active.id}</InstanceRefreshId>`);
    }
    const members = list
      .map(
        (r) =>
          `<member><InstanceRefreshId>${r.id}</InstanceRefreshId><AutoScalingGroupName>${group}</AutoScalingGroupName>` +
          `<Status>${r.status}</Status><StartTime>${r.started}</StartTime><PercentageComplete>0</PercentageComplete></member>`,
      )
      .join('');
    return autoScalingAnswer(action, `<InstanceRefreshes>${members}</InstanceRefreshes>`);
  }

  /** The group's lifecycle hooks, as moto stores them. */
  private async hooks(group: string): Promise<HookFacts[]> {
    const xml = await (
      await this.moto(
        `Action=DescribeLifecycleHooks&Version=2011-01-01&AutoScalingGroupName=${encodeURIComponent(group)}`,
        'autoscaling',
      )
    ).text();
    return [...xml.matchAll(/<member>([\s\S]*?)<\/member>/g)].map(([, m]) => {
      const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(m!)?.[1] ?? '';
      return {
        name: field('LifecycleHookName'),
        transition: /TERMINATING/.test(field('LifecycleTransition')) ? 'terminate' : 'launch',
        // AWS defaults: 3600 s, ABANDON.
        heartbeatMs: Number(field('HeartbeatTimeout') || 3600) * 1000,
        defaultResult: field('DefaultResult') === 'CONTINUE' ? 'CONTINUE' : 'ABANDON',
      };
    });
  }

  /** The group's instance ids per moto; a launch hook starts holding each instance seen for the first time. */
  private async groupInstances(group: string): Promise<string[]> {
    const xml = await (
      await this.moto(
        `Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=${encodeURIComponent(group)}`,
        'autoscaling',
      )
    ).text();
    const ids = [...xml.matchAll(/<InstanceId>([^<]+)<\/InstanceId>/g)].map((m) => m[1]!);
    const firstListing = !this.groupsListed.has(group);
    this.groupsListed.add(group);
    const fresh = ids.filter((id) => !this.seenInGroup.has(id));
    for (const id of fresh) this.seenInGroup.add(id);
    if (!firstListing && fresh.length > 0) {
      const launch = (await this.hooks(group)).find((h) => h.transition === 'launch');
      for (const id of launch ? fresh : []) {
        this.waits.set(id, {
          group,
          hook: launch!.name,
          transition: 'launch',
          token: randomUUID(),
          deadline: Date.now() + launch!.heartbeatMs,
          defaultResult: launch!.defaultResult,
        });
      }
    }
    return ids;
  }

  /** Answers as AWS would while hooks hold instances: their lifecycle state, the decremented capacity. */
  private async withLifecycleStates(
    action: string,
    answer: { status: number; headers: Record<string, string>; body: Buffer },
  ) {
    if (answer.status !== 200) return answer;
    let xml = answer.body.toString('utf8');
    for (const [, group] of xml.matchAll(/<AutoScalingGroupName>([^<]+)<\/AutoScalingGroupName>/g)) {
      if (!this.groupsListed.has(group!) || action === 'DescribeAutoScalingGroups') await this.groupInstances(group!);
    }
    for (const [id, wait] of this.waits) {
      const state = wait.transition === 'launch' ? 'Pending:Wait' : 'Terminating:Wait';
      xml = xml.replace(
        new RegExp(
          `(<InstanceId>${id}</InstanceId>(?:(?!</member>)[\\s\\S])*?<LifecycleState>)[^<]*(</LifecycleState>)`,
        ),
        `$1${state}$2`,
      );
    }
    if (action === 'DescribeAutoScalingGroups') {
      for (const wait of this.waits.values()) {
        if (wait.transition !== 'terminate' || !wait.decrement) continue;
        xml = xml.replace(
          new RegExp(
            `(<AutoScalingGroupName>${wait.group}</AutoScalingGroupName>[\\s\\S]*?<DesiredCapacity>)(\\d+)(</DesiredCapacity>)`,
          ),
          (_m, a: string, n: string, b: string) => `${a}${Number(n) - 1}${b}`,
        );
      }
    }
    return { ...answer, body: Buffer.from(xml) };
  }

  /** TerminateInstanceInAutoScalingGroup on a group with a terminate hook: Terminating:Wait first. */
  private async terminateWithHook(form: URLSearchParams) {
    const instanceId = form.get('InstanceId') ?? '';
    const group = await this.groupOf(instanceId);
    if (!group) return undefined;
    const hook = (await this.hooks(group)).find((h) => h.transition === 'terminate');
    if (!hook) return undefined;
    if (!this.waits.has(instanceId)) {
      await this.deregisterFromGroupTargets(instanceId);
      this.waits.set(instanceId, {
        group,
        hook: hook.name,
        transition: 'terminate',
        token: randomUUID(),
        deadline: Date.now() + hook.heartbeatMs,
        defaultResult: hook.defaultResult,
        decrement: form.get('ShouldDecrementDesiredCapacity') === 'true',
      });
    }
    const activity =
      `<Activity><ActivityId>${randomUUID()}</ActivityId><AutoScalingGroupName>${group}</AutoScalingGroupName>` +
      `<Description>Terminating EC2 instance: ${instanceId}</Description><Cause>At ${new Date().toISOString()} instance ${instanceId} was taken out of service in response to a user request.</Cause>` +
      `<StartTime>${new Date().toISOString()}</StartTime><StatusCode>InProgress</StatusCode><Progress>0</Progress></Activity>`;
    return autoScalingAnswer('TerminateInstanceInAutoScalingGroup', activity);
  }

  private async completeLifecycleAction(form: URLSearchParams) {
    const instanceId = form.get('InstanceId');
    const token = form.get('LifecycleActionToken');
    const entry = [...this.waits].find(
      ([id, w]) =>
        w.group === form.get('AutoScalingGroupName') &&
        w.hook === form.get('LifecycleHookName') &&
        (instanceId ? id === instanceId : w.token === token),
    );
    // AWS: "No active Lifecycle Action found with instance ID ..." (a ValidationError).
    if (!entry) return queryError('ValidationError', `No active Lifecycle Action found with instance ID ${instanceId}`);
    const result = form.get('LifecycleActionResult') === 'CONTINUE' ? 'CONTINUE' : 'ABANDON';
    await this.finishWait(entry[0], entry[1], result);
    return autoScalingAnswer('CompleteLifecycleAction', '');
  }

  /** Heartbeat timeouts that passed: the hook's DefaultResult applies. */
  private async expireLifecycleWaits(): Promise<void> {
    const now = Date.now();
    for (const [id, wait] of [...this.waits]) {
      if (wait.deadline <= now) await this.finishWait(id, wait, wait.defaultResult);
    }
  }

  private async finishWait(instanceId: string, wait: LifecycleWait, result: 'CONTINUE' | 'ABANDON'): Promise<void> {
    this.waits.delete(instanceId);
    if (wait.transition === 'launch' && result === 'CONTINUE') return;
    // A terminate hook ends in the termination whatever the result; an abandoned launch is terminated too (and
    // replaced by the group, which keeps its capacity).
    const decrement = wait.transition === 'terminate' && wait.decrement === true;
    await this.moto(
      `Action=TerminateInstanceInAutoScalingGroup&Version=2011-01-01&InstanceId=${instanceId}&ShouldDecrementDesiredCapacity=${decrement}`,
      'autoscaling',
    );
  }

  private async groupOf(instanceId: string): Promise<string | undefined> {
    const instances = await (
      await this.moto(
        `Action=DescribeAutoScalingInstances&Version=2011-01-01&InstanceIds.member.1=${instanceId}`,
        'autoscaling',
      )
    ).text();
    return /<AutoScalingGroupName>([^<]+)<\/AutoScalingGroupName>/.exec(instances)?.[1];
  }

  private async deregisterFromGroupTargets(instanceId: string): Promise<void> {
    const instances = await (
      await this.moto(
        `Action=DescribeAutoScalingInstances&Version=2011-01-01&InstanceIds.member.1=${instanceId}`,
        'autoscaling',
      )
    ).text();
    const group = /<AutoScalingGroupName>([^<]+)<\/AutoScalingGroupName>/.exec(instances)?.[1];
    if (!group) return;
    const groups = await (
      await this.moto(
        `Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=${encodeURIComponent(group)}`,
        'autoscaling',
      )
    ).text();
    const arns = /<TargetGroupARNs>([\s\S]*?)<\/TargetGroupARNs>/.exec(groups)?.[1] ?? '';
    for (const [, arn] of arns.matchAll(/<member>([^<]+)<\/member>/g)) {
      await this.moto(
        `Action=DeregisterTargets&Version=2015-12-01&TargetGroupArn=${encodeURIComponent(arn!)}&Targets.member.1.Id=${instanceId}`,
        'elasticloadbalancing',
      );
    }
  }

  /** The front's own calls, as the sandbox (moto routes by the service in the signature's credential scope). */
  private moto(form: string, service = 'ec2'): Promise<Response> {
    return motoQuery(this.motoEndpoint, form, service);
  }

  /** Sandbox option awsIam: moto checks IAM from now on; the sandbox's own identity becomes an admin user. */
  async enforceIam(): Promise<void> {
    this.admin = await enforceIam(this.motoEndpoint);
  }

  /** An IAM user holding exactly `policy` (replacing what it held), and its access key. */
  iamUser(name: string, policy: string): Promise<AccessKey> {
    return iamUser(this.motoEndpoint, name, policy);
  }

  /**
   * Forwards a client's request as it came, its Host header included: moto recomputes the SigV4 signature from the
   * headers it receives. Under IAM enforcement, what the tests send under the test credentials is re-signed as the
   * sandbox's admin; every other identity (kubeswap's IAM user) is checked by moto as signed.
   */
  private async forward(req: IncomingMessage, body: Buffer) {
    let headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined && key !== 'content-length') headers[key] = String(value);
    }
    const url = new URL(req.url ?? '/', this.motoEndpoint);
    const scope = credentialScope(headers['authorization']);
    if (this.admin && scope?.key === AWS_TEST_CREDENTIALS.accessKeyId) {
      headers = await signAsDaemon(url, req.method ?? 'GET', headers, body, scope.service);
    }
    const sent = req.method === 'GET' || req.method === 'HEAD' ? undefined : body;
    return new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
      const out = httpRequest(
        url,
        { method: req.method, headers: { ...headers, ...(sent ? { 'content-length': String(sent.length) } : {}) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const answer: Record<string, string> = {};
            for (const [key, value] of Object.entries(res.headers)) {
              if (
                value === undefined ||
                ['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(key)
              )
                continue;
              answer[key] = String(value);
            }
            resolve({ status: res.statusCode ?? 502, headers: answer, body: Buffer.concat(chunks) });
          });
        },
      );
      out.on('error', reject);
      out.end(sent);
    });
  }
}

/** An Auto Scaling (query protocol) answer. */
function autoScalingAnswer(action: string, result: string) {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">` +
    `<${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
    `</${action}Response>`;
  return { status: 200, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml) };
}

function queryError(code: string, message: string) {
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  return { status: 400, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml) };
}

function ec2Error(code: string, message: string) {
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors>` +
    `<RequestID>${randomUUID()}</RequestID></Response>`;
  return { status: 400, headers: { 'content-type': 'text/xml' }, body: Buffer.from(xml) };
}

/** The top-level `<item>` elements of every `<instancesSet>`, with their instance id and text span. */
function instanceItems(xml: string): { id: string; text: string; start: number; end: number }[] {
  const items: { id: string; text: string; start: number; end: number }[] = [];
  const sets = /<instancesSet>/g;
  for (let set = sets.exec(xml); set; set = sets.exec(xml)) {
    let i = set.index + set[0].length;
    const close = xml.indexOf('</instancesSet>', i);
    while (i < close) {
      const start = xml.indexOf('<item>', i);
      if (start < 0 || start > close) break;
      // Balanced <item>...</item>: instance items hold nested items (tags, groups, block devices).
      let depth = 0;
      let j = start;
      do {
        const open = xml.indexOf('<item>', j);
        const shut = xml.indexOf('</item>', j);
        if (open >= 0 && open < shut) {
          depth++;
          j = open + 6;
        } else {
          depth--;
          j = shut + 7;
        }
      } while (depth > 0);
      const text = xml.slice(start, j);
      const id = /<instanceId>([^<]+)<\/instanceId>/.exec(text)?.[1];
      if (id) items.push({ id, text, start, end: j });
      i = j;
    }
  }
  return items;
}

/** `<prefix>.N[.<field>]` values of a query-protocol form, in order. */
function members(form: URLSearchParams, prefix: string, field?: string): string[] {
  const out: string[] = [];
  for (let i = 1; form.has(field ? `${prefix}.${i}.${field}` : `${prefix}.${i}`); i++) {
    out.push(form.get(field ? `${prefix}.${i}.${field}` : `${prefix}.${i}`)!);
  }
  return out;
}

/** DescribeInstances with the instances the front is terminating shown shutting-down (8.). */
function withStates(xml: string, shuttingDown: ReadonlyMap<string, number>): string {
  let out = xml;
  for (const item of instanceItems(xml).reverse()) {
    if (!shuttingDown.has(item.id)) continue;
    const text = item.text.replace(
      /<instanceState>\s*<code>\d+<\/code>\s*<name>[a-z-]+<\/name>\s*<\/instanceState>/,
      '<instanceState><code>32</code><name>shutting-down</name></instanceState>',
    );
    out = out.slice(0, item.start) + text + out.slice(item.end);
  }
  return out;
}

function withoutInstances(xml: string, forgotten: ReadonlySet<string>): string {
  let out = xml;
  for (const item of instanceItems(xml).reverse()) {
    if (forgotten.has(item.id)) out = out.slice(0, item.start) + out.slice(item.end);
  }
  return out;
}
