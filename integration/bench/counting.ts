import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
// Wraps a port so every method call is counted: the benchmark's "API requests per swap".
export class CallCounter {
  readonly counts = new Map<string, number>();
  /** Total milliseconds spent in each method (calls may overlap). */
  readonly millis = new Map<string, number>();
  wrap<T extends object>(system: string, port: T): T {
    return new Proxy(port, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const name = `${system}.${String(key)}`;
          this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
          const started = performance.now();
          const result = value.apply(target, args);
          const add = () => this.millis.set(name, (this.millis.get(name) ?? 0) + performance.now() - started);
          if (result instanceof Promise) result.then(add, add);
          else add();
          return result;
        };
      },
    });
  }
  /** Mean milliseconds per call of each method, slowest first. */
  meanMillis(): [string, number][] {
    return [...this.millis.entries()]
      .map(([k, v]): [string, number] => [k, v / (this.counts.get(k) ?? 1)])
      .sort((a, b) => b[1] - a[1]);
  }

  total(system?: string): number {
    let n = 0;
    for (const [k, v] of this.counts) if (!system || k.startsWith(`${system}.`)) n += v;
    return n;
  }
}

/** One request counted by HttpCounter. */
export interface SentRequest {
  /** Method and path, the namespace folded to `*` (one key for the pods of every namespace), ` (watch)` for a watch. */
  key: string;
  /** When it was sent (ms since the epoch): the per-phase split. */
  at: number;
  /**
   * Bytes of the response body as they came off the wire (gzip-compressed when the API server compressed it: it
   * does for lists above 128 KiB to a client that accepts it, as undici's fetch does); a watch's grow while it is open.
   */
  bytes: number;
  /** Its label and field selectors as sent (`labelSelector=tier=control-plane`); undefined: none, a full list. */
  selector?: string;
  /** A page after the first of a paged list (it carries a continue token). */
  continued?: true;
}

/**
 * Counts the HTTP requests kubeswap itself sends to the API server (watches included): those of client-node (its
 * undici, diagnostics channel `undici:request:create`, which Node's fetch uses too) and those of the readiness checks
 * (node:https, channel `http.client.request.start`, counted when they carry kubeswap's User-Agent, which the AWS SDK's
 * do not). A port call answered from the run's watched cache sends nothing, so port calls alone would not show what
 * the cluster carries. Only requests made inside `track()` count (the benchmark's own watch of the sandbox runs outside
 * it), or every request of the process with `everyRequest` (a measured child: count-requests.ts).
 */
export class HttpCounter {
  readonly counts = new Map<string, number>();
  /** Each counted request, in the order sent. */
  readonly sent: SentRequest[] = [];
  /** Every request of this process not counted, the benchmark's own watch included: a check that `track` misses none. */
  untracked = 0;
  private readonly scope = new AsyncLocalStorage<true>();
  /** The counted request each undici request or node:http ClientRequest is, for its response's bytes. */
  private readonly byRequest = new WeakMap<object, SentRequest>();
  private readonly everyRequest: boolean;
  private readonly count = (request: object, method: string, pathAndQuery: string) => {
    if (!this.everyRequest && !this.scope.getStore()) {
      this.untracked++;
      return;
    }
    const [pathOnly, query = ''] = pathAndQuery.split('?') as [string, string?];
    const params = new URLSearchParams(query);
    const path = pathOnly.replace(/\/namespaces\/[^/]+/, '/namespaces/*');
    const watch = params.get('watch') === 'true' ? ' (watch)' : '';
    const key = `${method} ${path}${watch}`;
    const selector = ['labelSelector', 'fieldSelector']
      .flatMap((name) => (params.get(name) ? [`${name}=${params.get(name)}`] : []))
      .join('&');
    const sent: SentRequest = {
      key,
      at: Date.now(),
      bytes: 0,
      ...(selector ? { selector } : {}),
      ...(params.get('continue') ? { continued: true as const } : {}),
    };
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.sent.push(sent);
    this.byRequest.set(request, sent);
  };
  private readonly onUndiciRequest = (message: unknown) => {
    const { request } = message as { request: { method: string; path: string } };
    this.count(request, request.method, request.path);
  };
  private readonly onUndiciChunk = (message: unknown) => {
    const { request, chunk } = message as { request: object; chunk: Uint8Array };
    const sent = this.byRequest.get(request);
    if (sent) sent.bytes += chunk.length;
  };
  private readonly onHttpRequest = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    if (request.getHeader('user-agent') === 'kubeswap') this.count(request, request.method, request.path);
  };
  /** node:http has no channel for body chunks: the response's own push (where its parser hands each one) counts them. */
  private readonly onHttpResponse = (message: unknown) => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    const sent = this.byRequest.get(request);
    if (!sent) return;
    const push = response.push;
    response.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk && typeof (chunk as Buffer).length === 'number') sent.bytes += (chunk as Buffer).length;
      return push.call(response, chunk, encoding);
    };
  };
  private readonly channels: [string, (message: unknown) => void][] = [
    ['undici:request:create', this.onUndiciRequest],
    ['undici:request:bodyChunkReceived', this.onUndiciChunk],
    ['http.client.request.start', this.onHttpRequest],
    ['http.client.response.finish', this.onHttpResponse],
  ];

  constructor(options: { everyRequest?: boolean } = {}) {
    this.everyRequest = options.everyRequest === true;
    for (const [name, listener] of this.channels) diagnostics.subscribe(name, listener);
  }

  track<T>(fn: () => Promise<T>): Promise<T> {
    return this.scope.run(true, fn);
  }

  total(filter: (key: string) => boolean = () => true): number {
    let n = 0;
    for (const [k, v] of this.counts) if (filter(k)) n += v;
    return n;
  }

  close(): void {
    for (const [name, listener] of this.channels) diagnostics.unsubscribe(name, listener);
  }
}
