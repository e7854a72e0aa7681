// Short-lived bootstrap tokens made the way kubeadm makes them (apis/bootstraptoken/v1 BootstrapTokenToSecret,
// cluster-bootstrap token/util GenerateBootstrapToken), labelled with the run that made them so a re-run can find
// and delete what a killed run left behind. Token secrets never leave this module except through JoinCredentials.
import { createHash, randomInt } from 'node:crypto';
import { inspect } from 'node:util';
import type { KubePort, SecretView } from '../../ports/kube.ts';
import { BOOTSTRAP_TOKEN_GROUP } from './join-rbac.ts';

export const RUN_ID_LABEL = 'kubeswap.io/run-id';
/** Why kubeswap made a token: `join` authenticates machines, `kubeadm-certs` only carries that Secret's TTL. */
export const TOKEN_PURPOSE_LABEL = 'kubeswap.io/token-purpose';
export type TokenPurpose = 'join' | 'kubeadm-certs';
/** Which replacement attempt a join token was issued for (render mode issues one per replacement). */
export const REPLACEMENT_LABEL = 'kubeswap.io/replacement';

/** A label value for (machine replaced, attempt): hashed, since provider ids need not be valid label values. */
export function replacementLabel(replacesMachineId: string, attempt: number): string {
  return createHash('sha256').update(`${replacesMachineId}/${attempt}`).digest('hex').slice(0, 32);
}

export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
export const TOKEN_NAMESPACE = 'kube-system';
// cluster-bootstrap's validBootstrapTokenChars and BootstrapTokenPattern.
const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
export const BOOTSTRAP_TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export interface BootstrapToken {
  id: string;
  /** `<id>.<secret>`: what `kubeadm join` takes. Never log it. */
  token: string;
  expires: Date;
  /** Name of its Secret in kube-system (an owner reference target for kubeadm-certs). */
  secretName: string;
}

export interface NewTokenOptions {
  runId: string;
  ttlSeconds: number;
  now: Date;
  purpose: TokenPurpose;
  /** replacementLabel() of the replacement a join token is for. */
  replacement?: string;
}

export const tokenSecretName = (id: string) => `bootstrap-token-${id}`;

/** Uniform over [a-z0-9] like cluster-bootstrap's randBytes (crypto/rand.Int per character, no modulo bias). */
function randomTokenPart(length: number): string {
  let part = '';
  for (let i = 0; i < length; i++) part += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return part;
}

/** Go's time.RFC3339 in UTC as kubeadm writes `expiration`: no fractional seconds. */
export function rfc3339(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The Secret kubeadm's encodeTokenSecretData writes. A join token authenticates and signs cluster-info in the
 * kubeadm default-node-token group; a TTL proxy (copycerts createShortLivedBootstrapToken) has no usages at all.
 */
export function tokenSecret(id: string, secret: string, options: NewTokenOptions): Omit<SecretView, 'resourceVersion'> {
  const expires = new Date(options.now.getTime() + options.ttlSeconds * 1000);
  const data: Record<string, string> = {
    'token-id': id,
    'token-secret': secret,
    expiration: rfc3339(expires),
  };
  if (options.purpose === 'join') {
    data.description = `kubeswap run ${options.runId}: joins one replacement machine; deleted when the run ends`;
    data['usage-bootstrap-authentication'] = 'true';
    data['usage-bootstrap-signing'] = 'true';
    data['auth-extra-groups'] = BOOTSTRAP_TOKEN_GROUP;
  } else {
    data.description = `kubeswap run ${options.runId}: proxy for managing TTL for the kubeadm-certs secret`;
  }
  return {
    namespace: TOKEN_NAMESPACE,
    name: tokenSecretName(id),
    type: BOOTSTRAP_TOKEN_TYPE,
    data,
    labels: {
      [RUN_ID_LABEL]: options.runId,
      [TOKEN_PURPOSE_LABEL]: options.purpose,
      ...(options.replacement ? { [REPLACEMENT_LABEL]: options.replacement } : {}),
    },
  };
}

/** Creates a fresh token; a (vanishingly rare) id collision draws again instead of overwriting someone's token. */
export async function createBootstrapToken(kube: KubePort, options: NewTokenOptions): Promise<BootstrapToken> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const id = randomTokenPart(6);
    const secret = randomTokenPart(16);
    const body = tokenSecret(id, secret, options);
    if ((await kube.createSecret(body)) === 'created') {
      return { id, token: `${id}.${secret}`, expires: new Date(body.data.expiration!), secretName: body.name };
    }
  }
  throw new Error('could not create a bootstrap token: every generated token id already exists');
}

export async function deleteBootstrapToken(kube: KubePort, id: string): Promise<'deleted' | 'gone'> {
  return kube.deleteSecret(TOKEN_NAMESPACE, tokenSecretName(id));
}

/** A token of this run and purpose (and replacement), read back from its Secret: a resumed run reuses it. */
export async function findRunToken(
  kube: KubePort,
  runId: string,
  purpose: TokenPurpose,
  replacement?: string,
): Promise<BootstrapToken | undefined> {
  const selector = `${RUN_ID_LABEL}=${runId},${TOKEN_PURPOSE_LABEL}=${purpose}`;
  const secrets = await kubeswapTokens(
    kube,
    replacement ? `${selector},${REPLACEMENT_LABEL}=${replacement}` : selector,
  );
  for (const secret of secrets) {
    const { 'token-id': id, 'token-secret': value, expiration } = secret.data;
    const expires = expiration ? new Date(expiration) : undefined;
    if (!id || !value || !expires || Number.isNaN(expires.getTime())) continue;
    return { id, token: `${id}.${value}`, expires, secretName: secret.name };
  }
  return undefined;
}

export interface TokenCleanup {
  /** Only this run's tokens (a run's own cleanup); default: every run's. */
  runId?: string;
  /** The run starting or resuming: its tokens stay. */
  keepRunId?: string;
  purpose?: TokenPurpose;
  /** Token ids that stay (e.g. the one just created). */
  keepIds?: readonly string[];
  /** Only tokens that expire before this instant. */
  expiresBefore?: Date;
}

/**
 * Deletes kubeswap's tokens: at the start of a run those a killed run left (it never reached its cleanup), at the
 * end the run's own. Only Secrets carrying our run label are touched: `kubeadm token create` tokens have none.
 */
export async function cleanupRunTokens(kube: KubePort, cleanup: TokenCleanup = {}): Promise<string[]> {
  const selector = [cleanup.runId ? `${RUN_ID_LABEL}=${cleanup.runId}` : RUN_ID_LABEL];
  if (cleanup.purpose) selector.push(`${TOKEN_PURPOSE_LABEL}=${cleanup.purpose}`);
  const deleted: string[] = [];
  for (const secret of await kubeswapTokens(kube, selector.join(','))) {
    if (cleanup.keepRunId !== undefined && secret.labels[RUN_ID_LABEL] === cleanup.keepRunId) continue;
    if (cleanup.keepIds?.includes(secret.data['token-id'] ?? '')) continue;
    if (cleanup.expiresBefore) {
      const expires = new Date(secret.data.expiration ?? '');
      if (!Number.isNaN(expires.getTime()) && expires >= cleanup.expiresBefore) continue;
    }
    await kube.deleteSecret(TOKEN_NAMESPACE, secret.name);
    deleted.push(secret.name);
  }
  return deleted;
}

async function kubeswapTokens(kube: KubePort, labelSelector: string): Promise<SecretView[]> {
  const secrets = await kube.listSecrets(TOKEN_NAMESPACE, { labelSelector, type: BOOTSTRAP_TOKEN_TYPE });
  // The type filter is a field selector the real API applies; check again so a lax fake or proxy cannot widen it.
  return secrets.filter((s) => s.type === BOOTSTRAP_TOKEN_TYPE && s.name.startsWith('bootstrap-token-'));
}

/**
 * What a machine needs to run `kubeadm join`. The token and certificate key live in private fields behind getters,
 * so JSON.stringify, util.inspect, spreading and template strings all show the redacted form; only a template that
 * asks for `.token` / `.certificateKey` by name gets the secrets.
 */
export class JoinCredentials {
  readonly #token: string;
  readonly #certificateKey: string | undefined;
  readonly caCertHashes: readonly string[];

  constructor(token: string, caCertHashes: readonly string[], certificateKey?: string) {
    this.#token = token;
    this.caCertHashes = [...caCertHashes];
    this.#certificateKey = certificateKey;
  }

  get token(): string {
    return this.#token;
  }

  get certificateKey(): string | undefined {
    return this.#certificateKey;
  }

  /** The token id is public (it names the Secret); its secret half and the certificate key are not. */
  redact(): { token: string; caCertHashes: string[]; certificateKey?: string } {
    const id = this.#token.split('.')[0] ?? '';
    return {
      token: `${id}.<redacted>`,
      caCertHashes: [...this.caCertHashes],
      ...(this.#certificateKey !== undefined ? { certificateKey: '<redacted>' } : {}),
    };
  }

  toJSON() {
    return this.redact();
  }

  toString(): string {
    return `JoinCredentials ${JSON.stringify(this.redact())}`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
