/**
 * Preloaded (`node --import ./scripts/check-install.mjs ...`) by the npm scripts that run the service or its tools,
 * before anything else is resolved: a clone without `npm run setup` gets one line saying so, not a module stack.
 * Plain JavaScript with no imports beyond Node's own, so it runs when nothing is installed.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { relative } from 'node:path';

const missing = [];
try {
  createRequire(new URL('../package.json', import.meta.url)).resolve('pino');
} catch {
  missing.push('node_modules');
}
const main = process.argv[1];
if (main && /[\\/]dist[\\/]/.test(main) && !existsSync(main)) missing.push(relative('.', main));
if (missing.length > 0) {
  console.error(`Not set up yet (missing: ${missing.join(', ')}): run \`npm run setup\` first (README, Quick start).`);
  process.exit(1);
}
