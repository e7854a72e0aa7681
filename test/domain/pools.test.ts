import assert from 'node:assert/strict';
import { poolSpecProblems, resolveFenceposts } from '../../src/domain/pools.ts';

describe('pool fenceposts (Cluster API ResolveFenceposts)', () => {
  const cases: Array<[string, number | `${number}%`, number | `${number}%`, number, [number, number]]> = [
    ['numbers are taken as they are', 2, 0, 5, [2, 0]],
    ['a surge percentage rounds up', '25%', 0, 5, [2, 0]],
    ['an unavailable percentage rounds down', 0, '25%', 5, [0, 1]],
    ['an unavailable percentage that rounds to 0 with surge 0 becomes 1', 0, '10%', 5, [0, 1]],
    ['both resolving to 0 on an empty pool gives unavailable 1', '0%', '50%', 0, [0, 1]],
    ['100% surge doubles the pool', '100%', 0, 3, [3, 0]],
  ];
  for (const [name, surge, unavailable, size, [s, u]] of cases) {
    it(name, () => {
      assert.deepEqual(resolveFenceposts({ maxSurge: surge, maxUnavailable: unavailable }, size), {
        maxSurge: s,
        maxUnavailable: u,
      });
    });
  }

  it('refuses both 0, negative numbers, bad percentages and duplicate or reserved names, all at once', () => {
    const problems = poolSpecProblems(
      [
        { name: 'a', maxSurge: 0, maxUnavailable: '0%' },
        { name: 'b', maxSurge: -1, maxUnavailable: '1.5%' as `${number}%` },
        { name: 'b', maxSurge: 1, maxUnavailable: 0 },
        { name: 'control-plane', maxSurge: 1, maxUnavailable: 0 },
      ],
      ['control-plane'],
    );
    assert.deepEqual(
      problems.map((p) => p.message),
      [
        'pool a: maxSurge and maxUnavailable cannot both be 0',
        'pool b: maxSurge must be a non-negative integer or a percentage like 25%, got -1',
        'pool b: maxUnavailable must be a non-negative integer or a percentage like 25%, got "1.5%"',
        'pool b: the name is used twice or reserved',
        'pool control-plane: the name is used twice or reserved',
      ],
    );
  });
});
