import { SETTINGS, type Setting } from './settings';

/** The documents derived from the settings table; tests pin the committed files to these. */

const WIDTH = 100;

function settings(): Setting<unknown>[] {
  return Object.values(SETTINGS);
}

/** Words of `text` as `# ` comment lines of at most WIDTH columns (a longer word gets its own line). */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '#' && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

const plain = (markdown: string): string => markdown.replace(/`/g, '');

/** `.env.example`: every setting with its documentation, its default, or a commented-out example. */
export function renderEnvExample(): string {
  const out = [
    '# agent-pdp configuration (DESIGN §6). Every variable is optional: defaults are set, examples',
    '# commented out. Generated from src/settings.ts by `npm run config:docs`; edit the table there.',
  ];
  for (const s of settings()) {
    if (s.section !== undefined) out.push('', `# --- ${s.section}`);
    const derived = s.derived === undefined ? '' : ` Default: ${s.derived}.`;
    out.push(...comment(plain(s.doc) + derived));
    if (s.example !== undefined) out.push(`# ${s.env}=${s.example}`);
    else out.push(`${s.env}=${s.default ?? ''}`);
  }
  return `${out.join('\n')}\n`;
}

const cell = (markdown: string): string => markdown.replace(/\|/g, '\\|');

/** The README's configuration table, one row per setting (Prettier pads it; compare by cells). */
export function renderReadmeTable(): string {
  const rows = settings().map((s) => {
    const fallback = s.derived ?? (s.default === null ? 'unset' : `\`${s.default}\``);
    return `| \`${s.env}\` | ${cell(fallback)} | ${cell(s.doc)} |`;
  });
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

const README_TABLE_BEGIN = '<!-- settings table: generated from src/settings.ts by `npm run config:docs` -->';
const README_TABLE_END = '<!-- end of settings table -->';

/** A Markdown table's cells, row by row: padding and separator dashes do not count. */
export function tableCells(markdown: string): string[][] {
  return markdown
    .trim()
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replace(/^-+$/, '---')),
    );
}

/** The README with its settings table (between the markers) replaced by `table`. */
export function withReadmeTable(readme: string, table: string): string {
  const begin = readme.indexOf(README_TABLE_BEGIN);
  const end = readme.indexOf(README_TABLE_END);
  if (begin < 0 || end < begin) throw new Error('README.md: the settings table markers are missing');
  return `${readme.slice(0, begin + README_TABLE_BEGIN.length)}\n\n${table}\n\n${readme.slice(end)}`;
}

/** The table currently between the README's markers. */
export function readmeTable(readme: string): string {
  const begin = readme.indexOf(README_TABLE_BEGIN);
  const end = readme.indexOf(README_TABLE_END);
  if (begin < 0 || end < begin) throw new Error('README.md: the settings table markers are missing');
  return readme.slice(begin + README_TABLE_BEGIN.length, end);
}
