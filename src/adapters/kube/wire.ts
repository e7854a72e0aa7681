// Shapes of what @kubernetes/client-node 2.x hands back that every concern module deals with.

export interface Page<T> {
  items: T[];
  metadata?: { _continue?: string; resourceVersion?: string };
}

/**
 * Follows `metadata.continue` (`_continue` in client-node) so a large cluster is read in pages the
 * apiserver can serve from its watch cache rather than as one huge response.
 */
export async function listAll<T>(fetchPage: (continueToken: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    items.push(...page.items);
    token = page.metadata?._continue || undefined;
  } while (token);
  return items;
}

/**
 * listAll, keeping the list's resourceVersion for a watch to start from: every page of a paged list is served from
 * the same snapshot, whose resourceVersion each page carries (API concepts, "Retrieving large results sets in chunks").
 */
export async function listAllWithVersion<T>(
  fetchPage: (continueToken: string | undefined) => Promise<Page<T>>,
): Promise<{ items: T[]; metadata: { resourceVersion?: string } }> {
  const items: T[] = [];
  let token: string | undefined;
  let resourceVersion: string | undefined;
  do {
    const page = await fetchPage(token);
    items.push(...page.items);
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    token = page.metadata?._continue || undefined;
  } while (token);
  return { items, metadata: { resourceVersion } };
}

/**
 * metav1.Time fields arrive as Date, but MicroTime fields (Lease acquireTime/renewTime, Event eventTime)
 * arrive as strings although typed V1MicroTime: the serializer has no entry for that type.
 */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'string' || typeof value === 'number') return new Date(value);
  return new Date(0);
}
