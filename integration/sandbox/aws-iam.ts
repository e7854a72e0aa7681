// IAM enforcement in the sandbox's moto (sandbox option `awsIam`, issue 9 §8). moto checks IAM for every request
// once it has answered INITIAL_NO_AUTH_ACTION_COUNT of them (`POST /moto-api/reset-auth` sets the count at run time,
// server-wide), verifying each SigV4 signature against the keys of its IAM users. So the sandbox's own traffic needs
// an IAM identity too: an admin user is made first, the daemon's clients sign with its key from then on, and the AWS
// front re-signs with it what the tests send under the test credentials. What moto evaluates (actions, not resources
// nor conditions) is in integration/AWS-EMULATION.md.
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest, SourceData } from '@smithy/types';
import { AWS_REGION, AWS_TEST_CREDENTIALS } from './state.ts';

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

let daemonIdentity: AccessKey = { ...AWS_TEST_CREDENTIALS };

/**
 * The daemon's AWS identity, read on every request: an identity that "expires" now is never cached by the SDK, so
 * clients made before IAM was enforced sign with the admin key afterwards.
 */
export const daemonCredentials = async () => ({ ...daemonIdentity, expiration: new Date() });

/** SHA-256 and HMAC-SHA256 for the SigV4 signer, from node:crypto. */
class Sha256 {
  private hash;
  private readonly secret?: Uint8Array | string;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined || typeof secret === 'string' ? secret : bytes(secret);
    this.hash = this.secret ? createHmac('sha256', this.secret) : createHash('sha256');
  }
  update(data: SourceData): void {
    this.hash.update(typeof data === 'string' ? data : bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.secret ? createHmac('sha256', this.secret) : createHash('sha256');
  }
}

const bytes = (d: ArrayBuffer | ArrayBufferView): Uint8Array =>
  d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

/** The access key id and the service of a SigV4 Authorization header (`Credential=KEY/DATE/REGION/SERVICE/...`). */
export function credentialScope(authorization: string | undefined): { key: string; service: string } | undefined {
  const m = /Credential=([^/]+)\/\d+\/[^/]+\/([^/]+)\//.exec(authorization ?? '');
  return m ? { key: m[1]!, service: m[2]! } : undefined;
}

/** Signs a request to moto as the daemon (headers in, signed headers out; the host header is kept as given). */
export async function signAsDaemon(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Buffer,
  service: string,
): Promise<Record<string, string>> {
  const unsigned: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!/^(authorization|x-amz-date|x-amz-security-token|x-amz-content-sha256|content-length)$/i.test(k)) {
      unsigned[k.toLowerCase()] = v;
    }
  }
  unsigned['host'] ??= url.host;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({ service, region: AWS_REGION, credentials: daemonCredentials, sha256: Sha256 });
  const request: HttpRequest = {
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query,
    headers: unsigned,
    body: body.length > 0 ? body : undefined,
  };
  return (await signer.sign(request)).headers;
}

/** A Query API call (form POST) to moto, signed as the daemon. */
export async function motoQuery(motoEndpoint: string, form: string, service: string): Promise<Response> {
  const url = new URL('/', motoEndpoint);
  const body = Buffer.from(form);
  const headers = await signAsDaemon(
    url,
    'POST',
    { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body,
    service,
  );
  const { host: _host, ...rest } = headers;
  return fetch(url, { method: 'POST', headers: rest, body });
}

const ALLOW_ALL = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
});

/** An IAM user holding exactly `policy` (inline, replaced on every call), and its one access key. */
export async function iamUser(motoEndpoint: string, name: string, policy: string): Promise<AccessKey> {
  const iam = async (params: Record<string, string>) => {
    const res = await motoQuery(
      motoEndpoint,
      new URLSearchParams({ ...params, Version: '2010-05-08' }).toString(),
      'iam',
    );
    const text = await res.text();
    if (!res.ok && !/EntityAlreadyExists/.test(text)) throw new Error(`IAM ${params['Action']}: ${res.status} ${text}`);
    return text;
  };
  await iam({ Action: 'CreateUser', UserName: name });
  await iam({ Action: 'PutUserPolicy', UserName: name, PolicyName: 'kubeswap-sandbox', PolicyDocument: policy });
  const keys = await iam({ Action: 'ListAccessKeys', UserName: name });
  const known = keys.match(/<AccessKeyId>([^<]+)<\/AccessKeyId>/g);
  if (known && issued.has(name)) return issued.get(name)!;
  const created = await iam({ Action: 'CreateAccessKey', UserName: name });
  const key = {
    accessKeyId: /<AccessKeyId>([^<]+)</.exec(created)![1]!,
    secretAccessKey: /<SecretAccessKey>([^<]+)</.exec(created)![1]!,
  };
  issued.set(name, key);
  return key;
}

const issued = new Map<string, AccessKey>();

/**
 * Turns IAM on in moto: an admin user for the sandbox itself first (the daemon signs as it from then on), then
 * every request is checked. Returns the admin key (the front re-signs the tests' requests with it).
 */
export async function enforceIam(motoEndpoint: string): Promise<AccessKey> {
  const admin = await iamUser(motoEndpoint, 'kubeswap-sandbox-admin', ALLOW_ALL);
  daemonIdentity = admin;
  const res = await fetch(new URL('/moto-api/reset-auth', motoEndpoint), { method: 'POST', body: '0' });
  if (!res.ok) throw new Error(`moto reset-auth: ${res.status} ${await res.text()}`);
  return admin;
}
