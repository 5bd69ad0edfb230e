/**
 * Which HTTP server a front end runs: HTTP_SERVER=uws or node; unset means uWS, which must then load. There is
 * no silent fallback: where uWS does not load, start-up fails with an error naming both ways out (uws-binary.ts).
 */
import { createNodeServer } from './node-server.ts';
import type { HttpServer, HttpServerKind, HttpServerOptions } from './types.ts';
import { loadUws } from './uws-binary.ts';
import { createUwsServer } from './uws-server.ts';

export function createHttpServer(choice: HttpServerKind | '', options: HttpServerOptions): HttpServer {
  return choice === 'node' ? createNodeServer(options) : createUwsServer(loadUws(), options);
}
