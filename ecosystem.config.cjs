/**
 * PM2's entry to the production topology (normally driven by `npm run prod:up|prod:down|prod:status`, see
 * scripts/prod.ts). The apps and every setting come from scripts/pm2-apps.ts, which validates the environment of
 * the `pm2` command through src/config/ (a bad FRONTENDS stops here with the same message as a bad PORT).
 *
 * CommonJS (.cjs) on purpose: PM2 loads ecosystem files with require(), and this package is "type":"module",
 * so an ecosystem.config.js would be treated as ESM and fail to load under Node 20. require() cannot load the ES
 * module, so this bridge runs its build (dist/, from `npm run build`, as every production entry runs) and reads
 * its JSON.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

function apps() {
  try {
    return execFileSync(process.execPath, [path.join(__dirname, 'dist', 'scripts', 'pm2-apps.js')], {
      cwd: __dirname,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw new Error(String(err.stderr || err.message).trim());
  }
}

module.exports = JSON.parse(apps());
