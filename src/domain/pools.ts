// Worker pools: what a pool is, and how many of its machines may be added or unavailable at once.
// The arithmetic is Cluster API's MachineDeployment rolling update (core/reconcilers/machinedeployment/
// mdutil/util.go ResolveFenceposts, v1.14), itself the Deployment controller's: maxSurge rounds up,
// maxUnavailable rounds down, and both resolving to 0 means maxUnavailable 1.
import type { Problem } from './errors.ts';

/** An absolute number of machines or a percentage of the pool's size (`25%`), as an IntOrString. */
export type IntOrPercent = number | `${number}%`;

export interface PoolSpec {
  /** Unique among the pools; never `control-plane`. */
  name: string;
  maxSurge: IntOrPercent;
  maxUnavailable: IntOrPercent;
  /** A pool the provider rolls (a MachineDeployment): keep its own strategy instead of setting these two. */
  keepStrategy?: boolean;
}

/** Cluster API's defaults for a MachineDeployment's RollingUpdate strategy. */
export const DEFAULT_MAX_SURGE: IntOrPercent = 1;
export const DEFAULT_MAX_UNAVAILABLE: IntOrPercent = 0;

export interface Fenceposts {
  maxSurge: number;
  maxUnavailable: number;
}

const PERCENT = /^(\d+)%$/;

/** `intstr.GetScaledValueFromIntOrPercent`: a percentage of `total`, rounded up or down. */
export function scaled(value: IntOrPercent, total: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const match = PERCENT.exec(value);
  if (!match) throw new Error(`invalid value for IntOrPercent: ${value}`);
  const exact = (Number(match[1]) * total) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/** ResolveFenceposts for a pool of `size` machines; call `poolSpecProblems` first. */
export function resolveFenceposts(spec: Pick<PoolSpec, 'maxSurge' | 'maxUnavailable'>, size: number): Fenceposts {
  const maxSurge = scaled(spec.maxSurge, size, true);
  let maxUnavailable = scaled(spec.maxUnavailable, size, false);
  // "If both fenceposts resolve to zero, then we should set maxUnavailable to 1 on the theory that
  // surge might not work due to quota" (a percentage rounded down on a small pool).
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/**
 * What Cluster API's MachineDeployment webhook refuses: a value that is neither a non-negative integer
 * nor a percentage, and both fenceposts explicitly 0 (then nothing could ever move).
 */
export function poolSpecProblems(pools: readonly PoolSpec[], reserved: readonly string[] = []): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const pool of pools) {
    const where = `pool ${pool.name}`;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(pool.name)) {
      problems.push({
        code: 'input.pool',
        message: `${where}: the name must be lower-case letters, digits and '-'`,
      });
    }
    if (reserved.includes(pool.name) || seen.has(pool.name)) {
      problems.push({ code: 'input.pool', message: `${where}: the name is used twice or reserved` });
    }
    seen.add(pool.name);
    for (const key of ['maxSurge', 'maxUnavailable'] as const) {
      const value = pool[key];
      const ok = typeof value === 'number' ? Number.isInteger(value) && value >= 0 : PERCENT.test(String(value ?? ''));
      if (!ok) {
        problems.push({
          code: 'input.pool',
          message: `${where}: ${key} must be a non-negative integer or a percentage like 25%, got ${JSON.stringify(value)}`,
        });
      }
    }
    if (isZero(pool.maxSurge) && isZero(pool.maxUnavailable)) {
      problems.push({
        code: 'input.pool',
        message: `${where}: maxSurge and maxUnavailable cannot both be 0`,
        hint: 'give maxSurge >= 1 (add then remove) or maxUnavailable >= 1 (remove then add)',
      });
    }
  }
  return problems;
}

const isZero = (v: IntOrPercent) => v === 0 || v === '0%';
