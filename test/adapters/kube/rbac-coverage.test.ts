// The lists and watches the kube adapter sends for the calls driven below are granted by templates/rbac/permissions.ts
// (and so by kubeswap.yaml, which rbac.test.ts keeps equal to it). The calls are listed by hand: a new list or watch
// path is covered once it is added here. The adapter runs against a local HTTP server that records each request; each
// is turned into what the API server's RBAC authorizer checks (verb, group, resource, namespace, name: a list or watch
// selecting metadata.name is authorized for that name) and matched against the grants. The drain's pod watch was once
// refused with the shipped RBAC and silently fell back to polling: this test names such a request.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openKube } from '../../../src/adapters/kube/client.ts';
import { KUBESWAP_PERMISSIONS, type Permission } from '../../../templates/rbac/permissions.ts';

/** What RBAC authorizes a request as (k8s.io/apiserver pkg/endpoints/request RequestInfo). */
interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

function attributesOf(method: string, url: string): Attributes {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/').filter(Boolean);
  const group = parts[0] === 'api' ? '' : parts[1]!;
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, pathName, subresource] = rest as [string, string | undefined, string | undefined];
  const watch = u.searchParams.get('watch') === 'true';
  // A list or watch whose field selector names one object is authorized for that name (RequestInfoFactory, 1.x:
  // "if there's no name on the request and we thought it was a list, try to find a name in the fieldSelector").
  const selected = /^metadata\.name=([^,]+)$/.exec(u.searchParams.get('fieldSelector') ?? '')?.[1];
  const verb =
    method === 'GET'
      ? watch
        ? 'watch'
        : pathName
          ? 'get'
          : 'list'
      : ({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method]!;
  const name = pathName ?? selected;
  return {
    verb,
    group,
    resource,
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
  };
}

/** A Role grants in its namespace only, a ClusterRole everywhere; resourceNames limit a grant to those names. */
function granted(a: Attributes, grants: readonly Permission[]): boolean {
  return grants.some(
    (p) =>
      p.verb === a.verb &&
      p.group === a.group &&
      p.resource === a.resource &&
      p.subresource === a.subresource &&
      (p.namespace === undefined || p.namespace === a.namespace) &&
      (p.name === undefined || p.name === a.name),
  );
}

const describeRequest = (a: Attributes) =>
  `${a.verb} ${a.group ? `${a.group}/` : ''}${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'}`;

/** A stand-in API server: empty lists (one pod on the drained Node), watches held open, 404 for single objects. */
function fakeApiServer(): Promise<{ server: Server; url: string; requests: { method: string; url: string }[] }> {
  const requests: { method: string; url: string }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '' });
    const u = new URL(req.url ?? '', 'http://x');
    res.setHeader('Content-Type', 'application/json');
    if (u.searchParams.get('watch') === 'true') {
      res.writeHead(200);
      res.write(''); // held open until the client ends it
      return;
    }
    const single = attributesOf(req.method ?? 'GET', req.url ?? '').verb === 'get';
    if (single) {
      res.writeHead(404);
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      return;
    }
    // The drain's wait needs a pod still on its Node, or it answers without watching.
    const items =
      u.pathname === '/api/v1/pods'
        ? [{ metadata: { namespace: 'apps', name: 'web', uid: 'uid-web', resourceVersion: '5' }, spec: {} }]
        : [];
    res.writeHead(200);
    res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '7' }, items }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }),
    ),
  );
}

function kubeconfigFor(url: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kubeswap-rbac-'));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return file;
}

const until = async (ok: () => boolean, what: string) => {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
};

describe('templates/rbac grants the lists and watches of the kube adapter calls driven here', () => {
  let recorded: Attributes[] = [];

  before(async function () {
    this.timeout(20_000);
    const { server, url, requests } = await fakeApiServer();
    const kubeconfig = kubeconfigFor(url);
    const kube = openKube({ kubeconfig, retry: { retries: 0 } });
    try {
      // Every list: the Nodes with the static pods, the pods of a Node and of a namespace (by phase), the etcd static
      // pods, the budgets, the run's bootstrap tokens (render mode).
      await kube.listNodes({ fresh: true });
      await kube.podsOnNode('cp-1');
      await kube.podsInNamespace('kube-system', { phases: ['Failed'] });
      await kube.etcdClientUrls();
      await kube.listDisruptionBudgets();
      await kube.listSecrets('kube-system', { labelSelector: 'a=b', type: 'bootstrap.kubernetes.io/token' });
      // Every watch: the run's Node cache (a LIST and a WATCH each of Nodes and static pods), the lock's Lease, the
      // addons' rollouts, the drain's wait for evicted pods (a LIST and a WATCH).
      const stopChanges = kube.watchChanges!(() => {});
      const stopLease = kube.watchLease!('kube-system', 'kubeswap-lock', { onLease: () => {}, onConnection: () => {} });
      const stopProxy = kube.watchWorkload!('DaemonSet', 'kube-system', 'kube-proxy', {
        onWorkload: () => {},
        onConnection: () => {},
      });
      const stopDns = kube.watchWorkload!('Deployment', 'kube-system', 'coredns', {
        onWorkload: () => {},
        onConnection: () => {},
      });
      const drained = kube.awaitPodsGone!('cp-1', ['uid-web'], { timeoutMs: 10_000 });
      const watches = () => requests.filter((r) => r.url.includes('watch=true')).length;
      await until(() => watches() >= 6, 'six watches (Nodes, static pods, Lease, kube-proxy, CoreDNS, drain)');
      stopChanges();
      stopLease();
      stopProxy();
      stopDns();
      kube.close();
      await drained;
    } finally {
      kube.close();
      server.closeAllConnections();
      server.close();
      rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
    }
    recorded = requests
      .map((r) => attributesOf(r.method, r.url))
      .filter((a) => a.verb === 'list' || a.verb === 'watch');
  });

  it('sees the lists and watches it exercises (the drain watch among them)', () => {
    const seen = new Set(recorded.map(describeRequest));
    for (const expected of [
      'list nodes (cluster-wide)',
      'watch nodes (cluster-wide)',
      'list pods (cluster-wide)',
      'watch pods (cluster-wide)',
      'list pods in kube-system',
      'watch pods in kube-system',
      'list policy/poddisruptionbudgets (cluster-wide)',
      'watch coordination.k8s.io/leases kubeswap-lock in kube-system',
      'watch apps/daemonsets kube-proxy in kube-system',
      'watch apps/deployments coredns in kube-system',
      'list secrets in kube-system',
    ])
      assert.ok(seen.has(expected), `${expected} not sent; sent: ${[...seen].join(', ')}`);
  });

  it('every one is granted by permissions.ts (render mode adds the secrets)', () => {
    const refused = recorded.filter((a) => !granted(a, KUBESWAP_PERMISSIONS)).map(describeRequest);
    assert.deepEqual([...new Set(refused)], []);
    const withoutRender = KUBESWAP_PERMISSIONS.filter((p) => !p.when);
    const needRender = recorded.filter((a) => !granted(a, withoutRender)).map(describeRequest);
    assert.deepEqual([...new Set(needRender)], ['list secrets in kube-system']);
  });

  it('fails once any list or watch grant is removed (each one is needed by a request seen here)', () => {
    const grants = KUBESWAP_PERMISSIONS.filter((p) => p.verb === 'list' || p.verb === 'watch');
    assert.ok(grants.length >= 8);
    for (const grant of grants) {
      const without = KUBESWAP_PERMISSIONS.filter((p) => p !== grant);
      const refused = recorded.filter((a) => !granted(a, without));
      assert.ok(refused.length > 0, `removing "${grant.verb} ${grant.resource}" was not noticed`);
    }
  });

  it('authorizes a watch that selects metadata.name for that name only, and a Role in its namespace only', () => {
    const lease = attributesOf(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases?fieldSelector=metadata.name%3Dother&watch=true',
    );
    assert.equal(granted(lease, KUBESWAP_PERMISSIONS), false);
    assert.equal(
      granted(attributesOf('GET', '/api/v1/namespaces/default/pods?labelSelector=a'), KUBESWAP_PERMISSIONS),
      true,
    );
    assert.equal(
      granted(attributesOf('DELETE', '/api/v1/namespaces/default/pods/x'), KUBESWAP_PERMISSIONS),
      false,
      'pods delete is granted in kube-system only',
    );
  });
});
