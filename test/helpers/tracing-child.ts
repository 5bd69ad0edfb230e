/**
 * Child process of the tracing test: the real service (host + front end, in-process) with the environment it is
 * given, one classified request, then one JSON line: how many OpenTelemetry SDK modules this process loaded. With
 * tracing off the answer must be 0, with it on more than 0 (so the count can tell). @opentelemetry/api is not
 * counted: prom-client loads that no-op API package in every process, tracing or not.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { EXAMPLES, postImage, startTestService } from '../../scripts/lib/in-process-service.ts';

const env = JSON.parse(process.argv[2] ?? '{}') as Record<string, string>;
const svc = await startTestService(env);
let status = 0;
try {
  const res = await postImage(svc.url, await readFile(new URL('chelsea.png', EXAMPLES)), {
    headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  });
  status = res.status;
} finally {
  await svc.close();
}
const cache = createRequire(import.meta.url).cache;
const sdk = Object.keys(cache).filter((k) => /\/node_modules\/@opentelemetry\/(?!api\/)/.test(k));
process.stdout.write(`${JSON.stringify({ status, otelSdkModules: sdk.length })}\n`);
