/**
 * Loads uWebSockets.js's native binary and nothing else. The npm build we use silently falls back to a slow
 * pure-JS server when its binary does not match this Node; a serving system must not, so we load the binary
 * ourselves and refuse to start without it.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export type Uws = typeof UWS;

function load(): { uws: Uws; binary: string } {
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  // The npm alias keeps binaries in binaries/; the official GitHub build keeps them at the package root.
  const candidates = [`uWebSockets.js/binaries/${name}`, `uWebSockets.js/${name}`];
  const errors: string[] = [];
  for (const id of candidates) {
    try {
      return { uws: require(id) as Uws, binary: id };
    } catch (err) {
      errors.push(`${id}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `uWebSockets.js has no native binary for Node ${process.version} (ABI ${process.versions.modules}, ${process.platform}-${process.arch}).\n` +
    `This project pins Node 20; for a newer Node install the official build (see README, "Node versions").\n` + errors.join('\n'),
  );
}

const loaded = load();
export const uws: Uws = loaded.uws;
/** Which native binary is serving, for /readyz and the native-server test. */
export const uwsBinary: string = loaded.binary;
