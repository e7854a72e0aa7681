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
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

interface TokenRecord {
  params: string;
  instanceIds: string[];
}

export class AwsFront {
  private readonly tokens = new Map<string, TokenRecord>();
  /** Instances AWS no longer lists (terminated long ago). */
  private readonly forgotten = new Set<string>();
  private server?: Server;

  constructor(private readonly motoEndpoint: string) {}

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

  private moto(form: string): Promise<Response> {
    return fetch(`${this.motoEndpoint}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        // moto routes by the service in the credential scope of the (unchecked) signature.
        authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, Signature=x',
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
