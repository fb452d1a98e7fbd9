import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime and stime (USER_HZ, almost always 100). */
export function clockTicks(): number {
  try {
    const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(hz) && hz > 0 ? hz : 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a whole process (all threads, the libuv pool included), in ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU use of each pid over `seconds`, in percent of one core. */
export async function sampleCpu(pids: readonly number[], seconds: number): Promise<Map<number, number>> {
  return (await sampleCpuWindows(pids, 1, seconds)).total;
}

/**
 * CPU use of each pid over `windows` consecutive windows of `windowSeconds`, in percent of one
 * core: per window (a one-off, such as V8's memory reducer after start-up, shows as one high
 * window) and over the whole span.
 */
export async function sampleCpuWindows(
  pids: readonly number[],
  windows: number,
  windowSeconds: number,
): Promise<{ total: Map<number, number>; perWindow: Map<number, number>[] }> {
  const hz = clockTicks();
  const ticks = (): Map<number, number> => new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
  const percent = (from: Map<number, number>, to: Map<number, number>, seconds: number) =>
    new Map(pids.map((pid) => [pid, (((to.get(pid) ?? 0) - (from.get(pid) ?? 0)) / hz / seconds) * 100]));
  const first = ticks();
  const started = process.hrtime.bigint();
  const perWindow: Map<number, number>[] = [];
  let previous = first;
  let previousAt = started;
  for (let i = 0; i < windows; i++) {
    await new Promise((r) => setTimeout(r, windowSeconds * 1000));
    const now = ticks();
    const at = process.hrtime.bigint();
    perWindow.push(percent(previous, now, Number(at - previousAt) / 1e9));
    previous = now;
    previousAt = at;
  }
  return { total: percent(first, previous, Number(previousAt - started) / 1e9), perWindow };
}
