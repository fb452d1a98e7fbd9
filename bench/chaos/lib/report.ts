/** One limit of the acceptance list, judged on one scenario's figures. */
export interface Check {
  /** What is limited, e.g. "5xx". */
  name: string;
  /** The limit as written in the acceptance list, e.g. "= 0", "<= 60 ms". */
  limit: string;
  value: number | string | null;
  pass: boolean;
  /** Why it failed or what it depends on. */
  note?: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  duration_s: number;
  /** Figures for the table and the JSON: counts, latencies, times. */
  figures: Record<string, unknown>;
  checks: Check[];
  /** The scenario could not run to the end (a thrown error); it counts as failed. */
  error?: string;
}

export function check(
  name: string,
  limit: string,
  value: number | string | null,
  pass: boolean,
  note?: string,
): Check {
  return { name, limit, value, pass, ...(note !== undefined && { note }) };
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** An error shortened for the table (a process's output can be long); the JSON keeps all of it. */
function brief(text: string, max: number): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' | ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max)}…`;
}

/** The human table for one scenario: its figures, then each limit with PASS/FAIL. */
export function printScenario(result: ScenarioResult): void {
  console.log(`\n${result.title}  (${result.duration_s.toFixed(1)} s)`);
  const width = Math.max(24, ...Object.keys(result.figures).map((k) => k.length));
  for (const [key, value] of Object.entries(result.figures)) {
    console.log(`  ${key.padEnd(width)}  ${show(value)}`);
  }
  for (const c of result.checks) {
    const verdict = c.pass ? 'PASS' : 'FAIL';
    console.log(
      `  [${verdict}] ${c.name} ${c.limit}: ${show(c.value)}${c.note !== undefined ? `  (${c.note})` : ''}`,
    );
  }
  if (result.error !== undefined) console.log(`  [FAIL] did not complete: ${brief(result.error, 600)}`);
}

/** The closing summary: one line per scenario and limit. */
export function printSummary(results: readonly ScenarioResult[]): void {
  console.log('\nchaos summary');
  for (const r of results) {
    const failed = r.checks.filter((c) => !c.pass).map((c) => c.name);
    const verdict = r.error !== undefined || failed.length > 0 ? 'FAIL' : 'PASS';
    const why = r.error !== undefined ? brief(r.error, 160) : failed.join(', ');
    console.log(`  ${verdict}  ${r.name.padEnd(16)} ${why}`);
  }
}

export function passed(results: readonly ScenarioResult[]): boolean {
  return results.every((r) => r.error === undefined && r.checks.every((c) => c.pass));
}
