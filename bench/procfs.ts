/**
 * What the benchmarks read about their child processes on Linux (/proc), and a free loopback port.
 * Elsewhere the readers return undefined and the benches report "n/a".
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The live child processes of `pid` (a cluster primary's workers, nginx's worker). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return []; // no children file (older kernels): the process alone
  }
}

/** user+system CPU milliseconds of `pid` and its children (two levels), or undefined without /proc. */
export function cpuMs(pid: number, depth = 0): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, utime field 14, stime field 15 (1-based, see proc(5)).
    let ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    if (depth < 2) for (const k of childrenOf(pid)) ms += cpuMs(k, depth + 1) ?? 0;
    return ms;
  } catch {
    return undefined;
  }
}

/** Resident set in MB of `pid` and its children (two levels), or undefined without /proc. */
export function rssMb(pid: number, depth = 0): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    let mb = m ? Number(m[1]) / 1024 : 0;
    if (depth < 2) for (const k of childrenOf(pid)) mb += rssMb(k, depth + 1) ?? 0;
    return mb;
  } catch {
    return undefined;
  }
}

/** A port on 127.0.0.1 that was free a moment ago (for servers that cannot announce port 0). */
export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  s.close();
  await once(s, 'close');
  return port;
}
