/**
 * A Lua script call whose Buffer arguments go to the socket as they are. ioredis joins every argument of a
 * command into one new buffer before writing it (Command.toWritable), so a command carrying an image costs a copy
 * of the image, again on every retry on another shard; this command writes its leading part, each Buffer and the
 * parts between them as chunks of one corked write (one writev), so the image is never copied in user space.
 *
 * Only for commands sent on their own (redis.sendCommand): a pipeline or MULTI joins its commands anyway.
 */
import { createHash } from 'node:crypto';
import { Socket } from 'node:net';
import { Command } from 'ioredis';
import type { RedisClient } from './connect.ts';

const uncork = (socket: Socket) => socket.uncork();

class UnjoinedCommand extends Command {
  override toWritable(socket: object): string | Buffer {
    // Only when ioredis writes to this very socket (always, for a command sent on its own).
    if (!(socket instanceof Socket)) return super.toWritable(socket);
    socket.cork();
    let text = `*${this.args.length + 1}\r\n$${Buffer.byteLength(this.name)}\r\n${this.name}\r\n`;
    for (const arg of this.args) {
      if (Buffer.isBuffer(arg)) {
        socket.write(`${text}$${arg.byteLength}\r\n`);
        socket.write(arg);
        text = '\r\n';
      } else {
        const s = String(arg);
        text += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      }
    }
    // ioredis writes what this returns right after; the chunks leave together once this tick's writes are in.
    process.nextTick(uncork, socket);
    return text;
  }
}

export type ScriptArgument = string | number | Uint8Array;

export class UnjoinedScript {
  private readonly sha: string;

  constructor(
    private readonly lua: string,
    private readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** EVALSHA, and EVAL once when the server does not know the script yet (a new connection or a restart). */
  async run(redis: RedisClient, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    const tail = [this.numberOfKeys, ...keys, ...args.map(asArgument)];
    try {
      return await send(redis, new UnjoinedCommand('evalsha', [this.sha, ...tail], { replyEncoding: 'utf8' }));
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return send(redis, new UnjoinedCommand('eval', [this.lua, ...tail], { replyEncoding: 'utf8' }));
    }
  }
}

/** A Buffer over the same memory (ioredis writes Buffers as bytes, and anything else as its string). */
function asArgument(arg: ScriptArgument): string | number | Buffer {
  if (typeof arg !== 'object' || Buffer.isBuffer(arg)) return arg;
  return Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
}

function send(redis: RedisClient, command: Command): Promise<unknown> {
  redis.sendCommand(command);
  return command.promise;
}
