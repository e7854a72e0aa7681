// The typed API clients of @kubernetes/client-node 2.x, built over one Configuration whose middleware
// every call goes through: a request timeout (2.x, like 1.x, has none by default) and a shared
// connection pool (2.0.1 builds a fresh undici Agent for every request in applySecurityAuthentication,
// so each call would open a new TLS connection and leave an idle socket behind).
import {
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  HttpMethod,
  type KubeConfig,
  Observable,
  type ObservableMiddleware,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type RequestContext,
  ServerConfiguration,
  setHeaderMiddleware,
  VersionApi,
} from '@kubernetes/client-node';
import { type KubeError, type KubeIdentity, kubeError } from './errors.ts';

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** What each concern module (nodes, pods, objects, rbac, leases) needs to talk to the API server. */
export interface KubeApis {
  core: CoreV1Api;
  apps: AppsV1Api;
  policy: PolicyV1Api;
  rbac: RbacAuthorizationV1Api;
  coordination: CoordinationV1Api;
  authorization: AuthorizationV1Api;
  version: VersionApi;
  /**
   * GET `path` as plain JSON, through the same credentials, timeout and connection pool as the typed clients, without
   * the generated deserializer (which rebuilds every object field by field, Dates included): for large lists whose
   * caller reads a few fields (Nodes, issue 15 §3). A non-2xx status throws the ApiException the typed clients throw.
   * `length`: the body's length in characters (bytes for ASCII JSON), for a caller that sizes its pages by it.
   */
  getJson<T>(path: string, query?: Record<string, string | number | undefined>): Promise<{ value: T; length: number }>;
  who: KubeIdentity;
  /** Wraps a failure of `operation` for the user; call sites handle the statuses they expect first. */
  fail(err: unknown, operation: string): KubeError;
  /** Closes pooled connections so the process can exit promptly. */
  close(): void;
  /** Drops the pooled connection: the next request opens a new one (see client.ts retries). */
  reconnect(): void;
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

export function connectApis(kc: KubeConfig, who: KubeIdentity, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): KubeApis {
  const pool = sharedDispatcher();
  const baseServer = new ServerConfiguration(who.server, {});
  // Order does not matter: the generated ObservableAPI reverses this array in place on every call.
  const middleware = [setHeaderMiddleware('User-Agent', 'kubeswap'), requestTimeout(timeoutMs), pool.middleware];
  const configuration = createConfiguration({ baseServer, authMethods: { default: kc }, middleware });
  // What the generated ObservableAPI does for one call (request factory, auth, middleware, send), minus the
  // deserializer: the body is parsed with JSON.parse only.
  const getJson = async <T>(
    path: string,
    query: Record<string, string | number | undefined> = {},
  ): Promise<{ value: T; length: number }> => {
    let request = baseServer.makeRequestContext(path, HttpMethod.GET);
    request.setHeaderParam('Accept', 'application/json');
    for (const [name, value] of Object.entries(query))
      if (value !== undefined) request.setQueryParam(name, String(value));
    await kc.applySecurityAuthentication(request);
    for (const m of middleware) request = await m.pre(request).toPromise();
    let response = await configuration.httpApi.send(request).toPromise();
    for (const m of [...middleware].reverse()) response = await m.post(response).toPromise();
    const text = await response.body.text();
    if (response.httpStatusCode < 200 || response.httpStatusCode > 299)
      throw new ApiException(response.httpStatusCode, `GET ${path}`, text, response.headers);
    return { value: JSON.parse(text) as T, length: text.length };
  };
  return {
    getJson,
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    policy: new PolicyV1Api(configuration),
    rbac: new RbacAuthorizationV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
    authorization: new AuthorizationV1Api(configuration),
    version: new VersionApi(configuration),
    who,
    fail: (err, operation) => kubeError(err, operation, who),
    close: pool.close,
    reconnect: pool.close,
  };
}

/** Aborts a request (headers and body) that takes longer than `ms`; undici rejects with a TimeoutError. */
export function requestTimeout(ms: number): ObservableMiddleware {
  return {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
}

/**
 * Reuses the dispatcher the library built for the first request. Our KubeConfig never changes
 * cluster or user, so every later one would be identical. (An exec plugin that rotates client
 * certificates would keep its first certificate; token-based plugins are unaffected: tokens are headers.)
 */
function sharedDispatcher(): { middleware: ObservableMiddleware; close(): void } {
  let shared: Dispatcher | undefined;
  return {
    middleware: {
      pre: (ctx) => {
        if (shared) ctx.setDispatcher(shared);
        else shared = ctx.getDispatcher();
        return new Observable(Promise.resolve(ctx));
      },
      post: (res) => new Observable(Promise.resolve(res)),
    },
    close: () => {
      const dispatcher = shared as { close?: () => Promise<void> } | undefined;
      shared = undefined;
      void dispatcher?.close?.().catch(() => {});
    },
  };
}
