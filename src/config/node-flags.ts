/**
 * The Node options the service runs with in production, defined once in package.json's config (node_flags):
 * `npm start` passes them on its command line ($npm_package_config_node_flags), the PM2 apps and everything
 * started from dist/ through nodeArgsFor (src/build/layout.ts). They apply to every thread of the process.
 *
 * Today none: measured on npm start at load (BENCHMARKS.md, issue 22), --max-semi-space-size=32 or 64 and
 * --single-threaded-gc change the CPU per request by less than run-to-run noise (±4 %). What drove the collections
 * was image-sized external memory (request bodies, now pooled; decoded pixels), which young-generation sizing
 * does not touch, while every MiB of semi-space is paid by each thread's heap.
 */
import { PACKAGE } from './package-info.ts';

export const NODE_FLAGS: readonly string[] = PACKAGE.config.node_flags.split(/\s+/).filter(Boolean);
