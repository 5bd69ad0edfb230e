/**
 * What a response of either HTTP server keeps: whether it was answered or aborted, and the list of abort listeners.
 * Exactly one of answer and abort happens; listeners run once on abort and are dropped once answered.
 */
export abstract class ResponseState {
  aborted = false;
  answered = false;
  private abortListeners: Array<() => void> = [];

  onAbort(listener: () => void): void {
    if (this.aborted) listener();
    else if (!this.answered) this.abortListeners.push(listener);
  }

  /** The client went away before the answer: every listener runs, once. */
  protected markAborted(): void {
    this.aborted = true;
    const listeners = this.abortListeners;
    this.abortListeners = [];
    for (const l of listeners) l();
  }

  /** Claims the one answer (or the cut); false when the request was already answered or aborted. */
  protected claimAnswer(): boolean {
    if (this.aborted || this.answered) return false;
    this.answered = true;
    this.abortListeners = [];
    return true;
  }
}
