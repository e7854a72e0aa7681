#!/usr/bin/env bash
# Builds the sandbox's real components from published Go modules into a cache outside the repo,
# one folder per component and version, and only what is missing.
#   build.sh kubernetes v1.37.2 kube-apiserver kubeadm ...   build.sh etcd   build.sh kwok   build.sh cluster-api
#   build.sh cluster-api-managers   (the Cluster API core manager and the kubeadm bootstrap provider, CABPK)
# Prints the folder holding the result on its last line.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.env"
CACHE=${KUBESWAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeswap}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# The committed go.sum verifies every module; no checksum database is needed on a closed network.
export GONOSUMDB=${GONOSUMDB:-k8s.io,sigs.k8s.io,go.etcd.io} GOFLAGS="-mod=mod"

log() { echo "build: $*" >&2; }

# build_into OUT MODULE_DIR LDFLAGS name=package...: builds the missing binaries, then moves them in
# atomically so an interrupted build never leaves a half-written binary that looks cached.
build_into() {
  local out=$1 mod=$2 ldflags=$3; shift 3
  local missing=() pkgs=() spec
  # One build per folder at a time: a second caller waits, then finds the binaries and builds nothing.
  mkdir -p "$out"; exec 9>"$out/.lock"; flock 9
  for spec in "$@"; do [ -x "$out/${spec%%=*}" ] || { missing+=("${spec%%=*}"); pkgs+=("${spec#*=}"); }; done
  [ ${#missing[@]} -eq 0 ] && return 0
  local tmp; tmp=$(mktemp -d "$out/.build.XXXXXX")
  log "building ${missing[*]} into $out (cold builds take minutes)"
  local t0=$SECONDS i
  for i in "${!missing[@]}"; do
    (cd "$mod" && go build -trimpath ${EXTRA_BUILD_FLAGS:-} -ldflags "$ldflags" -o "$tmp/${missing[$i]}" "${pkgs[$i]}")
  done
  for i in "${missing[@]}"; do mv "$tmp/$i" "$out/$i"; done
  rmdir "$tmp"; log "built ${missing[*]} in $((SECONDS - t0)) s"
}

component=${1:?usage: build.sh kubernetes VERSION BIN... | etcd | kwok | cluster-api | cluster-api-managers}; shift
case "$component" in
  kubernetes)
    kv=${1:?kubernetes version}; shift
    mod="$HERE/kubernetes-${kv%.*}"
    [ -f "$mod/go.mod" ] || { echo "no module for $kv: run integration/components/gen-kubernetes-module.sh $kv" >&2; exit 2; }
    out="$CACHE/kubernetes-$kv"; minor=$(echo "$kv" | cut -d. -f2)
    # Stamp the version like upstream hack/lib/version.sh, or /version reports v0.0.0-master.
    ldf="-s -w"
    for kvp in "gitVersion=$kv" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean" "buildDate=1970-01-01T00:00:00Z"; do
      ldf="$ldf -X k8s.io/component-base/version.$kvp -X k8s.io/client-go/pkg/version.$kvp"; done
    specs=(); for b in "${@:-kube-apiserver kubeadm kubectl}"; do for x in $b; do specs+=("$x=k8s.io/kubernetes/cmd/$x"); done; done
    build_into "$out" "$mod" "$ldf" "${specs[@]}"
    echo "$out" ;;
  etcd)
    out="$CACHE/etcd-$ETCD_VERSION"
    build_into "$out" "$HERE/etcd" "-s -w" etcd=go.etcd.io/etcd/server/v3 etcdctl=go.etcd.io/etcd/etcdctl/v3
    echo "$out" ;;
  kwok)
    out="$CACHE/kwok-$KWOK_VERSION"
    build_into "$out" "$HERE/kwok" "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" kwok=sigs.k8s.io/kwok/cmd/kwok
    echo "$out" ;;
  cluster-api)
    # Only the module source is needed (its CRD YAML); print where the module cache holds it.
    (cd "$HERE/cluster-api" && go mod download -json sigs.k8s.io/cluster-api | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])') ;;
  cluster-api-managers)
    # The release's own main packages (core/ and bootstrap/kubeadm/ in v1.14), with the version stamped into
    # sigs.k8s.io/cluster-api/version as the release build does, so the managers report the release.
    out="$CACHE/cluster-api-$CLUSTER_API_VERSION"
    ldf="-s -w -X sigs.k8s.io/cluster-api/version.gitVersion=$CLUSTER_API_VERSION -X sigs.k8s.io/cluster-api/version.gitMajor=1"
    ldf="$ldf -X sigs.k8s.io/cluster-api/version.gitTreeState=clean -X sigs.k8s.io/cluster-api/version.buildDate=1970-01-01T00:00:00Z"
    # Their webhook servers listen on every interface and no flag sets the host (webhook.Options.Host). The one
    # change to upstream source: Host "127.0.0.1" in each main.go. Go refuses -overlay for files in the module cache,
    # so a patched copy of the module is built in its place (a replace in a throwaway -modfile; go.sum stays ours).
    build_managers() {
      local src copy="$out/.src" main
      mkdir -p "$out"; exec 8>"$out/.src.lock"; flock 8
      [ -x "$out/cluster-api-manager" ] && [ -x "$out/kubeadm-bootstrap-manager" ] && return 0
      src=$(cd "$HERE/cluster-api" && go mod download -json sigs.k8s.io/cluster-api | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
      rm -rf "$copy"; cp -r "$src" "$copy"; chmod -R u+w "$copy"
      for main in core/main.go bootstrap/kubeadm/main.go; do
        sed -i 's/^\([[:space:]]*\)Port:[[:space:]]*webhookPort,/\1Host: "127.0.0.1",\n&/' "$copy/$main"
        [ "$(grep -c 'Host: "127.0.0.1",' "$copy/$main")" = 1 ] || { echo "build: cannot set the webhook host in $main" >&2; exit 1; }
      done
      { cat "$HERE/cluster-api/go.mod"; echo "replace sigs.k8s.io/cluster-api => $copy"; } >"$out/.go.build.mod"
      cp "$HERE/cluster-api/go.sum" "$out/.go.build.sum"
      EXTRA_BUILD_FLAGS="-modfile=$out/.go.build.mod" build_into "$out" "$HERE/cluster-api" "$ldf" \
        cluster-api-manager=sigs.k8s.io/cluster-api/core kubeadm-bootstrap-manager=sigs.k8s.io/cluster-api/bootstrap/kubeadm
      rm -rf "$copy" "$out/.go.build.mod" "$out/.go.build.sum"
    }
    [ -x "$out/cluster-api-manager" ] && [ -x "$out/kubeadm-bootstrap-manager" ] || build_managers
    echo "$out" ;;
  *) echo "unknown component $component" >&2; exit 2 ;;
esac
