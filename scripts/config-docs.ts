/**
 * Writes the documents derived from the settings table (src/settings.ts): `.env.example` and the
 * README's configuration table. `npm run config:docs`; test/unit/env-example.test.ts fails while
 * either is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { PROJECT_ROOT } from '../src/settings';
import { renderEnvExample, renderReadmeTable, withReadmeTable } from '../src/settings-docs';

async function main(): Promise<void> {
  writeFileSync(path.join(PROJECT_ROOT, '.env.example'), renderEnvExample());
  const readmePath = path.join(PROJECT_ROOT, 'README.md');
  const readme = withReadmeTable(readFileSync(readmePath, 'utf8'), renderReadmeTable());
  const options = (await prettier.resolveConfig(readmePath)) ?? {};
  writeFileSync(readmePath, await prettier.format(readme, { ...options, filepath: readmePath }));
  console.log('wrote .env.example and the README settings table');
}

void main();
