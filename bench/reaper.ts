/**
 * Kills the bench's child processes if the bench itself dies without doing so (even by SIGKILL).
 *
 * The bench writes `+<pid>` on our stdin for every child it starts, `-<pid>` when one exits, and
 * `dir <path>` for its temp dir; when stdin closes, every PID still listed gets SIGKILL and the temp
 * dir is removed. A bench that finishes normally has already stopped its children and removed the
 * dir, so nothing is left to do then.
 */
import { rmSync } from 'node:fs';

let tmpDir: string | undefined;
const pids = new Set<number>();
let buffered = '';

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  let nl: number;
  while ((nl = buffered.indexOf('\n')) !== -1) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (line.startsWith('dir ')) {
      const dir = line.slice(4);
      if (dir.includes('portcullis-bench-')) tmpDir = dir;
      continue;
    }
    const pid = Number(line.slice(1));
    if (!Number.isInteger(pid) || pid <= 1) continue;
    if (line.startsWith('+')) pids.add(pid);
    else if (line.startsWith('-')) pids.delete(pid);
  }
});

function reap(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  process.exit(0);
}
process.stdin.on('end', reap);
process.stdin.on('error', reap);
// A Ctrl-C reaches the whole process group: leave the orderly stop to the bench, keep watching.
process.on('SIGINT', () => {});
