import assert from 'node:assert/strict';
import { editDistance, nearest } from '../../src/cli/config/suggest.ts';
import { parseDuration } from '../../src/domain/duration.ts';

describe('durations (Go syntax)', () => {
  const cases: [string | number, number | undefined][] = [
    ['1h30m', 5_400_000],
    ['5m0s', 300_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['2h45m30s', 9_930_000],
    ['90', 90_000],
    [90, 90_000],
    ['0', 0],
    ['-5m', -300_000],
    ['soon', undefined],
    ['5x', undefined],
    ['1h 30m', undefined],
    ['m', undefined],
    ['', undefined],
  ];
  for (const [text, ms] of cases) {
    it(`reads ${JSON.stringify(text)} as ${ms === undefined ? 'not a duration' : `${ms} ms`}`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }
});

describe('suggestions for a misspelt name', () => {
  it('finds the nearest known name, case and swapped letters counting little', () => {
    assert.equal(nearest('drainTimeOut', ['drainTimeout', 'machineTimeout']), 'drainTimeout');
    assert.equal(nearest('maxSruge', ['maxSurge', 'force']), 'maxSurge');
    assert.equal(editDistance('ab', 'ba'), 1);
  });

  it('treats the same words in another order as close', () => {
    assert.equal(nearest('surge-max', ['max-surge', 'drain-timeout']), 'max-surge');
  });

  it('suggests nothing for a word unlike any known name', () => {
    assert.equal(nearest('colour', ['kubeconfig', 'to']), undefined);
  });
});
