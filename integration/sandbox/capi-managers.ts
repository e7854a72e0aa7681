// The real Cluster API controllers, run against the sandbox apiserver as a self-hosted management cluster (the
// sandbox is its own management and workload cluster, as the clusters of cluster-api-upgrade-tool's users were):
// the core manager (`core/` in v1.14) and the kubeadm bootstrap provider CABPK (`bootstrap/kubeadm/`), built by
// integration/components/build.sh cluster-api-managers. Only with `--provider cluster-api`.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, createLeaf } from '../fixtures/pki.ts';
import { allocatePort, waitFor } from './processes.ts';
import type { Runtime } from './runtime.ts';

export const CORE_MANAGER = 'capi-controller-manager';
export const BOOTSTRAP_MANAGER = 'capi-kubeadm-bootstrap-controller-manager';

/**
 * controller-runtime refuses to start a manager whose webhook server has no serving certificate; the sandbox
 * installs no webhook configurations (nothing calls them), so any certificate for 127.0.0.1 will do: the test PKI's
 * (a throw-away CA and a leaf named tls.crt/tls.key, the file names controller-runtime reads).
 */
export async function makeWebhookCerts(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await createLeaf(dir, await createCa(dir, 'capi-webhook-ca'), 'tls', 'serverAuth');
  return dir;
}

/** Starts both managers (127.0.0.1 only) and waits until their health endpoints say ready. */
export async function startClusterApiManagers(rt: Runtime, kubeconfig: string): Promise<void> {
  const dir = rt.plan.binaries.clusterApiManagersDir;
  if (!dir) throw new Error('the plan has no Cluster API managers (build.sh cluster-api-managers)');
  const certDir = await makeWebhookCerts(join(rt.stateDir, 'pki', 'capi-webhook'));
  const managers = [
    { name: CORE_MANAGER, binary: 'cluster-api-manager' },
    { name: BOOTSTRAP_MANAGER, binary: 'kubeadm-bootstrap-manager' },
  ];
  const health: string[] = [];
  for (const m of managers) {
    const healthAddr = `127.0.0.1:${await allocatePort()}`;
    health.push(healthAddr);
    rt.processes.start(
      m.name,
      join(dir, m.binary),
      [
        `--kubeconfig=${kubeconfig}`,
        '--leader-elect=false',
        `--webhook-port=${await allocatePort()}`,
        `--webhook-cert-dir=${certDir}`,
        `--health-addr=${healthAddr}`,
        `--diagnostics-address=127.0.0.1:${await allocatePort()}`,
        '--insecure-diagnostics',
        // ClusterClass and MachinePools are not part of the machine-based control planes the sandbox plays.
        '--feature-gates=ClusterTopology=false,MachinePool=false',
        // The sandbox's Nodes come and go in seconds; the defaults (minutes) would slow every scenario.
        '--sync-period=1m',
      ],
      { ...process.env, KUBECONFIG: kubeconfig },
    );
  }
  await Promise.all(
    health.map((addr, i) =>
      waitFor(
        `${managers[i]!.name} to be ready`,
        async () => ((await fetch(`http://${addr}/readyz`)).ok ? true : undefined),
        90_000,
        500,
      ),
    ),
  );
  rt.log(`cluster-api: ${managers.map((m) => m.name).join(' and ')} ready`);
}
