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
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  CreateLaunchTemplateVersionCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
  type RequestLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import { AWS_REGION, AWS_TEST_CREDENTIALS } from './state.ts';

interface TokenRecord {
  params: string;
  instanceIds: string[];
}

export class AwsFront {
  private readonly tokens = new Map<string, TokenRecord>();
  /** Instances AWS no longer lists (terminated long ago). */
  private readonly forgotten = new Set<string>();
  /** Instance refreshes by group name (moto has none). */
  private readonly refreshes = new Map<string, { id: string; status: string; started: string }[]>();
  /** UserData of launch template versions the front created (`<template id>:<version>`), base64. */
  private readonly versionUserData = new Map<string, string>();
  private server?: Server;
  private readonly ec2: EC2Client;

  constructor(private readonly motoEndpoint: string) {
    this.ec2 = new EC2Client({ region: AWS_REGION, endpoint: motoEndpoint, credentials: AWS_TEST_CREDENTIALS });
  }

  async start(port: number): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req)
        .then(({ status, headers, body }) => {
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
    this.ec2.destroy();
    this.server?.close();
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
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const form = (req.headers['content-type'] ?? '').includes('x-www-form-urlencoded')
      ? new URLSearchParams(body.toString('utf8'))
      : undefined;
    const action = form?.get('Action');
    if (action === 'RunInstances' && form?.get('ClientToken')) return this.runInstances(req, body, form);
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
    return answer;
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
      this.tokens.set(token, { params, instanceIds: instanceItems(answer.body.toString('utf8')).map((i) => i.id) });
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

  private moto(form: string, service = 'ec2'): Promise<Response> {
    return fetch(`${this.motoEndpoint}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        // moto routes by the service in the credential scope of the (unchecked) signature.
        authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/${service}/aws4_request, Signature=x`,
      },
      body: form,
    });
  }

  private async forward(req: IncomingMessage, body: Buffer) {
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined && key !== 'host' && key !== 'content-length') headers[key] = String(value);
    }
    const res = await fetch(`${this.motoEndpoint}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    const out: Record<string, string> = {};
    res.headers.forEach((value, key) => {
      if (key !== 'content-length' && key !== 'content-encoding' && key !== 'transfer-encoding') out[key] = value;
    });
    return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
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

function withoutInstances(xml: string, forgotten: ReadonlySet<string>): string {
  let out = xml;
  for (const item of instanceItems(xml).reverse()) {
    if (forgotten.has(item.id)) out = out.slice(0, item.start) + out.slice(item.end);
  }
  return out;
}
