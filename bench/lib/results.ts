/**
 * Where a benchmark's JSON goes. bench/results/ holds the committed figures that BENCHMARKS.md quotes, so a run
 * writes there only when asked (BENCH_SAVE=1); otherwise to a temporary directory, so a trial run never overwrites
 * them. (npm run bench, bench:micro and bench:load regenerate the committed summary: that is their job.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const COMMITTED = fileURLToPath(new URL('../results/', import.meta.url));

/** Writes `data` as JSON under `name`; returns the path written and says it on stdout. */
export function saveResults(name: string, data: unknown): string {
  const dir = process.env.BENCH_SAVE === '1' ? COMMITTED : join(tmpdir(), 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  console.log(`wrote ${file}${dir === COMMITTED ? '' : ' (BENCH_SAVE=1 writes bench/results/)'}`);
  return file;
}
