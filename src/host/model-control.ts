/**
 * A model host's side of the management API: it follows the load/unload commands published on the control
 * channel (and, at start, reads the unloads kept for its models), runs them one at a time per model against
 * its models, and files one acknowledgement per command for the admin server to collect.
 */
import type { Logger } from '../observability/logger.ts';
import type { RedisClient } from '../redis/connect.ts';
import type { Keys } from '../wire/keys.ts';
import {
  ACK_TTL_S,
  managementKeys,
  keptUnloads,
  parseCommand,
  type ControlAck,
  type ControlCommand,
} from '../wire/management.ts';
import type { VersionStatus } from '../wire/versions.ts';

/** What the host does with a command; thrown errors become the acknowledgement's `error`. */
export interface ControlTarget {
  /** Whether this host serves the model at all (its repository and MODELS). */
  serves(model: string): boolean;
  /** (Re)reads the model's versions from the repository and loads what its policy selects. */
  load(model: string): Promise<VersionStatus[]>;
  /** Unloads every version, once the requests already given to them are answered. */
  unload(model: string): Promise<VersionStatus[]>;
  versions(model: string): VersionStatus[];
}

export class ModelControlListener {
  private readonly names;
  /** Per model, the tail of its queue of commands: they run in order, one at a time. */
  private readonly queues = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    /** A connection of its own: a subscribed connection can do nothing else. */
    private readonly subscriber: RedisClient,
    private readonly command: RedisClient,
    keys: Keys,
    private readonly hostId: string,
    private readonly target: ControlTarget,
    private readonly log: Logger,
  ) {
    this.names = managementKeys(keys);
  }

  /**
   * Subscribes, then reads the models kept unloaded (a host starting after an unload must not serve them): the
   * host loads the others. Commands published from here on are followed.
   */
  async start(): Promise<Set<string>> {
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.names.channel || this.closed) return;
      const cmd = parseCommand(text);
      if (!cmd) return void this.log.warn({ channel }, 'model control: ignored a malformed command');
      this.enqueue(cmd);
    });
    await this.subscriber.subscribe(this.names.channel);
    const kept = keptUnloads(await this.command.hgetall(this.names.control));
    return new Set([...kept.keys()].filter((model) => this.target.serves(model)));
  }

  /** Resolves once every queued command has run. */
  async idle(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    await this.idle();
  }

  private enqueue(cmd: ControlCommand): void {
    const previous = this.queues.get(cmd.model) ?? Promise.resolve();
    const next = previous.then(() => this.run(cmd));
    this.queues.set(cmd.model, next);
    void next.then(() => {
      if (this.queues.get(cmd.model) === next) this.queues.delete(cmd.model);
    });
  }

  private async run(cmd: ControlCommand): Promise<void> {
    const log = this.log.child({ model: cmd.model, action: cmd.action, by: cmd.by, commandId: cmd.id });
    let ack: ControlAck;
    if (!this.target.serves(cmd.model)) {
      ack = { id: cmd.id, host: this.hostId, served: false, ok: true, versions: [] };
    } else {
      try {
        const versions = await (cmd.action === 'load' ? this.target.load(cmd.model) : this.target.unload(cmd.model));
        const failed = versions.filter((v) => v.state === 'failed');
        ack = { id: cmd.id, host: this.hostId, served: true, ok: failed.length === 0, versions };
        if (failed.length > 0)
          ack.error = failed.map((v) => `version ${v.version}: ${v.reason ?? 'failed'}`).join('; ');
        log[ack.ok ? 'info' : 'warn'](
          { versions, error: ack.error },
          `model control: ${cmd.action} ${ack.ok ? 'done' : 'failed'}`,
        );
      } catch (err) {
        ack = {
          id: cmd.id,
          host: this.hostId,
          served: true,
          ok: false,
          versions: this.target.versions(cmd.model),
          error: (err as Error).message,
        };
        log.warn({ error: ack.error }, `model control: ${cmd.action} failed`);
      }
    }
    const key = this.names.ack(cmd.id);
    await this.command
      .multi()
      .rpush(key, JSON.stringify(ack))
      .expire(key, ACK_TTL_S)
      .exec()
      .catch((err: Error) => log.warn({ err: err.message }, 'model control: acknowledgement not filed'));
  }
}
