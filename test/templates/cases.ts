// The rendered user data the snapshots hold and the integration test feeds to `kubeadm config validate`. Tokens and
// keys are fixed, obviously fake values in the right format.
import { renderControlPlaneJoin } from '../../templates/control-plane-join.ts';
import { renderWorkerJoin } from '../../templates/worker-join.ts';

export const credentials = {
  token: 'abcdef.0123456789abcdef',
  caCertHashes: ['sha256:7c5ba6b4bc5ad28c8efb4bd5e3a1cfa8c5ab2c26fd2bb3a26f89a7a3e1e47a8c'],
  certificateKey: 'e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204',
};

export interface TemplateCase {
  name: string;
  /** Snapshot file under __snapshots__/. */
  snapshot: string;
  kubernetesVersion: string;
  render: () => string;
}

export const cases: TemplateCase[] = [
  {
    name: 'control-plane join for v1.37 (v1beta4): certificate key, kubelet args as a list, hooks, IMDS node name',
    snapshot: 'control-plane-v1.37.yaml',
    kubernetesVersion: 'v1.37.2',
    render: () =>
      renderControlPlaneJoin({
        kubernetesVersion: 'v1.37.2',
        apiServerEndpoint: 'api.cluster.example.internal:6443',
        credentials,
        kubeletExtraArgs: {
          'node-labels': 'pool=control-plane,zone=eu-west-1a',
          'read-only-port': '0',
          'rotate-server-certificates': 'true',
        },
        hooks: {
          beforeJoin: ['systemctl enable --now containerd', 'echo on > /etc/kubeswap-marker'],
          afterJoin: ['/usr/local/bin/signal-ready --resource ControlPlane'],
        },
      }),
  },
  {
    name: 'control-plane join for v1.36 (v1beta4): fixed node name, advertise port, no certificate key',
    snapshot: 'control-plane-v1.36.yaml',
    kubernetesVersion: 'v1.36.3',
    render: () =>
      renderControlPlaneJoin({
        kubernetesVersion: 'v1.36.3',
        apiServerEndpoint: '10.0.0.10:6443',
        credentials: { token: credentials.token, caCertHashes: credentials.caCertHashes },
        nodeName: { fixed: 'cp-2' },
        localAPIEndpoint: { bindPort: 6443 },
        criSocket: 'unix:///var/run/containerd/containerd.sock',
      }),
  },
  {
    name: 'control-plane join for v1.30 (v1beta3): kubelet args as a map, YAML 1.1 look-alikes quoted',
    snapshot: 'control-plane-v1.30.yaml',
    kubernetesVersion: 'v1.30.14',
    render: () =>
      renderControlPlaneJoin({
        kubernetesVersion: 'v1.30.14',
        apiServerEndpoint: 'api.cluster.example.internal:6443',
        credentials,
        nodeName: 'hostname',
        kubeletExtraArgs: { 'cloud-provider': 'external', 'fail-swap-on': 'no', v: '2' },
        ignorePreflightErrors: ['NumCPU'],
      }),
  },
  {
    name: 'worker join for v1.37 (v1beta4): no controlPlane section and no certificate key',
    snapshot: 'worker-v1.37.yaml',
    kubernetesVersion: 'v1.37.2',
    render: () =>
      renderWorkerJoin({
        kubernetesVersion: 'v1.37.2',
        apiServerEndpoint: 'api.cluster.example.internal:6443',
        credentials,
        kubeletExtraArgs: { 'node-labels': 'pool=general' },
        hooks: { afterJoin: ['touch /var/lib/joined'] },
      }),
  },
];
