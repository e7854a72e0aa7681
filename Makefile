# Both targets set up everything on a fresh machine: Node >= 22 (Node 24 from the npm registry when the
# machine's is older), npm packages, and the sandbox's Go-built components (cached in ~/.cache/kubeswap).
SHELL := /bin/bash
NODE_BIN := $(shell bash integration/components/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)

.PHONY: test demo deps components build unit

# `npm install` against the committed lock, not `npm ci`: the registry reachable here does not serve biome's
# non-glibc platform packages, so no lock can list them and `npm ci` refuses any lock as out of sync.
node_modules/.package-lock.json: package-lock.json package.json
	npm install --no-audit --no-fund --loglevel=error

deps: node_modules/.package-lock.json

components:
	bash integration/components/build-all.sh

build: deps
	npm run build

unit: deps
	npm run typecheck && npm run lint && npm run test:unit

# The component build overlaps the typecheck, lint and unit tests (test/run-all.sh starts it in the background).
test: deps
	npm test

demo: deps components build
	npm run demo
