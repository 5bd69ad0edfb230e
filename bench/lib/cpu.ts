/**
 * The CPU a benchmark ran on, as BENCHMARKS.md names it: model name, x86 family/model, and the vector extensions
 * that decide inference speed (AVX2, AVX-512, VNNI), read from /proc/cpuinfo.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export function describeCpu(): string {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8').split('\n\n')[0] ?? '';
  } catch {
    return cpus()[0]?.model ?? 'unknown CPU';
  }
  const field = (name: string): string | undefined => info.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1];
  const flags = new Set((field('flags') ?? '').split(' '));
  const vector = [
    flags.has('avx512f') ? 'AVX-512' : flags.has('avx2') ? 'AVX2' : 'no AVX2',
    ...(flags.has('avx512_vnni') || flags.has('avx_vnni') ? ['VNNI'] : []),
  ].join(' + ');
  return `${field('model name') ?? cpus()[0]?.model} (family ${field('cpu family')} model ${field('model')}, ${vector}, ${cpus().length} cores)`;
}
