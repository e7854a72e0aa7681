// Wraps a port so every method call is counted: the benchmark's "API requests per swap".
export class CallCounter {
  readonly counts = new Map<string, number>();
  wrap<T extends object>(system: string, port: T): T {
    return new Proxy(port, {
      get: (target, key, receiver) => {
        const value = Reflect.get(target, key, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const name = `${system}.${String(key)}`;
          this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
          return value.apply(target, args);
        };
      },
    });
  }
  total(system?: string): number {
    let n = 0;
    for (const [k, v] of this.counts) if (!system || k.startsWith(`${system}.`)) n += v;
    return n;
  }
}
