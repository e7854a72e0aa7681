#!/usr/bin/env bash
# Writes integration/components/kubernetes-<minor>/go.mod for one Kubernetes release.
# k8s.io/kubernetes pins its staging modules at v0.0.0 with ./staging replaces, which a consumer
# cannot resolve, so every staging module is replaced by its published v0.X.Y tag (kubernetes#79384).
# Run once per new release; commit the go.mod/go.sum it produces.
set -euo pipefail
KV=${1:?usage: gen-kubernetes-module.sh v1.X.Y}
SV=v0.${KV#v1.}
DIR=$(cd "$(dirname "$0")" && pwd)/kubernetes-${KV%.*}
mkdir -p "$DIR" && cd "$DIR"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
rm -f go.mod go.sum
go mod init "kubeswap.invalid/components/kubernetes-${KV%.*}"
UPMOD=$(go mod download -json "k8s.io/kubernetes@$KV" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
GOLINE=$(sed -n 's/^go \(.*\)/\1/p' "$UPMOD"); go mod edit -go="$GOLINE"
GODEBUG_LINE=$(sed -n 's/^godebug \(.*\)/\1/p' "$UPMOD"); [ -n "$GODEBUG_LINE" ] && go mod edit -godebug="$GODEBUG_LINE"
for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$UPMOD"); do go mod edit "-replace=$m=$m@$SV"; done
go get -tool k8s.io/kubernetes/cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,kubeadm}@"$KV"
go mod tidy
