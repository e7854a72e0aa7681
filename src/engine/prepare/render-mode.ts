// Render mode (`--user-data render`): kubeswap hands each replacement what `kubeadm join` needs instead of relying
// on the launch template's user data. Before the first replacement: check every input (CA pin, PKI dir, user data
// size) and clear what a killed run of another id left. Per replacement, right before it is created: issue its own
// join token, with a lifetime that covers its machine timeout, and upload the control-plane certificates under a
// fresh key when asked, then render its cloud-init. At the end of the run (done, failed or rolled back): delete them.
// Why per replacement: one token for the whole run expires under a long run; and a resumed run that re-uploaded the
// certificates at its start sealed them under a new key, so a replacement the killed run had launched (holding the
// old key in its user data) could no longer decrypt them and waited out the machine timeout. Now a resumed run
// touches nothing until it creates the next replacement, by which time the one in flight has joined or been rolled
// back (one replacement in flight at a time).
// Nothing here emits or logs: `summary` and `IssuedCredentials` are what is meant for output; neither holds a secret.
import { parse } from 'yaml';
import type { JoinHooks } from '../../../templates/cloud-config.ts';
import {
  type ControlPlaneJoinInput,
  controlPlaneJoinConfiguration,
  renderControlPlaneJoin,
  renderControlPlaneJoinFetching,
} from '../../../templates/control-plane-join.ts';
import { JOIN_CONFIG_PATH, joinApiVersion } from '../../../templates/join-configuration.ts';
import { invalid, KubeswapError, type Problem } from '../../domain/errors.ts';
import { caCertHash } from '../../domain/kubeadm/ca-pin.ts';
import type { KubePort } from '../../ports/kube.ts';
import type { BootstrapSecretStore, SecretBytesPort } from '../../ports/secrets.ts';
import {
  cleanupRunTokens,
  createBootstrapToken,
  findRunToken,
  JoinCredentials,
  replacementLabel,
} from './bootstrap-token.ts';
import {
  deleteKubeadmCerts,
  isCertificateKey,
  KUBEADM_CERTS_SECRET,
  readClusterPki,
  uploadKubeadmCerts,
} from './kubeadm-certs.ts';

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
/** A replacement's credentials outlive its machine timeout by this much (boot and join finish before it ends). */
const CREDENTIAL_MARGIN_SECONDS = 10 * 60;
const EC2_USER_DATA_LIMIT = 16 * 1024;

export interface RenderModeOptions {
  runId: string;
  targetVersion: string;
  /** host:port the machines join through; default: the server in kube-public/cluster-info. */
  apiServerEndpoint?: string;
  /** The cluster CA (PEM) to pin; default: the CA in kube-public/cluster-info, which token discovery trusts too. */
  caCertPem?: string;
  /** Least lifetime of a replacement's join token and certificate upload (default 1 h). */
  ttlSeconds?: number;
  /** A replacement that has not joined by then is rolled back: its credentials live at least this plus a margin. */
  machineTimeoutMs: number;
  /** (a) The user ran `kubeadm init phase upload-certs --upload-certs` and gives its key. */
  certificateKey?: string;
  /** (b) kubeswap uploads ca, sa, front-proxy-ca and etcd/ca from this dir under a fresh key. */
  pkiDir?: string;
  /** Needed with pkiDir: kubeadm-certs holds binary values (src/adapters/kube/secret-bytes.ts). */
  secretBytes?: SecretBytesPort;
  hooks?: JoinHooks;
  /** Keep each JoinConfiguration there (`--bootstrap-secrets ssm`): the user data then only names it. */
  secretStore?: BootstrapSecretStore;
  kubeletExtraArgs?: Record<string, string>;
  /** How a machine names itself when the engine passes no name (default IMDSv2 local-hostname). */
  nodeName?: 'imds-local-hostname' | 'hostname';
  now: Date;
  /** Current time for each issuance (default: `now`, which tests pin). */
  clock?: () => Date;
}

export interface RenderModeSummary {
  caCertHash: string;
  /** `uploaded`: kubeswap uploads them for each replacement under a fresh key. */
  certificates: 'uploaded' | 'user-key' | 'none';
  /** Lifetime of each replacement's join token (and certificate upload). */
  credentialTtlSeconds: number;
  /** Where the secrets travel: in the user data, or in a store the machine reads at boot (`ssm`). */
  secretsIn: string;
  /** Secrets a killed run left behind, deleted before this run made its own. */
  removedLeftovers: string[];
}

/** The replacement attempt credentials are issued for (one attempt = one create idempotency key). */
export interface ReplacementAttempt {
  /** Id of the machine being replaced. */
  replaces: string;
  attempt: number;
  /** Node name the replacement takes; default: the machine names itself (IMDS local-hostname). */
  nodeName?: string;
}

export interface IssuedCredentials {
  /** Cloud-init for the replacement (contains secrets: pass it only to the provider). */
  userData: string;
  /** Public description of what was issued, for events: no secret. */
  tokenId: string;
  tokenExpires: string;
  /** The same attempt was issued a token by an earlier (killed) process of this run, still valid: reused. */
  tokenReused: boolean;
  certificatesUploaded: boolean;
  /** The store's name of the secret the machine fetches (`--bootstrap-secrets`), not a secret itself. */
  storedAs?: string;
}

export interface RenderMode {
  readonly summary: RenderModeSummary;
  /** Issues one replacement's join credentials and renders its cloud-init. */
  issue(replacement: ReplacementAttempt): Promise<IssuedCredentials>;
  /** Deletes this run's tokens and the kubeadm-certs it uploaded; safe to call more than once. */
  cleanup(): Promise<void>;
}

export async function prepareRenderMode(kube: KubePort, options: RenderModeOptions): Promise<RenderMode> {
  const floorSeconds = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const problems = optionProblems(options, floorSeconds);
  if (problems.length > 0) throw invalid(problems);
  const ttlSeconds = Math.max(floorSeconds, Math.ceil(options.machineTimeoutMs / 1000) + CREDENTIAL_MARGIN_SECONDS);
  const clock = options.clock ?? (() => options.now);

  // 1. What the machines trust: the endpoint and CA from cluster-info unless given.
  const info = options.apiServerEndpoint && options.caCertPem ? undefined : await clusterInfo(kube);
  const apiServerEndpoint = options.apiServerEndpoint ?? info!.apiServerEndpoint;
  const caPin = caCertHash(options.caCertPem ?? info!.caCertPem);
  const joinInput = (credentials: JoinCredentials, replacementNodeName?: string): ControlPlaneJoinInput => ({
    kubernetesVersion: options.targetVersion,
    apiServerEndpoint,
    credentials,
    nodeName: replacementNodeName ? { fixed: replacementNodeName } : (options.nodeName ?? 'imds-local-hostname'),
    kubeletExtraArgs: options.kubeletExtraArgs,
    hooks: options.hooks,
  });
  const render = (credentials: JoinCredentials, replacementNodeName?: string) =>
    renderControlPlaneJoin(joinInput(credentials, replacementNodeName));
  const store = options.secretStore;
  // EC2 refuses user data over 16 KB (before base64): find out before creating anything, not at a launch mid-run.
  // Placeholder secrets have the real lengths; 63 characters is the longest node name label.
  const withKey = options.certificateKey !== undefined || options.pkiDir !== undefined;
  const placeholder = new JoinCredentials(
    `${'a'.repeat(6)}.${'b'.repeat(16)}`,
    [caPin],
    withKey ? 'f'.repeat(64) : undefined,
  );
  const size = Buffer.byteLength(render(placeholder, 'x'.repeat(63)));
  if (size > EC2_USER_DATA_LIMIT) {
    throw invalid([
      {
        code: 'render.user-data-too-large',
        message: `rendered user data is ${size} bytes; EC2 accepts at most ${EC2_USER_DATA_LIMIT}`,
        hint: 'move long hooks into a script baked into the image and call it from the hook',
      },
    ]);
  }
  // (a) The key is useless without the user's upload, which kubeadm expires after 2 h: check it is there now.
  if (options.certificateKey) await requireUserUpload(kube);
  // (b) The PKI dir is read and matched against the pinned CA now: a wrong one is refused before any change.
  if (options.pkiDir) await readClusterPki(options.pkiDir, caPin);

  // 2. A killed run of another id never reached its cleanup: remove its tokens and its kubeadm-certs upload (never
  // the user's). This run's own (a resumed run) stay: the replacement in flight may still need them.
  const removedLeftovers = await cleanupRunTokens(kube, { keepRunId: options.runId });
  if ((await deleteKubeadmCerts(kube, { exceptRunId: options.runId })) === 'deleted') {
    removedLeftovers.push('kube-system/kubeadm-certs');
  }
  if (store) {
    for (const name of await store.list()) {
      if (name.startsWith(`${options.runId}/`)) continue;
      await store.delete(name);
      removedLeftovers.push(`${store.kind}:${name}`);
    }
  }
  /** The run's stored join secrets, except `keep`. */
  const dropStored = async (keep?: string) => {
    if (!store) return;
    for (const name of await store.list(options.runId)) if (name !== keep) await store.delete(name);
  };

  // Every deletion is attempted even if one fails, so one API error does not strand another secret.
  const cleanup = async () => {
    const results = await Promise.allSettled([
      cleanupRunTokens(kube, { runId: options.runId }),
      deleteKubeadmCerts(kube, { runId: options.runId }),
      dropStored(),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  // 3. Per replacement: its own token (a restarted process re-creating the same attempt, whose create may return
  // the instance the killed process launched with that token, reuses it while it outlives a machine timeout),
  // then the certificates under a fresh key. The run's tokens for earlier replacements go: only one is in flight.
  const issue = async (r: ReplacementAttempt): Promise<IssuedCredentials> => {
    const now = clock();
    const replacement = replacementLabel(r.replaces, r.attempt);
    let token = await findRunToken(kube, options.runId, 'join', replacement);
    const tokenReused = token !== undefined && token.expires.getTime() - now.getTime() >= options.machineTimeoutMs;
    if (!tokenReused) {
      token = await createBootstrapToken(kube, { runId: options.runId, ttlSeconds, now, purpose: 'join', replacement });
    }
    await cleanupRunTokens(kube, { runId: options.runId, purpose: 'join', keepIds: [token!.id] });
    let certificateKey = options.certificateKey;
    if (certificateKey) await requireUserUpload(kube);
    if (options.pkiDir) {
      const uploaded = await uploadKubeadmCerts(kube, options.secretBytes!, {
        pkiDir: options.pkiDir,
        runId: options.runId,
        ttlSeconds,
        now,
        expectedCaPin: caPin,
      });
      certificateKey = uploaded.certificateKey;
      await cleanupRunTokens(kube, {
        runId: options.runId,
        purpose: 'kubeadm-certs',
        keepIds: [uploaded.proxyTokenId],
      });
    }
    const credentials = new JoinCredentials(token!.token, [caPin], certificateKey);
    const issued = {
      tokenId: token!.id,
      tokenExpires: token!.expires.toISOString(),
      tokenReused,
      certificatesUploaded: options.pkiDir !== undefined,
    };
    if (!store) return { ...issued, userData: render(credentials, r.nodeName) };
    // The secrets go to the store, the user data only fetches them; the previous replacement's entry goes.
    const name = `${options.runId}/${replacement}`;
    const input = joinInput(credentials, r.nodeName);
    await store.put(name, controlPlaneJoinConfiguration(input));
    await dropStored(name);
    return {
      ...issued,
      storedAs: name,
      userData: renderControlPlaneJoinFetching(input, store.fetchLines(name, JOIN_CONFIG_PATH)),
    };
  };

  const summary: RenderModeSummary = {
    caCertHash: caPin,
    certificates: options.pkiDir ? 'uploaded' : options.certificateKey ? 'user-key' : 'none',
    credentialTtlSeconds: ttlSeconds,
    secretsIn: store ? store.kind : 'user-data',
    removedLeftovers,
  };
  return { summary, issue, cleanup };
}

async function requireUserUpload(kube: KubePort): Promise<void> {
  if (await kube.getSecret('kube-system', KUBEADM_CERTS_SECRET)) return;
  throw invalid([
    {
      code: 'certificate-key.no-upload',
      message:
        '--certificate-key given but Secret kube-system/kubeadm-certs does not exist (kubeadm expires it after 2 h)',
      hint: 'run `kubeadm init phase upload-certs --upload-certs` on a control-plane machine and pass the new key',
    },
  ]);
}

function optionProblems(options: RenderModeOptions, ttlSeconds: number): Problem[] {
  const problems: Problem[] = [];
  try {
    joinApiVersion(options.targetVersion);
  } catch (err) {
    problems.push({ code: 'render.version-unsupported', message: (err as Error).message });
  }
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60) {
    problems.push({ code: 'token-ttl.invalid', message: `--token-ttl must be at least 60 s (got ${ttlSeconds})` });
  }
  if (options.certificateKey !== undefined && options.pkiDir !== undefined) {
    problems.push({
      code: 'certificates.conflict',
      message: '--certificate-key and --pki-dir exclude each other',
      hint: 'give --certificate-key after your own `kubeadm init phase upload-certs`, or --pki-dir for kubeswap to upload',
    });
  }
  if (options.certificateKey !== undefined && !isCertificateKey(options.certificateKey)) {
    problems.push({ code: 'certificate-key.invalid', message: '--certificate-key must be 64 hex characters' });
  }
  if (options.pkiDir !== undefined && !options.secretBytes) {
    problems.push({
      code: 'internal.secret-bytes-missing',
      message: 'render mode with --pki-dir needs a SecretBytesPort',
    });
  }
  return problems;
}

/**
 * kube-public/cluster-info, the kubeconfig kubeadm publishes for token discovery (phases/bootstraptoken/clusterinfo):
 * its server is the endpoint joins use and its CA is what the pin must match.
 */
async function clusterInfo(kube: KubePort): Promise<{ apiServerEndpoint: string; caCertPem: string }> {
  const cm = await kube.getConfigMap('kube-public', 'cluster-info');
  const kubeconfig = cm?.data.kubeconfig ? (parse(cm.data.kubeconfig) as any) : undefined;
  const cluster = kubeconfig?.clusters?.[0]?.cluster;
  const server: unknown = cluster?.server;
  const caData: unknown = cluster?.['certificate-authority-data'];
  if (typeof server !== 'string' || typeof caData !== 'string') {
    throw new KubeswapError(
      'invalid',
      'render.cluster-info-missing',
      'kube-public/cluster-info is missing or has no server and CA: cannot tell machines where and whom to trust',
      { hint: 'run `kubeadm init phase bootstrap-token` on a control-plane machine, or pass the API endpoint and CA' },
    );
  }
  // kubeadm wants host:port (net.SplitHostPort); URL drops the default 443, so put it back.
  const url = new URL(server);
  const apiServerEndpoint = `${url.hostname}:${url.port || '443'}`;
  return { apiServerEndpoint, caCertPem: Buffer.from(caData, 'base64').toString('utf8') };
}
