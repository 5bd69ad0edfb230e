/**
 * What the image's node_modules (from `npm ci --omit=dev`) carries that the image never loads, removed by rule so
 * the saving of each rule is measured: packages needed only at build time (nsfwjs: the default model is exported
 * while building) or outside containers (pm2: the orchestrator restarts containers), with whatever only they
 * depend on; native binaries for other systems, CPUs and Node ABIs; source maps, type declarations and docs.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Production dependencies the image does without. */
export const IMAGE_OMITS = ['nsfwjs', 'pm2'];

interface LockPackage {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export function bytesUnder(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesUnder(join(path, name)), 0);
}

/** Lockfile keys (`node_modules/a/node_modules/b`) reachable from the root's dependencies, less the omitted ones. */
export function reachablePackages(lock: Record<string, LockPackage>, omit: string[]): Set<string> {
  const seen = new Set<string>();
  // Node's resolution: the nearest node_modules/<name> from the requiring package upwards.
  const locate = (from: string, name: string): string | undefined => {
    for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf('/node_modules/')))) {
      const key = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
      if (lock[key]) return key;
      if (!base) return undefined;
    }
  };
  const visit = (key: string) => {
    const pkg = lock[key];
    if (!pkg) return;
    const deps = { ...pkg.peerDependencies, ...pkg.optionalDependencies, ...pkg.dependencies };
    for (const name of Object.keys(deps)) {
      if (key === '' && omit.includes(name)) continue;
      const found = locate(key, name);
      if (found && !seen.has(found)) {
        seen.add(found);
        visit(found);
      }
    }
  };
  visit('');
  return seen;
}

function removeAll(paths: string[]): number {
  let bytes = 0;
  for (const p of paths) {
    bytes += bytesUnder(p);
    rmSync(p, { recursive: true, force: true });
  }
  return bytes;
}

function filesUnder(dir: string, keep: (path: string, isDir: boolean) => boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path, keep));
    else if (!keep(path, false)) out.push(path);
  }
  return out;
}

/** Prunes `<appDir>/node_modules` for linux-x64 and this Node ABI; returns the bytes each rule removed. */
export function pruneForImage(appDir: string, nodeAbi: string): Record<string, number> {
  const modules = join(appDir, 'node_modules');
  const lock = JSON.parse(readFileSync(join(appDir, 'package-lock.json'), 'utf8')).packages as Record<
    string,
    LockPackage
  >;
  const reachable = reachablePackages(lock, IMAGE_OMITS);
  const saved: Record<string, number> = {};
  saved[`packages only ${IMAGE_OMITS.join(' and ')} need`] = removeAll(
    Object.keys(lock)
      .filter((key) => key.startsWith('node_modules/') && !reachable.has(key))
      .map((key) => join(appDir, key))
      .filter((p) => existsSync(p)),
  );
  // onnxruntime-node ships bin/napi-v*/<os>/<cpu>/ for darwin, win32, linux arm64 and x64.
  const ortBin = join(modules, 'onnxruntime-node', 'bin');
  saved['ONNX Runtime for other systems and CPUs'] = existsSync(ortBin)
    ? removeAll(
        readdirSync(ortBin).flatMap((napi) =>
          readdirSync(join(ortBin, napi)).flatMap((os) =>
            os !== 'linux'
              ? [join(ortBin, napi, os)]
              : readdirSync(join(ortBin, napi, os))
                  .filter((cpu) => cpu !== 'x64')
                  .map((cpu) => join(ortBin, napi, os, cpu)),
          ),
        ),
      )
    : 0;
  // uWS packages carry one binary per system, CPU and Node ABI: uws_<os>_<cpu>_<abi>.node.
  const uwsKeep = `uws_linux_x64_${nodeAbi}.node`;
  saved[`uWS binaries other than ${uwsKeep}`] = removeAll(
    filesUnder(modules, (path) => !/\/uws_[a-z0-9]+_[a-z0-9]+_\d+\.node$/.test(path) || path.endsWith(`/${uwsKeep}`)),
  );
  saved['source maps, type declarations, TypeScript sources, Markdown'] = removeAll(
    filesUnder(modules, (path) => !/(\.map|\.d\.[cm]?ts|(?<!\.d)\.ts|\.md|\.markdown)$/i.test(path)),
  );
  return saved;
}
