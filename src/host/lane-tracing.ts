/**
 * A model lane's spans, when tracing is on: each request's stages on this host as children of the front end's
 * span whose context the stream entry carries (RequestMeta.traceparent):
 *
 *   queue wait   from the entry's XADD (its stream id's time) to the start of its preprocessing (consumer)
 *   preprocess   decode, resize and normalise into its batch slot (the worker's own time as an attribute)
 *   inference    the batch's run, one span per request it served, with the batch size and a batch id
 *   publish      writing the reply and acknowledging the entry, with the result's error code if it failed
 *
 * Only requests that carry a trace context get spans (a host's stages are never a trace's root). The lane wraps
 * its batcher's stages with these; with tracing off it does not wrap at all.
 */
import type { Tracer } from '../observability/tracer.ts';
import type { PreprocessOutcome } from '../wire/worker-messages.ts';
import type { BatchScores } from './inference-client.ts';
import type { BatcherDeps, Completed, Job, SlotFill } from './batcher.ts';

type Stages = Pick<BatcherDeps, 'preprocess' | 'infer' | 'complete'>;

/** The epoch ms of a stream entry id ("<ms>-<seq>"). */
function queuedAt(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf('-')));
}

export function traceStages(tracer: Tracer, lane: string, stages: Stages): Stages {
  let batches = 0;
  const attributes = { 'classify.lane': lane };
  return {
    preprocess: async (fill: SlotFill): Promise<PreprocessOutcome> => {
      const { env } = fill;
      if (env.traceparent === undefined) return stages.preprocess(fill);
      const start = Date.now();
      const queued = queuedAt(fill.entryId);
      if (queued <= start) tracer.start('queue wait', env, attributes, 'consumer', queued).end(start);
      const span = tracer.start('preprocess', env, {
        ...attributes,
        'classify.input': env.tensor ? 'tensor' : 'image',
      });
      const outcome = await stages.preprocess(fill);
      if (outcome.ok) span.setAttributes({ 'classify.preprocess.worker_ms': outcome.ms });
      else span.fail(outcome.code, outcome.message);
      span.end();
      return outcome;
    },
    infer: async (buffer: number, n: number, jobs: readonly Job[]): Promise<BatchScores> => {
      const start = Date.now();
      const batch = { ...attributes, 'classify.batch.size': n, 'classify.batch.id': ++batches };
      const spans = jobs.flatMap((job) =>
        job.env.traceparent === undefined ? [] : [tracer.start('inference', job.env, batch, 'internal', start)],
      );
      try {
        return await stages.infer(buffer, n, jobs);
      } catch (err) {
        for (const span of spans) span.fail('INTERNAL', (err as Error).message);
        throw err;
      } finally {
        for (const span of spans) span.end();
      }
    },
    complete: async (done: Completed[]): Promise<void> => {
      const spans = done.flatMap(({ job, result }) => {
        if (job.env.traceparent === undefined) return [];
        const span = tracer.start('publish', job.env, attributes, 'producer');
        if (!result.ok) span.fail(result.code, result.message);
        return [span];
      });
      try {
        await stages.complete(done);
      } catch (err) {
        for (const span of spans) span.fail('REDIS_ERROR', (err as Error).message);
        throw err;
      } finally {
        for (const span of spans) span.end();
      }
    },
  };
}
