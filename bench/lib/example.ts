import path from 'node:path';
import pino from 'pino';
import { createValidators } from '../../src/decision/validators';
import { PolicyEngine } from '../../src/engine/policy-engine';
import { MemoryStore } from '../../src/store/memory-store';
import { seedStore } from '../../src/store/seed';

export const ROOT = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..',
);

/** The embedded default: compiled example policies and the example directory in memory. */
export async function exampleSetup(): Promise<{ engine: PolicyEngine; store: MemoryStore }> {
  const engine = new PolicyEngine({
    bundle: path.join(ROOT, 'build/policies/bundle.tar.gz'),
    dataDir: path.join(ROOT, 'policies/data'),
    defaultTtlSeconds: 3600,
    maxTtlSeconds: 86400,
    logger: pino({ level: 'silent' }),
    clock: Date.now,
  });
  await engine.reload();
  const store = new MemoryStore();
  await seedStore(store, path.join(ROOT, 'examples/directory.json'), createValidators(), Date.now());
  return { engine, store };
}
