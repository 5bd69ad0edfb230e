/**
 * npm run quantize -- MODEL [options] (see options.ts for every option). Exits 0 when a version was published
 * (or the dry run passed), 1 on an error, 2 when the fidelity report is over the limits and nothing was published.
 */
import { parseOptions, USAGE } from './options.ts';
import { runQuantize } from './quantize.ts';

export const EXIT_REFUSED = 2;

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
let options;
try {
  options = parseOptions(argv);
} catch (err) {
  console.error(`quantize: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(1);
}
try {
  const outcome = await runQuantize(options, process.env, (line) => console.log(line));
  if (outcome.problems.length > 0) {
    const verdict = options.force ? 'published anyway (--force)' : 'REFUSED: nothing was published';
    console.error(`quantize: ${verdict}: ${outcome.problems.join('; ')}`);
  }
  if (outcome.published) {
    console.log(`published ${options.model} version ${outcome.published.version} (int8) in ${outcome.published.dir}`);
    console.log(outcome.published.policyNote);
  } else if (options.dryRun) console.log('dry run: nothing was published');
  process.exitCode = outcome.problems.length > 0 && !options.force ? EXIT_REFUSED : 0;
} catch (err) {
  console.error(`quantize failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
