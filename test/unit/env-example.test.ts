import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';

const ROOT = path.resolve(__dirname, '../..');

describe('.env.example', () => {
  const text = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
  const documented = new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));

  it('documents every variable the config reads', () => {
    const source = readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
    const read = new Set([...source.matchAll(/'((?:PDP|REDIS)_[A-Z0-9_]+|LOG_LEVEL)'/g)].map((m) => m[1]));
    const missing = [...read].filter((v) => !documented.has(v));
    expect(missing).toEqual([]);
  });

  it('holds values the config accepts', () => {
    const env = Object.fromEntries(
      [...text.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    expect(() => loadConfig(env)).not.toThrow();
  });
});
