#!/usr/bin/env bash
# `make demo`: brings a 3-machine sandbox up, shows how to use it with kubectl and etcdctl, runs kubeswap plan and
# apply FROM -> TO on it, shows the result, and tears it down again on exit (also on Ctrl-C or an error).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(bash integration/components/ensure-node.sh):$PATH"
STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kubeswap-demo-XXXXXX")
rmdir "$STATE_DIR"   # `sandbox up` creates it; an existing empty dir is fine too
teardown() { npx tsx integration/sandbox/cli.ts down --state-dir "$STATE_DIR" >/dev/null 2>&1 || true; }
trap teardown EXIT
trap 'exit 130' INT TERM

npx tsx integration/sandbox/cli.ts up --control-planes "${CONTROL_PLANES:-3}" --state-dir "$STATE_DIR"
# shellcheck disable=SC1091
source "$STATE_DIR/env"

echo
echo "== use it: source $STATE_DIR/env, then"
echo "\$ kubectl get nodes -o wide"
kubectl get nodes -o wide
echo "\$ kubectl -n kube-system get pods"
kubectl -n kube-system get pods
echo "\$ etcdctl member list -w table      # TLS flags come from ETCDCTL_* in env"
etcdctl member list -w table 2>/dev/null
echo "\$ npm run sandbox -- status --state-dir $STATE_DIR    # (AWS_ENDPOINT_URL in env points aws\/SDKs at moto)"
npx tsx integration/sandbox/cli.ts status --state-dir "$STATE_DIR"
TO=$(sed -n 's/^KUBERNETES_TO=//p' integration/components/versions.env)
echo
echo "== kubeswap, with the config the sandbox wrote ($STATE_DIR/kubeswap.yaml)"
echo "\$ npx kubeswap plan --config $STATE_DIR/kubeswap.yaml --to $TO"
node bin/kubeswap.js plan --config "$STATE_DIR/kubeswap.yaml" --to "$TO"
echo
echo "\$ npx kubeswap apply --config $STATE_DIR/kubeswap.yaml --to $TO --yes --snapshot-dir $STATE_DIR"
node bin/kubeswap.js apply --config "$STATE_DIR/kubeswap.yaml" --to "$TO" --yes --snapshot-dir "$STATE_DIR"
echo
echo "== after the upgrade"
# The sandbox rewrites env as machines come and go: the old etcd endpoints are retired now.
# shellcheck disable=SC1091
source "$STATE_DIR/env"
kubectl get nodes -o wide
etcdctl member list -w table 2>/dev/null
kubectl -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | grep kubernetesVersion
if [ -n "${DEMO_HOLD:-}" ]; then echo "DEMO_HOLD set: press Enter to tear down"; read -r; fi
echo "tearing the sandbox down"
