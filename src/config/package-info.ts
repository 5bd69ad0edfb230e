/** What package.json says about this service (its version, npm config), read once, from source or built form alike. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageInfo {
  name: string;
  version: string;
  /** package.json "config": npm scripts see these as $npm_package_config_<key>. */
  config: { uv_threadpool_size: number; node_flags: string; malloc_arena_max: number };
}

/** The nearest versioned package.json above this module: src/config/ when run with tsx, dist/src/config/ when built. */
function readPackageJson(): PackageInfo {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    const json = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<PackageInfo>) : {};
    // A built tree may hold a bare {"type": "module"} package.json: the project's own is the one with a version.
    if (typeof json.version === 'string') return json as PackageInfo;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  }
}

export const PACKAGE: Readonly<PackageInfo> = readPackageJson();
