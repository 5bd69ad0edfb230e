/**
 * The image's node_modules: `npm ci --omit=dev` from package.json and package-lock.json alone (with .npmrc:
 * onnxruntime-node's CUDA download skipped), then pruned for linux-x64 and the image's Node ABI (prune.ts).
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_DIR } from '../../src/build/layout.ts';
import { bytesUnder, pruneForImage } from './prune.ts';
import { run } from './run.ts';

export const MODULE_INPUTS = ['package.json', 'package-lock.json', '.npmrc'];

export async function installModules(out: string, abi: string): Promise<void> {
  for (const f of MODULE_INPUTS) copyFileSync(join(PROJECT_DIR, f), join(out, f));
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: out,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    quiet: true,
  });
  const installed = bytesUnder(join(out, 'node_modules'));
  const pruned = pruneForImage(out, abi);
  const report = { installedBytes: installed, prunedBytes: pruned, keptBytes: bytesUnder(join(out, 'node_modules')) };
  writeFileSync(join(out, 'prune-report.json'), `${JSON.stringify(report, null, 1)}\n`);
}
