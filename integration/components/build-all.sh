#!/usr/bin/env bash
# Builds (once, cached) every component the sandbox and the integration tests need.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
"$HERE/build.sh" etcd >/dev/null
"$HERE/build.sh" kwok >/dev/null
"$HERE/build.sh" kubernetes "$KUBERNETES_FROM" kube-apiserver kubeadm kubectl >/dev/null
"$HERE/build.sh" kubernetes "$KUBERNETES_TO" kube-apiserver kubeadm kubectl kube-controller-manager kube-scheduler >/dev/null
"$HERE/build.sh" cluster-api >/dev/null
# The Cluster API core manager and CABPK (sandbox --provider cluster-api): about 6.5 min cold on 2 shared cores.
"$HERE/build.sh" cluster-api-managers >/dev/null
