import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { SETTINGS } from '../../src/settings';
import { readmeTable, renderEnvExample, renderReadmeTable, tableCells } from '../../src/settings-docs';

const ROOT = path.resolve(__dirname, '../..');
const STALE = 'stale: run `npm run config:docs` after editing src/settings.ts';

describe('.env.example', () => {
  const text = readFileSync(path.join(ROOT, '.env.example'), 'utf8');

  it(`is the one generated from the settings table (${STALE})`, () => {
    expect(text).toBe(renderEnvExample());
  });

  it('documents every setting, each once', () => {
    const documented = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.values(SETTINGS).map((s) => s.env));
  });

  it('holds values the config accepts', () => {
    const env = Object.fromEntries(
      [...text.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    expect(Object.keys(env).length).toBeGreaterThan(20);
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('shows each default the loader applies', () => {
    const defaults = loadConfig({}) as unknown as Record<string, unknown>;
    for (const [name, s] of Object.entries(SETTINGS)) {
      if (s.default === null || s.example !== undefined) continue;
      const value = defaults[name];
      expect([name, String(value)]).toEqual([name, s.default]);
    }
  });
});

describe("README's configuration table", () => {
  it(`is the one generated from the settings table (${STALE})`, () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(tableCells(readmeTable(readme))).toEqual(tableCells(renderReadmeTable()));
  });
});

describe('the settings table', () => {
  it('names each variable once', () => {
    const names = Object.values(SETTINGS).map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
  });

  it('is read by src/config.ts alone: no other module reads the environment', () => {
    const readers = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => readFileSync(path.join(ROOT, 'src', f), 'utf8').includes('process.env'));
    expect(readers).toEqual(['config.ts']);
  });
});
