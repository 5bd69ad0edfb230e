/**
 * Loaded into every test file (`npm test` passes it with --import): an 'error' event that nobody handles fails the
 * test instead of scrolling past. Node's EventEmitter already throws such an error (node:test reports it against
 * the running test); ioredis only prints "[ioredis] Unhandled error event", so that line becomes an uncaught
 * exception too.
 */
const print = console.error.bind(console);
console.error = (...args) => {
  print(...args);
  if (typeof args[0] === 'string' && args[0].startsWith('[ioredis] Unhandled error event')) {
    const err = new Error(`an ioredis client emitted 'error' with no listener: ${String(args[1]).split('\n')[0]}`);
    process.nextTick(() => {
      throw err;
    });
  }
};
