/**
 * Real Redis topologies for the cluster tests, on free loopback ports (or a given address), each server a
 * redis-server child tied to this process (setpriv --pdeathsig) and stopped by stop() even on failure:
 * a 3-primary/3-replica Redis Cluster (redis-cli --cluster create) and a primary + replica + 3 sentinels.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../src/system/ports.ts';
import { waitUntil } from './wait.ts';

const run = promisify(execFile);
const SETPRIV = '/usr/bin/setpriv';

export interface RedisNode {
  host: string;
  port: number;
  proc: ChildProcess;
  /** SIGKILL, as a crash: no shutdown, no goodbye to the cluster. */
  kill(): void;
  stop(): Promise<void>;
}

/** Starts `redis-server <args>` (optionally through `ip netns exec <ns>`) and waits for it to accept connections. */
export async function startRedisProcess(
  args: string[],
  opts: { host?: string; port: number; netns?: string; binary?: string },
): Promise<RedisNode> {
  const binary = opts.binary ?? 'redis-server';
  const base = opts.netns ? ['ip', 'netns', 'exec', opts.netns, binary] : [binary];
  const argv = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', ...base, ...args] : [...base, ...args];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onOutput = (d: Buffer) => {
      output = (output + d.toString()).slice(-4000);
      if (/Ready to accept connections|Sentinel ID is/.test(output)) resolve();
    };
    proc.stdout!.on('data', onOutput);
    proc.stderr!.on('data', onOutput);
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`${binary} exited with ${code}: ${output.trim()}`)));
  });
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  return {
    host: opts.host ?? '127.0.0.1',
    port: opts.port,
    proc,
    kill: () => {
      if (alive()) proc.kill('SIGKILL');
    },
    stop: async () => {
      if (alive()) proc.kill('SIGKILL');
      await exited;
    },
  };
}

const COMMON = [
  '--save',
  '',
  '--appendonly',
  'no',
  '--daemonize',
  'no',
  '--loglevel',
  'notice',
  '--protected-mode',
  'no',
];

export interface RedisCluster {
  password: string;
  nodes: RedisNode[];
  /** A client to one node (not cluster-aware), for INFO and CLUSTER commands. */
  nodeClient(node: RedisNode): Redis;
  /** The node currently serving `slot` as primary, asked of any live node. */
  primaryOf(slot: number): Promise<RedisNode>;
  primaries(): Promise<RedisNode[]>;
  stop(): Promise<void>;
}

/** Ports p such that p and its cluster bus port are both free. */
async function clusterPorts(count: number): Promise<Array<{ port: number; bus: number }>> {
  const out: Array<{ port: number; bus: number }> = [];
  while (out.length < count) out.push({ port: await freePort(), bus: await freePort() });
  return out;
}

export async function startRedisCluster(opts: { nodeTimeoutMs?: number } = {}): Promise<RedisCluster> {
  const password = randomBytes(12).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), 'cls-cluster-'));
  const nodes: RedisNode[] = [];
  const clients: Redis[] = [];
  const stop = async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(nodes.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const { port, bus } of await clusterPorts(6)) {
      nodes.push(
        await startRedisProcess(
          [
            '--port',
            String(port),
            '--cluster-port',
            String(bus),
            '--bind',
            '127.0.0.1',
            ...COMMON,
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            String(opts.nodeTimeoutMs ?? 1000),
            '--requirepass',
            password,
            '--masterauth',
            password,
            // Replicas never refuse to take over because they lagged (the test kills a primary under load).
            '--cluster-replica-validity-factor',
            '0',
            '--dir',
            dir,
          ],
          { port },
        ),
      );
    }
    await run(
      'redis-cli',
      [
        '--no-auth-warning',
        '-a',
        password,
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    const nodeClient = (node: RedisNode) => {
      const c = new Redis({
        host: node.host,
        port: node.port,
        password,
        lazyConnect: false,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null,
      });
      c.on('error', () => {});
      clients.push(c);
      return c;
    };
    const probes = nodes.map(nodeClient);
    await waitUntil(
      async () => {
        const infos = await Promise.all(probes.map((c) => c.cluster('INFO').catch(() => '')));
        return infos.every((i) => /cluster_state:ok/.test(String(i)) && /cluster_known_nodes:6/.test(String(i)));
      },
      30_000,
      'the cluster to be ok on every node',
    );
    const slotsFromAnyNode = async () => {
      for (const node of nodes) {
        if (node.proc.exitCode !== null || node.proc.signalCode !== null) continue;
        const c = probes[nodes.indexOf(node)]!;
        const slots = (await c.cluster('SLOTS').catch(() => undefined)) as
          | Array<[number, number, [string, number]]>
          | undefined;
        if (slots) return slots;
      }
      throw new Error('no live node answers CLUSTER SLOTS');
    };
    const byPort = (port: number) => nodes.find((n) => n.port === port)!;
    return {
      password,
      nodes,
      nodeClient,
      async primaryOf(slot) {
        const range = (await slotsFromAnyNode()).find(([from, to]) => slot >= from && slot <= to);
        if (!range) throw new Error(`slot ${slot} has no owner`);
        return byPort(Number(range[2][1]));
      },
      async primaries() {
        return [...new Set((await slotsFromAnyNode()).map((r) => Number(r[2][1])))].map(byPort);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface SentinelSet {
  password: string;
  primary: RedisNode;
  replica: RedisNode;
  sentinels: RedisNode[];
  masterName: string;
  /** The address the sentinels currently report for the primary. */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

export async function startSentinels(opts: { downAfterMs?: number } = {}): Promise<SentinelSet> {
  const password = randomBytes(12).toString('hex');
  const masterName = 'cls-primary';
  const dir = await mkdtemp(join(tmpdir(), 'cls-sentinel-'));
  const started: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(started.map((n) => n.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [pPort, rPort] = [await freePort(), await freePort()];
    const data = (port: number, extra: string[] = []) =>
      startRedisProcess(
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          ...COMMON,
          '--requirepass',
          password,
          '--masterauth',
          password,
          '--dir',
          dir,
          ...extra,
        ],
        { port },
      );
    const primary = await data(pPort);
    started.push(primary);
    const replica = await data(rPort, ['--replicaof', '127.0.0.1', String(pPort)]);
    started.push(replica);
    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file, so each gets its own.
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${pPort} 2`,
          `sentinel auth-pass ${masterName} ${password}`,
          `sentinel down-after-milliseconds ${masterName} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} 5000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const node = await startRedisProcess([conf, '--sentinel'], { port });
      started.push(node);
      sentinels.push(node);
    }
    const ask = async () => {
      for (const s of sentinels) {
        if (s.proc.exitCode !== null) continue;
        const c = new Redis({
          host: s.host,
          port: s.port,
          lazyConnect: true,
          maxRetriesPerRequest: 1,
          retryStrategy: () => null,
        });
        c.on('error', () => {});
        try {
          await c.connect();
          const addr = (await c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string] | null;
          if (addr) return Number(addr[1]);
        } catch {
          // try the next sentinel
        } finally {
          c.disconnect();
        }
      }
      throw new Error('no sentinel answers');
    };
    // Sentinels know each other and the replica before the test relies on a failover.
    await waitUntil(
      async () => {
        const c = new Redis({
          host: '127.0.0.1',
          port: sentinels[0]!.port,
          lazyConnect: true,
          maxRetriesPerRequest: 1,
          retryStrategy: () => null,
        });
        c.on('error', () => {});
        try {
          await c.connect();
          const info = (await c.call('SENTINEL', 'MASTER', masterName)) as string[];
          const field = (name: string) => Number(info[info.indexOf(name) + 1]);
          return field('num-other-sentinels') === 2 && field('num-slaves') === 1;
        } catch {
          return false;
        } finally {
          c.disconnect();
        }
      },
      30_000,
      'the sentinels to discover each other and the replica',
    );
    return { password, primary, replica, sentinels, masterName, currentPrimaryPort: ask, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
