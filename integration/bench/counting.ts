import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
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

/**
 * Counts the HTTP requests kubeswap itself sends to the API server (watches included), as undici publishes them
 * (diagnostics channel `undici:request:create`, which both client-node's undici and Node's fetch use). A port call
 * answered from the run's watched cache sends nothing, so port calls alone would not show what the cluster carries.
 * Only requests made inside `track()` count: the benchmark's own watch of the sandbox runs outside it.
 */
export class HttpCounter {
  readonly counts = new Map<string, number>();
  /** Each counted request's kind and when it was sent (ms since the epoch): the per-phase split. */
  readonly sent: { key: string; at: number }[] = [];
  /** Every request of this process, the benchmark's own watch included: a check that `track` misses none. */
  untracked = 0;
  private readonly scope = new AsyncLocalStorage<true>();
  private readonly listener = (message: unknown) => {
    if (!this.scope.getStore()) {
      this.untracked++;
      return;
    }
    const request = (message as { request: { method: string; path: string; origin?: string } }).request;
    const path = request.path.split('?')[0]!.replace(/\/namespaces\/[^/]+/, '/namespaces/*');
    const watch = /[?&]watch=true/.test(request.path) ? ' (watch)' : '';
    const key = `${request.method} ${path}${watch}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.sent.push({ key, at: Date.now() });
  };

  constructor() {
    diagnostics.subscribe('undici:request:create', this.listener);
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
    diagnostics.unsubscribe('undici:request:create', this.listener);
  }
}
