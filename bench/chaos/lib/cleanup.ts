/**
 * Every process a scenario starts registers how to kill it, so a scenario that throws or passes
 * its deadline leaves nothing running behind it (the run is bounded and stops by itself).
 */
const pending = new Set<() => Promise<void>>();

export function onCleanup(fn: () => Promise<void>): () => void {
  pending.add(fn);
  return () => pending.delete(fn);
}

export async function cleanupAll(): Promise<void> {
  const fns = [...pending];
  pending.clear();
  await Promise.all(fns.map((fn) => fn().catch(() => undefined)));
}
