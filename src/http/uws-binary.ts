/**
 * Loads uWebSockets.js's native binary for this Node, and nothing else. The npm builds silently fall back to a
 * slow pure-JS server when no binary matches; a serving system must not, so we load the binary ourselves, from
 * the package pinned for this Node's ABI, and when none loads the error says why (Node, ABI, glibc) and what to
 * do. Nothing loads until asked, so the node:http front end runs where no uWS binary does.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Uws2030 from 'uWebSockets.js';
import type * as Uws2057 from 'uws-20.57';

const require = createRequire(import.meta.url);

/** Node ABI → where its binary lives. Node 20: uWS 20.30 (npm alias `uWebSockets.js`); 22, 24: 20.57 (`uws-20.57`). */
const BINARY_DIRS: Readonly<Record<string, { alias: string; dir: string }>> = {
  '115': { alias: 'uWebSockets.js', dir: 'binaries' },
  '127': { alias: 'uws-20.57', dir: '' },
  '137': { alias: 'uws-20.57', dir: '' },
};
/** uws-20.57's Linux binaries are built on Ubuntu 24.04 and need this glibc. */
const GLIBC_FOR_2057 = '2.38';

/**
 * What the front end uses of uWS, typed so that both pinned packages fit (checked by PinnedUwsPackages below):
 * they differ a little, e.g. 20.57's getParameter may return undefined.
 */
export interface UwsRequest {
  forEach(cb: (key: string, value: string) => void): void;
  getParameter(index: number): string | undefined;
  getCaseSensitiveMethod(): string;
  getUrl(): string;
  getQuery(): string | undefined;
}
export interface UwsResponse {
  onAborted(handler: () => void): unknown;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): unknown;
  cork(cb: () => void): unknown;
  writeStatus(status: string): unknown;
  writeHeader(key: string, value: string): unknown;
  end(body?: string | Buffer, closeConnection?: boolean): unknown;
  /** Ends without a body (HEAD answers). */
  endWithoutBody(): unknown;
  /** Cuts the connection at once; onAborted runs. */
  close(): unknown;
}
type UwsRoute = (pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void) => unknown;
export interface UwsApp {
  get: UwsRoute;
  post: UwsRoute;
  put: UwsRoute;
  del: UwsRoute;
  patch: UwsRoute;
  head: UwsRoute;
  options: UwsRoute;
  any: UwsRoute;
  listen(host: string, port: number, cb: (listenSocket: UwsListenSocket | false) => void): unknown;
}
export type UwsListenSocket = Uws2030.us_listen_socket & Uws2057.us_listen_socket;
export interface UwsModule {
  App(): UwsApp;
  us_listen_socket_close(listenSocket: UwsListenSocket): void;
  us_socket_local_port(listenSocket: UwsListenSocket): number;
  getParts(
    body: Buffer,
    contentType: string,
  ): Array<{ name: string; data: ArrayBuffer; filename?: string; type?: string }> | undefined;
}
type FitsUwsModule<T extends UwsModule> = T;
/** Compile-time proof that both pinned packages provide UwsModule as typed above. */
export type PinnedUwsPackages = [FitsUwsModule<typeof Uws2030>, FitsUwsModule<typeof Uws2057>];

export interface LoadedUws {
  uws: UwsModule;
  /** The module id of the binary that loaded, for /readyz and the start-up log. */
  binary: string;
}

/** The glibc this process runs on ('' on musl or elsewhere), as Node's diagnostic report states it. */
export function glibcVersion(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ?? '';
}

export class UwsUnavailableError extends Error {
  constructor(
    message: string,
    /** Why, in a few words (the Node, the glibc, the binary's need). */
    readonly why: string,
    /** How to get uWS here. */
    readonly remedy: string,
  ) {
    super(message);
  }
}

/** The installed package's folder: 20.57's `exports` map hides its binaries from require('uws-20.57/...'). */
function packageRoot(alias: string): string | undefined {
  return (require.resolve.paths(alias) ?? [])
    .map((base) => join(base, alias))
    .find((dir) => existsSync(join(dir, 'package.json')));
}

function olderThan(version: string, than: string): boolean {
  const [a = 0, b = 0] = version.split('.').map(Number);
  const [c = 0, d = 0] = than.split('.').map(Number);
  return a < c || (a === c && b < d);
}

let loaded: LoadedUws | undefined;

/** `abi` is this Node's unless a test asks for another. */
export function loadUws(abi: string = process.versions.modules): LoadedUws {
  if (loaded && abi === process.versions.modules) return loaded;
  const where = BINARY_DIRS[abi];
  const file = `uws_${process.platform}_${process.arch}_${abi}.node`;
  let reason = `no pinned uWS package has a binary for ABI ${abi} (tested: Node 20, 22, 24)`;
  if (where) {
    const id = [where.alias, where.dir, file].filter(Boolean).join('/');
    const root = packageRoot(where.alias);
    try {
      if (!root) throw new Error(`package ${where.alias} is not installed (npm ci)`);
      const found = { uws: require(join(root, where.dir, file)) as UwsModule, binary: id };
      if (abi === process.versions.modules) loaded = found;
      return found;
    } catch (err) {
      reason = `${id}: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  const glibc = glibcVersion();
  const oldGlibc = where?.alias === 'uws-20.57' && olderThan(glibc, GLIBC_FOR_2057);
  const newerGlibc = !where
    ? 'run on Node 20, 22 or 24 '
    : oldGlibc
      ? `run on glibc ${GLIBC_FOR_2057} or newer (Debian 13, Ubuntu 24.04), which this binary needs, `
      : 'reinstall (npm ci) ';
  throw new UwsUnavailableError(
    `uWebSockets.js has no native binary that loads on Node ${process.version} (ABI ${abi}, ` +
      `${process.platform}-${process.arch}, glibc ${glibc || 'unknown'}): ${reason}.\n` +
      `Either ${newerGlibc}or set HTTP_SERVER=node to serve with Node's own http module ` +
      `(docs/deployment.md, "Node versions").`,
    oldGlibc
      ? `its binary for Node ${process.version} needs glibc ${GLIBC_FOR_2057}, this system has ${glibc}`
      : `no binary loads on Node ${process.version} (${reason})`,
    oldGlibc
      ? `run on glibc ${GLIBC_FOR_2057} or newer (Debian 13, Ubuntu 24.04), or the container image (docs/deployment.md)`
      : `${newerGlibc.trim()}, or the container image (docs/deployment.md)`,
  );
}
