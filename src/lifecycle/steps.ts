/**
 * Ordered clean-up that never stops half way: every step runs even when an earlier one failed, so a failing
 * Redis quit cannot leave a thread pool or a listening socket open. Used by close() and by start-up failures.
 */

export type Step = readonly [name: string, run: () => unknown];

/** Runs the steps in order; each failure is reported to onFailure and the next step runs anyway. */
export async function runSteps(steps: Iterable<Step>, onFailure: (step: string, err: Error) => void): Promise<void> {
  for (const [name, run] of steps) {
    try {
      await run();
    } catch (err) {
      onFailure(name, err instanceof Error ? err : new Error(String(err)));
    }
  }
}
