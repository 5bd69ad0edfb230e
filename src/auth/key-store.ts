/**
 * The keys of one key file, held in memory and replaced on reload (SIGHUP, or the file changing on disk). A
 * reload that finds a bad or missing file keeps the previous keys and logs why, so a half-written file never
 * locks clients out. Lookups hash the presented key and compare it with every known hash in constant time.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import { hashKey, parseKeyFile, type KeyEntry } from './key-file.ts';

/** Editors and `keys:add` write in several steps; one reload after the writes settle. */
const CHANGE_SETTLE_MS = 100;

export class KeyStore {
  private keys: readonly KeyEntry[] = [];
  /** The text the current keys came from: a watch event that changed nothing reloads nothing. */
  private loadedText = '';
  private watcher: FSWatcher | undefined;
  private settle: NodeJS.Timeout | undefined;
  private readonly path: string;
  private listeners: Array<(names: ReadonlySet<string>) => void> = [];

  /** Reads the file now; throws (start-up error) if it is missing or bad. `variable` names it in messages. */
  constructor(
    path: string,
    private readonly log: Logger,
    readonly variable = 'API_KEYS_FILE',
  ) {
    this.path = resolve(path);
    const problem = this.load();
    if (problem) throw new Error(`${variable}=${path}: ${problem}`);
  }

  get size(): number {
    return this.keys.length;
  }

  names(): ReadonlySet<string> {
    return new Set(this.keys.map((k) => k.name));
  }

  /** The entry whose hash matches the presented key. Every entry is compared, so timing says nothing. */
  find(key: string): KeyEntry | undefined {
    const hash = hashKey(key);
    let found: KeyEntry | undefined;
    for (const entry of this.keys) if (timingSafeEqual(entry.hash, hash) && !found) found = entry;
    return found;
  }

  /** Called with the new names after every successful reload. */
  onReload(listener: (names: ReadonlySet<string>) => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads the file; on a problem the previous keys stay. Returns whether the new keys are in use. */
  reload(reason: string): boolean {
    const before = this.names();
    const problem = this.load();
    if (problem) {
      this.log.error(
        { file: this.path, reason, problem, keys: before.size },
        `${this.variable}: reload refused; keeping the previous keys`,
      );
      return false;
    }
    const after = this.names();
    const added = [...after].filter((n) => !before.has(n));
    const removed = [...before].filter((n) => !after.has(n));
    this.log.info({ file: this.path, reason, keys: after.size, added, removed }, `${this.variable}: keys reloaded`);
    for (const listener of this.listeners) listener(after);
    return true;
  }

  /**
   * Reloads when the file changes. The directory is watched, not the file: a file replaced by rename (how
   * editors and deploy tools save) would leave a watch on the old inode, and a Kubernetes secret volume swaps a
   * symlink (`..data`) beside it; so any event there re-reads the file, and only a changed text reloads. A key
   * file that is a symlink into another directory is seen by SIGHUP only.
   */
  watch(): void {
    if (this.watcher) return;
    this.watcher = watch(dirname(this.path), () => {
      clearTimeout(this.settle);
      this.settle = setTimeout(() => {
        if (this.readText() !== this.loadedText) this.reload('file changed');
      }, CHANGE_SETTLE_MS);
    });
    this.watcher.on('error', (err) =>
      this.log.error(
        { file: this.path, err: err.message },
        `${this.variable}: cannot watch the file; reload with SIGHUP`,
      ),
    );
  }

  close(): void {
    clearTimeout(this.settle);
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners = [];
  }

  /** Returns a problem, or undefined once the new keys are in place. */
  private load(): string | undefined {
    const text = this.readText();
    if (typeof text !== 'string') return `cannot read the file (${text.code})`;
    const parsed = parseKeyFile(text);
    if (!parsed.ok) return parsed.problems.join('; ');
    this.keys = parsed.keys;
    this.loadedText = text;
    return undefined;
  }

  private readText(): string | { code: string } {
    try {
      return readFileSync(this.path, 'utf8');
    } catch (err) {
      return { code: (err as NodeJS.ErrnoException).code ?? 'error' };
    }
  }
}
