/**
 * What `npm run prod:up` started, saved in PROD_VAR_DIR/deployment.json: the addresses it serves on and how long
 * a request may take. `prod:status` and `prod:down` read them, so they find the deployment whatever the
 * environment they run in (PORT or NGINX_PORT need not be repeated); only PROD_VAR_DIR must be the same.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ProdState {
  /** The front ends' address, e.g. http://127.0.0.1:8080. */
  direct: string;
  /** nginx's listen address (host:port), when prod:up started nginx. */
  nginx?: string;
  /** gRPC endpoints, as prod:up printed them. */
  grpc?: string;
  requestTimeoutMs: number;
  startedAt: string;
}

const stateFile = (varDir: string) => join(varDir, 'deployment.json');

export async function saveProdState(varDir: string, state: ProdState): Promise<void> {
  await writeFile(stateFile(varDir), `${JSON.stringify(state, null, 2)}\n`);
}

/** The state prod:up saved, or undefined when none (never started here, or stopped). */
export async function readProdState(varDir: string): Promise<ProdState | undefined> {
  if (!existsSync(stateFile(varDir))) return undefined;
  try {
    return JSON.parse(await readFile(stateFile(varDir), 'utf8')) as ProdState;
  } catch {
    return undefined; // torn by a crash mid-write: as if none
  }
}

export async function clearProdState(varDir: string): Promise<void> {
  await rm(stateFile(varDir), { force: true });
}
