import { existsSync } from 'node:fs';
import path from 'node:path';

/** Fails the run at once, with the fix, when the compiled policies are missing. */
export default function globalSetup(): void {
  const bundle = path.resolve(__dirname, '../../build/policies/bundle.tar.gz');
  if (!existsSync(bundle)) {
    throw new Error(`${bundle} is missing: run "npm run policies:build" (npm test does it first)`);
  }
}
