// Pure rules over etcd membership facts the engine and the etcd adapter both apply.

/**
 * The leader most answering members report, ties broken by the smaller id so the result does not depend
 * on answer order. etcd reports '0' while an election runs: that is no leader. Undefined when none is known.
 */
export function agreedLeader(leaderIds: Iterable<string | undefined>): string | undefined {
  const votes = new Map<string, number>();
  for (const id of leaderIds) if (id && id !== '0') votes.set(id, (votes.get(id) ?? 0) + 1);
  let best: [string, number] | undefined;
  for (const entry of votes) {
    if (!best || entry[1] > best[1] || (entry[1] === best[1] && BigInt(entry[0]) < BigInt(best[0]))) best = entry;
  }
  return best?.[0];
}
