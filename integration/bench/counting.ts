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
