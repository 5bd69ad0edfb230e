/**
 * A model host process for the soak: the product's startModelHost, plus an IPC answer to 'stats' with its RSS,
 * heap and the inference thread's live tensor count. Needs REDIS_URL; prints "model host ready" when serving.
 */
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startModelHost } from '../../src/host/model-host.ts';

const config = loadConfig();
const host = await startModelHost(config, config.REDIS_URL!, createLogger('soak-host', config.LOG_LEVEL));
process.on('message', async (msg) => {
  if (msg !== 'stats') return;
  const liveTensors = await host.liveTensors();
  const mem = process.memoryUsage();
  process.send!({
    rssMiB: mem.rss / 2 ** 20,
    heapUsedMiB: mem.heapUsed / 2 ** 20,
    externalMiB: mem.external / 2 ** 20,
    liveTensors,
  });
});
const stop = () => void host.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log('soak host ready');
