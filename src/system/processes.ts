/** Process helpers shared by the production scripts, the benchmarks and the tests. */
import { execFileSync } from 'node:child_process';

/** Whether a process with this pid exists: EPERM means it does, owned by another user. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The direct children of a process (pgrep -P); none when it has none or is gone. */
export function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** A process and everything below it, parents before children. */
export function processTree(pid: number): number[] {
  return [pid, ...childrenOf(pid).flatMap(processTree)];
}
