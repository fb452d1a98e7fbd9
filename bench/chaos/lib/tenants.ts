import { cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './pdp';

/** The shipped example tenant: eight CA documents, named locations and gateway routes. */
const EXAMPLE_TENANT = path.join(ROOT, 'policies/data/default');

/**
 * Writes `count` tenants (t-00000 …) into `dir`, each a copy of the example tenant, as a large
 * PDP_DATA_DIR would hold. Returns the number of files and directories written.
 */
export function generateTenants(dir: string, count: number): number {
  let entries = 0;
  const perTenant = 1 + countEntries(EXAMPLE_TENANT);
  for (let i = 0; i < count; i++) {
    cpSync(EXAMPLE_TENANT, path.join(dir, `t-${String(i).padStart(5, '0')}`), { recursive: true });
    entries += perTenant;
  }
  return entries;
}

function countEntries(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n++;
    if (entry.isDirectory()) n += countEntries(path.join(dir, entry.name));
  }
  return n;
}
