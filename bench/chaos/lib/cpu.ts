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
  const hz = clockTicks();
  const before = new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return new Map(pids.map((pid) => [pid, ((cpuTicks(pid) - (before.get(pid) ?? 0)) / hz / elapsed) * 100]));
}
