// Render mode (`--user-data render`): kubeswap hands each replacement what `kubeadm join` needs instead of relying
// on the launch template's user data. Before the first replacement: clear what a killed run left, make (or, on a
// resumed run, reuse) a short-lived join token, pin the cluster CA, upload the control-plane certificates when
// asked; per machine: render the cloud-init; at the end of the run (done, failed or rolled back): delete them.
// Nothing here emits or logs: `summary` is the only description meant for output, and it holds no secret.
import { parse } from 'yaml';
import type { JoinHooks } from '../../../templates/cloud-config.ts';
import { renderControlPlaneJoin } from '../../../templates/control-plane-join.ts';
import { joinApiVersion } from '../../../templates/join-configuration.ts';
import { invalid, KubeswapError, type Problem } from '../../domain/errors.ts';
import { caCertHash } from '../../domain/kubeadm/ca-pin.ts';
import type { KubePort } from '../../ports/kube.ts';
import type { SecretBytesPort } from '../../ports/secrets.ts';
import { cleanupRunTokens, createBootstrapToken, findRunToken, JoinCredentials } from './bootstrap-token.ts';
import { deleteKubeadmCerts, isCertificateKey, KUBEADM_CERTS_SECRET, uploadKubeadmCerts } from './kubeadm-certs.ts';

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;
const EC2_USER_DATA_LIMIT = 16 * 1024;

export interface RenderModeOptions {
  runId: string;
  targetVersion: string;
  /** host:port the machines join through; default: the server in kube-public/cluster-info. */
  apiServerEndpoint?: string;
  /** The cluster CA (PEM) to pin; default: the CA in kube-public/cluster-info, which token discovery trusts too. */
  caCertPem?: string;
  /** Join token lifetime: the whole run plus margin (default 1 h). */
  ttlSeconds?: number;
  /** (a) The user ran `kubeadm init phase upload-certs --upload-certs` and gives its key. */
  certificateKey?: string;
  /** (b) kubeswap uploads ca, sa, front-proxy-ca and etcd/ca from this dir under a fresh key. */
  pkiDir?: string;
  /** Needed with pkiDir: kubeadm-certs holds binary values (src/adapters/kube/secret-bytes.ts). */
  secretBytes?: SecretBytesPort;
  hooks?: JoinHooks;
  kubeletExtraArgs?: Record<string, string>;
  /** How a machine names itself when the engine passes no name (default IMDSv2 local-hostname). */
  nodeName?: 'imds-local-hostname' | 'hostname';
  now: Date;
}

export interface RenderModeSummary {
  tokenId: string;
  tokenExpires: string;
  tokenReused: boolean;
  caCertHash: string;
  certificates: 'uploaded' | 'user-key' | 'none';
  /** Secrets a killed run left behind, deleted before this run made its own. */
  removedLeftovers: string[];
}

export interface RenderMode {
  readonly summary: RenderModeSummary;
  /** Cloud-init for one replacement control-plane machine (contains secrets: pass it only to the provider). */
  userDataFor(replacementNodeName?: string): string;
  /** Deletes this run's tokens and the kubeadm-certs it uploaded; safe to call more than once. */
  cleanup(): Promise<void>;
}

export async function prepareRenderMode(kube: KubePort, options: RenderModeOptions): Promise<RenderMode> {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  const problems = optionProblems(options, ttlSeconds);
  if (problems.length > 0) throw invalid(problems);

  // 1. What the machines trust: the endpoint and CA from cluster-info unless given.
  const info = options.apiServerEndpoint && options.caCertPem ? undefined : await clusterInfo(kube);
  const apiServerEndpoint = options.apiServerEndpoint ?? info!.apiServerEndpoint;
  const caPin = caCertHash(options.caCertPem ?? info!.caCertPem);
  const render = (credentials: JoinCredentials, replacementNodeName?: string) =>
    renderControlPlaneJoin({
      kubernetesVersion: options.targetVersion,
      apiServerEndpoint,
      credentials,
      nodeName: replacementNodeName ? { fixed: replacementNodeName } : (options.nodeName ?? 'imds-local-hostname'),
      kubeletExtraArgs: options.kubeletExtraArgs,
      hooks: options.hooks,
    });
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
  if (options.certificateKey && !(await kube.getSecret('kube-system', KUBEADM_CERTS_SECRET))) {
    throw invalid([
      {
        code: 'certificate-key.no-upload',
        message:
          '--certificate-key given but Secret kube-system/kubeadm-certs does not exist (kubeadm expires it after 2 h)',
        hint: 'run `kubeadm init phase upload-certs --upload-certs` on a control-plane machine and pass the new key',
      },
    ]);
  }

  // 2. A killed run never reached its cleanup: remove its tokens and its kubeadm-certs upload (never the user's).
  const removedLeftovers = await cleanupRunTokens(kube, { keepRunId: options.runId });
  if ((await deleteKubeadmCerts(kube, { exceptRunId: options.runId })) === 'deleted') {
    removedLeftovers.push('kube-system/kubeadm-certs');
  }

  // Both deletions are attempted even if one fails, so one API error does not strand the other secret.
  const cleanup = async () => {
    const results = await Promise.allSettled([
      cleanupRunTokens(kube, { runId: options.runId }),
      deleteKubeadmCerts(kube, { runId: options.runId }),
    ]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  // 3. The join token: a resumed run keeps its token while at least half its lifetime is left.
  // 4. Certificates: upload first (the Secret moves to the new TTL proxy token), then drop older proxies of this run.
  const now = options.now;
  let token = await findRunToken(kube, options.runId, 'join');
  const tokenReused = token !== undefined && token.expires.getTime() - now.getTime() >= (ttlSeconds * 1000) / 2;
  let certificateKey = options.certificateKey;
  try {
    if (!tokenReused) {
      token = await createBootstrapToken(kube, { runId: options.runId, ttlSeconds, now, purpose: 'join' });
      await cleanupRunTokens(kube, { runId: options.runId, purpose: 'join', keepIds: [token.id] });
    }
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
  } catch (err) {
    // The caller gets no handle to clean up with when preparation fails: leave no token behind.
    await cleanup().catch(() => undefined);
    throw err;
  }

  const credentials = new JoinCredentials(token!.token, [caPin], certificateKey);
  const summary: RenderModeSummary = {
    tokenId: token!.id,
    tokenExpires: token!.expires.toISOString(),
    tokenReused,
    caCertHash: caPin,
    certificates: options.pkiDir ? 'uploaded' : certificateKey ? 'user-key' : 'none',
    removedLeftovers,
  };
  const userDataFor = (replacementNodeName?: string) => render(credentials, replacementNodeName);
  return {
    summary,
    userDataFor,
    cleanup,
  };
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
