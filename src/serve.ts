/** One entry for every role (src/config/roles.ts), the container image's: `node dist/src/serve.js [role]`, or ROLE=<role>. */
import { chooseRole } from './config/roles.ts';

let role: ReturnType<typeof chooseRole>;
try {
  role = chooseRole(process.argv[2]);
} catch (err) {
  process.stderr.write(`start-up failed: ${(err as Error).message}\n`);
  process.exit(2);
}
// Literal specifiers, so the build rewrites them to the compiled files.
if (role === 'frontend') await import('./frontend/main.ts');
else if (role === 'model-host') await import('./host/main.ts');
else await import('./main.ts');
