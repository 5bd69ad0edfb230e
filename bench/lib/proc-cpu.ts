/**
 * CPU time of a process tree from /proc (user + system, every thread of every process): a system's whole cost,
 * its private redis-server or its node:cluster workers included.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const CLK_TCK = 100;

interface Stat {
  ppid: number;
  cpuMs: number;
}

function stat(path: string): Stat | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK };
  } catch {
    return undefined; // exited meanwhile
  }
}

/** The pid and every descendant of it, now. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(`/proc/${d}/stat`);
    if (!s) continue;
    const list = parents.get(s.ppid);
    if (list) list.push(Number(d));
    else parents.set(s.ppid, [Number(d)]);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

/** CPU ms used so far by these processes (all their threads). */
export function cpuMsOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (stat(`/proc/${pid}/stat`)?.cpuMs ?? 0), 0);
}

/** The command name of a process ('redis-server', 'node'). */
export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Resident memory of these processes now, MiB (VmRSS, summed). */
export function rssMiBOf(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      kib += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return kib / 1024;
}
