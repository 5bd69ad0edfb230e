/**
 * Loads uWebSockets.js's native binary for this Node, and nothing else. The npm builds silently fall back to a
 * slow pure-JS server when no binary matches; a serving system must not, so we load the binary ourselves, and
 * when none loads the error says why (Node, ABI, glibc) and what to do. Nothing is loaded until asked for, so
 * the node:http front end runs where no uWS binary does.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export type Uws = typeof UWS;

export interface LoadedUws {
  uws: Uws;
  /** The module id of the binary that loaded, for /readyz and the start-up log. */
  binary: string;
}

/** The glibc this process runs on ('' on musl or elsewhere), as Node's diagnostic report states it. */
export function glibcVersion(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? '';
}

export class UwsUnavailableError extends Error {}

let loaded: LoadedUws | undefined;

export function loadUws(): LoadedUws {
  if (loaded) return loaded;
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  // The npm alias keeps binaries in binaries/; the official GitHub build keeps them at the package root.
  const candidates = [`uWebSockets.js/binaries/${name}`, `uWebSockets.js/${name}`];
  const errors: string[] = [];
  for (const id of candidates) {
    try {
      loaded = { uws: require(id) as Uws, binary: id };
      return loaded;
    } catch (err) {
      errors.push(`  ${id}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const glibc = glibcVersion();
  throw new UwsUnavailableError(
    `uWebSockets.js has no native binary that loads on Node ${process.version} (ABI ${process.versions.modules}, ` +
      `${process.platform}-${process.arch}, glibc ${glibc || 'unknown'}).\n` +
      `Either run on Node 20, or set HTTP_SERVER=node to serve with Node's own http module ` +
      `(README, "Node versions").\n${errors.join('\n')}`,
  );
}
