/**
 * "Machines" as Linux network namespaces joined by veth pairs to one bridge, for tests that cut links and
 * partition processes. Names carry this process's pid (clsnet-<pid>-<machine>, links cn<4 hex>…), so a cleanup
 * can remove leftovers of runs whose process is gone without touching a concurrent run. Needs root (CI is).
 * Traffic stays on the bridge's private subnet; the test process reaches the machines through the bridge.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { alive } from '../../src/system/processes.ts';

const run = promisify(execFile);
const NS_PREFIX = 'clsnet-';
const SETPRIV = '/usr/bin/setpriv';

async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { timeout: 10_000 })).stdout;
}

/** Whether this machine can run the namespace tests: root, `ip netns` and a bridge. */
export async function netnsAvailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    await sh('ip', ['netns', 'list']);
    return undefined;
  } catch (err) {
    return `ip netns unusable: ${(err as Error).message}`;
  }
}

/** SIGKILLs every process inside a namespace (daemons such as nginx included). */
async function killInside(ns: string): Promise<void> {
  const pids = await sh('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const pid of pids
    .split('\n')
    .map(Number)
    .filter((p) => p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** Removes namespaces (and their bridges) left by earlier runs whose process has exited. */
export async function removeLeftovers(): Promise<void> {
  const list = await sh('ip', ['netns', 'list']).catch(() => '');
  for (const line of list.split('\n')) {
    const m = /^(clsnet-(\d+)-(\w+)-\S+)/.exec(line.trim());
    if (!m || alive(Number(m[2]))) continue;
    await killInside(m[1]!);
    await sh('ip', ['netns', 'del', m[1]!]).catch(() => {});
    await sh('ip', ['link', 'del', `cn${m[3]}br`]).catch(() => {});
  }
}

export interface Machine {
  name: string;
  ns: string;
  ip: string;
  /** The bridge-side end of this machine's link (cut it to unplug the machine). */
  hostLink: string;
  /** The machine's own end of its link. */
  nsLink: string;
}

export interface Network {
  subnet: string;
  bridgeIp: string;
  machines: Map<string, Machine>;
  add(name: string): Promise<Machine>;
  /** Runs a command inside a machine. */
  exec(machine: Machine, cmd: string[]): Promise<string>;
  /** Starts a long-running process inside a machine, killed when this process dies or on destroy(). */
  spawn(machine: Machine, cmd: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  setLink(machine: Machine, up: boolean): Promise<void>;
  /** Drops every packet from `machine` to `to` (a partition between the two only), or heals it. */
  partition(machine: Machine, to: Machine, on: boolean): Promise<void>;
  destroy(): Promise<void>;
}

export async function createNetwork(): Promise<Network> {
  await removeLeftovers();
  const tag = randomBytes(2).toString('hex');
  const bridge = `cn${tag}br`;
  const used = await sh('ip', ['-4', '-o', 'addr']);
  let third = 0;
  do third = 16 + Math.floor(Math.random() * 200);
  while (used.includes(`10.231.${third}.`));
  const subnet = `10.231.${third}`;
  const machines = new Map<string, Machine>();
  const children = new Set<ChildProcess>();
  let index = 1;
  const nsName = (name: string) => `${NS_PREFIX}${process.pid}-${tag}-${name}`;

  const destroy = async () => {
    // Links up first, so the killed processes' connections close instead of retransmitting into a cut link
    // (their sockets would keep the namespace, and its veth, alive after `ip netns del`).
    for (const m of machines.values()) await sh('ip', ['link', 'set', m.hostLink, 'up']).catch(() => {});
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(
      [...children].map((c) =>
        c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined,
      ),
    );
    for (const m of machines.values()) {
      await killInside(m.ns);
      await sh('ip', ['netns', 'del', m.ns]).catch(() => {});
      // Deleting one end of a veth deletes both, even if the namespace lingers.
      await sh('ip', ['link', 'del', m.hostLink]).catch(() => {});
    }
    await sh('ip', ['link', 'del', bridge]).catch(() => {});
  };

  try {
    await sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${subnet}.1/24`, 'dev', bridge]);
    await sh('ip', ['link', 'set', bridge, 'up']);
  } catch (err) {
    await destroy();
    throw err;
  }

  const network: Network = {
    subnet,
    bridgeIp: `${subnet}.1`,
    machines,
    async add(name) {
      const i = ++index;
      const ns = nsName(name);
      const hostLink = `cn${tag}${i}a`;
      const nsLink = `cn${tag}${i}b`;
      const machine: Machine = { name, ns, ip: `${subnet}.${i}`, hostLink, nsLink };
      machines.set(name, machine);
      await sh('ip', ['netns', 'add', ns]);
      await sh('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink]);
      await sh('ip', ['link', 'set', nsLink, 'netns', ns]);
      await sh('ip', ['link', 'set', hostLink, 'master', bridge]);
      await sh('ip', ['link', 'set', hostLink, 'up']);
      await network.exec(machine, ['ip', 'link', 'set', 'lo', 'up']);
      await network.exec(machine, ['ip', 'addr', 'add', `${machine.ip}/24`, 'dev', nsLink]);
      await network.exec(machine, ['ip', 'link', 'set', nsLink, 'up']);
      return machine;
    },
    exec: (machine, cmd) => sh('ip', ['netns', 'exec', machine.ns, ...cmd]),
    spawn(machine, cmd, env) {
      const argv = ['ip', 'netns', 'exec', machine.ns, ...cmd];
      const full = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', ...argv] : argv;
      const child = spawn(full[0]!, full.slice(1), { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      return child;
    },
    async setLink(machine, up) {
      await sh('ip', ['link', 'set', machine.hostLink, up ? 'up' : 'down']);
    },
    async partition(machine, to, on) {
      // A blackhole route: packets to `to` are dropped inside `machine`, nothing answers (no RST, no ICMP).
      await network.exec(machine, ['ip', 'route', on ? 'add' : 'del', 'blackhole', `${to.ip}/32`]);
    },
    destroy,
  };
  return network;
}

/** Whether `tc qdisc ... netem` works here (the kernel may lack sch_netem). */
export async function netemAvailable(network: Network, machine: Machine): Promise<boolean> {
  try {
    await network.exec(machine, ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    await network.exec(machine, ['tc', 'qdisc', 'del', 'dev', 'lo', 'root']);
    return true;
  } catch {
    return false;
  }
}

/** Delays packets from `machine` to `to` by delayMs with netem (a prio band only that destination goes through). */
export async function delayTo(network: Network, machine: Machine, to: Machine, delayMs: number): Promise<void> {
  const dev = machine.nsLink;
  await network.exec(machine, ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'prio']);
  await network.exec(machine, [
    'tc',
    'qdisc',
    'add',
    'dev',
    dev,
    'parent',
    '1:3',
    'handle',
    '30:',
    'netem',
    'delay',
    `${delayMs}ms`,
  ]);
  await network.exec(machine, [
    'tc',
    'filter',
    'add',
    'dev',
    dev,
    'protocol',
    'ip',
    'parent',
    '1:0',
    'prio',
    '3',
    'u32',
    'match',
    'ip',
    'dst',
    `${to.ip}/32`,
    'flowid',
    '1:3',
  ]);
}

/**
 * Where netem is missing: a TCP relay on the bridge address that holds every chunk delayMs / 2 in each direction
 * (order kept: equal timeouts fire in order), so a round trip through it takes delayMs longer.
 */
export async function startDelayRelay(
  listenIp: string,
  target: { host: string; port: number },
  delayMs: number,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const half = delayMs / 2;
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const pipeDelayed = (from: Socket, to: Socket) => {
      from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), half));
      from.on('close', () => setTimeout(() => to.destroy(), half));
      from.on('error', () => {});
    };
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, listenIp, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
