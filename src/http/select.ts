/**
 * Which HTTP server a front end runs (HTTP_SERVER): `auto` (the default) serves with uWS where its binary loads,
 * else with node:http, saying once why and how to get uWS; `uws` requires uWS and refuses to start without it
 * (uws-binary.ts names the ways out); `node` always serves with node:http.
 */
import { createNodeServer } from './node-server.ts';
import type { HttpServer, HttpServerOptions } from './types.ts';
import { loadUws, UwsUnavailableError } from './uws-binary.ts';
import { createUwsServer } from './uws-server.ts';

export type HttpServerChoice = 'auto' | 'uws' | 'node';

/** `onFallback` hears, in `auto` mode where uWS does not load, the one line to warn with. */
export function createHttpServer(
  choice: HttpServerChoice,
  options: HttpServerOptions,
  onFallback: (line: string) => void = () => {},
  load: typeof loadUws = loadUws,
): HttpServer {
  if (choice === 'node') return createNodeServer(options);
  if (choice === 'uws') return createUwsServer(load(), options);
  try {
    return createUwsServer(load(), options);
  } catch (err) {
    if (!(err instanceof UwsUnavailableError)) throw err;
    onFallback(
      `serving with node:http: uWebSockets.js does not load here (${err.why}); for uWS, ${err.remedy}; HTTP_SERVER=node silences this`,
    );
    return createNodeServer(options);
  }
}
