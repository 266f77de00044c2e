/**
 * Producer-side completion signals keyed by a string the producer chose (`doneKey` in a job's payload):
 * a key may be signalled before anyone waits for it (the completion can beat the enqueue call's return),
 * so early signals are kept until claimed.
 */
export class DoneWaiter {
  private readonly early = new Set<string>();
  private readonly waiting = new Map<string, () => void>();

  signal(key: string): void {
    const resolve = this.waiting.get(key);
    if (resolve) {
      this.waiting.delete(key);
      resolve();
    } else {
      this.early.add(key);
    }
  }

  wait(key: string): Promise<void> {
    if (this.early.delete(key)) return Promise.resolve();
    return new Promise((resolve) => this.waiting.set(key, resolve));
  }

  clear(): void {
    this.early.clear();
    this.waiting.clear();
  }
}
