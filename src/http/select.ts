/**
 * Which HTTP server a front end runs: HTTP_SERVER=uws or node; unset means uWS, which must then load. There is
 * no silent fallback: where uWS does not load, start-up fails with an error naming both ways out (uws-binary.ts).
 */
import { createNodeServer, type NodeServerOptions } from './node-server.ts';
import type { HttpServer, HttpServerKind } from './types.ts';
import { loadUws } from './uws-binary.ts';
import { createUwsServer } from './uws-server.ts';

export function createHttpServer(choice: HttpServerKind | '', nodeOptions: NodeServerOptions = {}): HttpServer {
  return choice === 'node' ? createNodeServer(nodeOptions) : createUwsServer(loadUws());
}
