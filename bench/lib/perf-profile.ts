/**
 * A CPU profile of running processes with Linux perf (software cpu-clock sampling, so it works in VMs without
 * hardware counters): samples of every thread of the given pids, sorted by where they ran (shared object, and in
 * the node binary by what V8 was doing) and by thread role. Each sample stands for 1000 / hz ms of CPU.
 *
 *   perf record -e cpu-clock -F <hz> -p <pids> -o <file>      while the load runs
 *   perf script -F comm,pid,tid,ip,sym,dso                     one line per sample, summed here
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PERF_HZ = 1999;

/** Whether `perf record` can sample here (installed, and permitted by perf_event_paranoid for this user). */
export function perfAvailable(): boolean {
  const r = spawnSync('perf', ['record', '-e', 'cpu-clock', '-o', '/dev/null', '--', 'true'], { stdio: 'ignore' });
  return r.status === 0;
}

export interface Recording {
  /** Stops sampling and reads the samples. */
  stop(): Promise<Profile>;
}

export interface Profile {
  samples: number;
  /** CPU ms by category (shared object; V8's GC, compiler, builtins and runtime told apart in the node binary). */
  byCategory: Map<string, number>;
  /** CPU ms by thread role (main thread, redis-server, and other threads by what they mostly ran). */
  byRole: Map<string, number>;
  /** CPU ms of the image work: decoders, ORT, and the JS of decode workers (resize, normalisation). */
  workMs: number;
}

/** `keep`: leave the perf.data file for `perf report` (its path is logged). */
export function startPerf(pids: readonly number[], hz = PERF_HZ, keep = false): Recording {
  const file = join(tmpdir(), `perf-profile-${process.pid}-${Date.now()}.data`);
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(hz), '-p', pids.join(','), '-o', file], {
    stdio: 'ignore',
  });
  const exited = once(perf, 'exit');
  return {
    async stop() {
      perf.kill('SIGINT');
      await exited;
      try {
        return summarise(readSamples(file), pids, 1000 / hz);
      } finally {
        if (keep) console.log(`perf data kept: ${file}`);
        else rmSync(file, { force: true });
      }
    },
  };
}

interface Sample {
  comm: string;
  pid: number;
  tid: number;
  sym: string;
  dso: string;
}

function readSamples(file: string): Sample[] {
  const out = spawnSync('perf', ['script', '-i', file, '-F', 'comm,pid,tid,ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  }).stdout;
  const samples: Sample[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(.+?)\s+(\d+)\/(\d+)\s+[0-9a-f]+\s+(.*?)\s*\(([^()]*)\)\s*$/.exec(line);
    if (m) samples.push({ comm: m[1]!, pid: Number(m[2]), tid: Number(m[3]), sym: m[4]!, dso: m[5]! });
  }
  return samples;
}

const V8_COMPILER = /compiler|Turbofan|Maglev|Sparkplug|Baseline|Compil|Parser|Scanner|BytecodeGenerator|Liftoff/;
const V8_GC =
  /Heap|Scaveng|Mark|Sweep|Evacuat|Compact|GCTracer|MinorMC|Remembered|SlotSet|MemoryAllocator|ArrayBufferSweeper|LocalAllocation|PagedSpace|NewSpace|Marking/;

/** Where one sample ran, by shared object; the node binary is split by what V8 or node was doing. */
export function category({ comm, sym, dso }: Sample): string {
  if (comm.startsWith('redis-server') || /redis-server|redis-check/.test(dso)) return 'redis-server';
  if (/onnxruntime/.test(dso)) return 'onnxruntime';
  if (/libvips|sharp-linux|sharp-/.test(dso)) return 'libvips (sharp)';
  if (/napi-rs|image\.linux/.test(dso)) return '@napi-rs/image (PNG decoder)';
  if (/uws|uWebSockets/i.test(dso)) return 'uWS';
  if (/kernel\.kallsyms|^\[kernel/.test(dso)) return 'kernel';
  if (dso === '[vdso]') return 'vdso (clock reads)';
  if (/lib(c|m|pthread)[.-]|ld-linux/.test(dso)) return 'libc (memcpy, malloc)';
  if (/libstdc\+\+|libgcc/.test(dso)) return 'libstdc++';
  if (/^\[JIT\]|^\/tmp\/perf-|^\[unknown\]|^\/\/anon|^$/.test(dso)) return 'JIT-compiled JS';
  if (/(^|\/)node$/.test(dso)) {
    // Node's own zlib (and its CRC), which the PNG decoder inflates with.
    if (/inflate|adler32|crc32|zlib|Zlib/.test(sym)) return 'zlib (PNG inflate)';
    if (sym.startsWith('Builtins_')) return 'V8 builtins and interpreter';
    if (V8_COMPILER.test(sym)) return 'V8 compilers';
    if (V8_GC.test(sym)) return 'V8 GC';
    return 'node and V8 runtime';
  }
  return dso.slice(dso.lastIndexOf('/') + 1) || dso;
}

const DECODERS = new Set(['libvips (sharp)', '@napi-rs/image (PNG decoder)', 'zlib (PNG inflate)']);
const WORK = new Set(['onnxruntime', ...DECODERS]);

function summarise(samples: Sample[], roots: readonly number[], msPerSample: number): Profile {
  const byCategory = new Map<string, number>();
  const perThread = new Map<number, { main: boolean; redis: boolean; cats: Map<string, number> }>();
  for (const s of samples) {
    const cat = category(s);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + msPerSample);
    let t = perThread.get(s.tid);
    if (!t) {
      t = { main: s.tid === s.pid && roots.includes(s.pid), redis: s.comm.startsWith('redis'), cats: new Map() };
      perThread.set(s.tid, t);
    }
    t.cats.set(cat, (t.cats.get(cat) ?? 0) + msPerSample);
  }
  const byRole = new Map<string, number>();
  let workMs = 0;
  for (const t of perThread.values()) {
    const total = [...t.cats.values()].reduce((a, b) => a + b, 0);
    const top = [...t.cats].sort((a, b) => b[1] - a[1])[0]![0];
    const decodes = [...DECODERS].some((d) => (t.cats.get(d) ?? 0) > 0.05 * total);
    const role = t.redis
      ? 'redis-server'
      : t.main
        ? 'main thread (process)'
        : top === 'onnxruntime'
          ? 'inference (ORT) thread'
          : decodes
            ? 'decode threads'
            : /^V8 (GC|compilers)/.test(top)
              ? 'V8 helper threads (GC, compiler)'
              : `other threads (mostly ${top})`;
    byRole.set(role, (byRole.get(role) ?? 0) + total);
    for (const [cat, ms] of t.cats) {
      // The JS a decode thread runs is the resize and normalisation of its images.
      if (WORK.has(cat) || (role === 'decode threads' && cat === 'JIT-compiled JS')) workMs += ms;
    }
  }
  return { samples: samples.length, byCategory, byRole, workMs };
}
