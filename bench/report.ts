/**
 * Turns bench/results/{micro,load,soak}.json into the goals table and the plot:
 *   bench/results/summary.json, bench/results/summary.md, bench/results/latency-vs-throughput.{svg,png}.
 * Every goal is a ratio of two figures measured in the same run (the machine is shared and noisy).
 */
import { readFile, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { ROOT } from './lib/images.ts';

const dir = `${ROOT}bench/results`;
const read = async <T>(name: string): Promise<T | undefined> =>
  readFile(`${dir}/${name}`, 'utf8')
    .then((t) => JSON.parse(t) as T)
    .catch(() => undefined);

type Point = {
  mode: string;
  concurrency?: number;
  offeredRps?: number;
  fraction?: number | string;
  throughput: number;
  requests: number;
  ok: number;
  errorsByStatus: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number };
  batches?: { meanSize: number; sizes: Record<string, number>; meanInferenceMs: number };
};
type System = {
  label: string;
  kind: string;
  saturation: number;
  points: Point[];
  error?: string;
  rssStartMiB?: Record<string, number>;
  rssEndMiB?: Record<string, number>;
};
const micro = await read<any>('micro.json');
type H2H = {
  concurrency: number;
  rounds: number;
  systems: Record<
    string,
    { throughput: number[]; p99: number[]; medianThroughput: number; medianP99: number; batchMean?: number[] }
  >;
};
const load = await read<{
  date: string;
  cores: number;
  systems: Record<string, System>;
  comparisonRate?: number;
  headToHead?: H2H;
}>('load.json');
const soak = await read<any>('soak.json');
if (!load) throw new Error('bench/results/load.json missing: run npm run bench:load first');
const S = load.systems;
const sat = (id: string) => S[id]?.saturation ?? NaN;
const closedAt = (id: string, c: number) => S[id]?.points.find((p) => p.mode === 'closed' && p.concurrency === c);
const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

// ---------- goals ----------
const goals: Array<{ goal: string; met: boolean | undefined; figure: string }> = [];
const limit = micro?.inference?.limit?.imgPerS as number | undefined;
const wholePath = micro?.inference?.wholePathLimit?.imgPerS as number | undefined;
const svc = sat('service-onnx');
if (limit)
  goals.push({
    goal: '(1) served throughput at saturation ≥ 90 % of the limit',
    met: svc >= 0.9 * limit,
    figure: `${fmt(svc)} req/s = ${fmt((100 * svc) / limit, 0)} % of the limit ${fmt(limit)} img/s (raw onnx, 1 thread); ${wholePath ? `${fmt((100 * svc) / wholePath, 0)} % of the whole-path machine limit ${fmt(wholePath)} img/s` : ''}`,
  });
const h2h = load.headToHead?.systems ? load.headToHead : undefined;
if (h2h && limit && h2h.systems['service-onnx']) {
  const t = h2h.systems['service-onnx'].medianThroughput;
  goals.push({
    goal: '(1, head to head) same, median of the interleaved rounds',
    met: t >= 0.9 * limit,
    figure: `${fmt(t)} req/s = ${fmt((100 * t) / limit, 0)} % of the limit${wholePath ? `; ${fmt((100 * t) / wholePath, 0)} % of the whole-path limit` : ''}`,
  });
}
if (h2h) {
  const naive = Object.keys(h2h.systems)
    .filter((id) => id.startsWith('naive'))
    .sort((a, b) => h2h.systems[b]!.medianThroughput - h2h.systems[a]!.medianThroughput)[0];
  for (const svcId of ['service-onnx', 'service-maxbatch4']) {
    const sv = h2h.systems[svcId];
    if (!naive || !sv) continue;
    const nv = h2h.systems[naive]!;
    goals.push({
      goal: `(2, head to head) ${svcId} ≥ 1.25× the best naive, and lower p99, at ${h2h.concurrency} in flight`,
      met: sv.medianThroughput >= 1.25 * nv.medianThroughput && sv.medianP99 < nv.medianP99,
      figure: `${fmt(sv.medianThroughput)} vs ${fmt(nv.medianThroughput)} req/s (${naive}) = ${fmt(sv.medianThroughput / nv.medianThroughput, 2)}×; p99 ${fmt(sv.medianP99, 0)} vs ${fmt(nv.medianP99, 0)} ms`,
    });
  }
}
const naiveIds = Object.keys(S).filter((id) => S[id]!.kind === 'naive' && S[id]!.saturation > 0);
const bestNaive = naiveIds.sort((a, b) => sat(b) - sat(a))[0];
if (bestNaive) {
  const cmp = S['service-onnx']?.points.find((p) => p.fraction === 'comparison');
  const naiveCmp = S[bestNaive]!.points.find((p) => p.fraction === 0.8);
  const ratio = svc / sat(bestNaive);
  goals.push({
    goal: '(2a) ≥ 1.25× the best naive alternative at saturation',
    met: ratio >= 1.25,
    figure: `${fmt(svc)} vs ${fmt(sat(bestNaive))} req/s (${bestNaive}) = ${fmt(ratio, 2)}×`,
  });
  if (cmp && naiveCmp)
    goals.push({
      goal: '(2b) lower p99 than the best naive at the same offered load',
      met: cmp.latencyMs.p99 < naiveCmp.latencyMs.p99,
      figure: `at ${fmt(cmp.offeredRps ?? NaN)} req/s offered: p99 ${fmt(cmp.latencyMs.p99, 0)} ms vs ${fmt(naiveCmp.latencyMs.p99, 0)} ms (${bestNaive}) = ${fmt(cmp.latencyMs.p99 / naiveCmp.latencyMs.p99, 2)}×`,
    });
}
const one = closedAt('service-onnx', 1);
const budget = micro?.inference?.oneInFlightBudgetMs as number | undefined;
if (one && budget)
  goals.push({
    goal: '(3) one in flight: p50 ≤ in-process decode + batch-1 inference + 3 ms',
    met: one.latencyMs.p50 <= budget,
    figure: `p50 ${fmt(one.latencyMs.p50)} ms vs budget ${fmt(budget)} ms (${fmt(micro.inference.inProcessDecodeMs, 2)} + ${fmt(micro.inference.batch1Ms, 2)} + 3) = ${fmt(one.latencyMs.p50 / budget, 2)}×`,
  });
const stress = S['service-onnx']?.points.find((p) => p.mode === 'stress');
if (stress) {
  const failures = stress.requests - stress.ok;
  goals.push({
    goal: '(4) original stress test (500 × every 50 ms): 0 failures, p99 ≤ 1 s',
    met: failures === 0 && stress.requests >= 500 && stress.latencyMs.p99 <= 1000,
    figure: `${stress.ok}/${stress.requests} succeeded, p99 ${fmt(stress.latencyMs.p99, 0)} ms`,
  });
}
if (S.plumbing) {
  // Goal 5 is measured without nginx; the nginx-fronted figure (plumbing-nginx, same run) is reported beside it.
  const ngx = S['plumbing-nginx'];
  const behind = !ngx
    ? ''
    : ngx.error
      ? '; behind nginx: failed'
      : `; behind nginx ${fmt(sat('plumbing-nginx'))} req/s (${fmt(sat('plumbing-nginx') / sat('plumbing'), 2)}× direct)`;
  const nodeHttp = S['plumbing-node'];
  const fallback = !nodeHttp
    ? ''
    : nodeHttp.error
      ? '; HTTP_SERVER=node: failed'
      : `; HTTP_SERVER=node ${fmt(sat('plumbing-node'))} req/s (${fmt(sat('plumbing-node') / sat('plumbing'), 2)}× uWS)`;
  goals.push({
    goal: '(5) plumbing ceiling ≥ 2,000 classifications/s (without nginx)',
    met: sat('plumbing') >= 2000,
    figure: `${fmt(sat('plumbing'))} req/s (trivial model, 64×64 JPEGs) = ${fmt(sat('plumbing') / 2000, 2)}× the goal${behind}${fallback}`,
  });
}
if (soak?.engines) {
  const parts = Object.entries(soak.engines as Record<string, any>).map(([e, r]) =>
    r.error
      ? `${e}: failed`
      : `${e}: RSS ${r.rssBaseMiB}→${r.rssEndMiB} MiB (${r.rssGrowthPct >= 0 ? '+' : ''}${r.rssGrowthPct} %), tensors ${r.tensorsMin}…${r.tensorsMax}, ${r.errors} errors`,
  );
  const met = Object.values(soak.engines as Record<string, any>).every(
    (r) => !r.error && r.rssGrowthPct < 10 && r.tensorsMin === r.tensorsMax && r.errors === 0,
  );
  goals.push({
    goal: `(6) model host RSS growth < 10 % over ${soak.requestsPerEngine} requests, tensor count flat`,
    met,
    figure: parts.join('; '),
  });
}
if (S['service-tfjs']) {
  const r = svc / sat('service-tfjs');
  const c32 = closedAt('service-onnx', 32),
    t32 = closedAt('service-tfjs', 32);
  goals.push({
    goal: '(issue 8) default engine ≥ 3× the img/s of ENGINE=tfjs under the same load',
    met: r >= 3,
    figure: `saturation ${fmt(svc)} vs ${fmt(sat('service-tfjs'))} req/s = ${fmt(r, 2)}×${c32 && t32 ? `; at 32 in flight ${fmt(c32.throughput)} vs ${fmt(t32.throughput)} = ${fmt(c32.throughput / t32.throughput, 2)}×` : ''}`,
  });
}

// ---------- tables ----------
const lines: string[] = [];
lines.push(
  `Run: ${load.date}. Load points: closed loop = N in flight; open = fixed offered rate (latency from the scheduled send time).`,
  '',
);
lines.push('### Goals', '', '| goal | met? | measured |', '|---|---|---|');
for (const g of goals)
  lines.push(`| ${g.goal} | ${g.met === undefined ? '?' : g.met ? '**met**' : '**not met**'} | ${g.figure} |`);
lines.push(
  '',
  '### Saturation throughput per system (best closed-loop point)',
  '',
  '| system | req/s at saturation | × best naive | p50 / p99 ms at 32 in flight | mean batch at 32 |',
  '|---|---|---|---|---|',
);
const bn = bestNaive ? sat(bestNaive) : NaN;
for (const [id, s] of Object.entries(S)) {
  if (s.error) {
    lines.push(`| ${id} — ${s.label} | failed: ${s.error.split('\n')[0]} | | | |`);
    continue;
  }
  const c = closedAt(id, 32);
  lines.push(
    `| ${id} — ${s.label} | ${fmt(s.saturation)} | ${fmt(s.saturation / bn, 2)} | ${c ? `${fmt(c.latencyMs.p50, 0)} / ${fmt(c.latencyMs.p99, 0)}` : ''} | ${c?.batches ? fmt(c.batches.meanSize) : ''} |`,
  );
}
if (h2h) {
  lines.push(
    '',
    `### Head to head (all running at once, taking turns; ${h2h.concurrency} in flight, ${h2h.rounds} rounds, median)`,
    '',
    '| system | req/s per round | median req/s | p99 ms per round | median p99 | mean batch per round |',
    '|---|---|---|---|---|---|',
  );
  for (const [id, v] of Object.entries(h2h.systems))
    lines.push(
      `| ${id} | ${v.throughput.map((x) => fmt(x)).join(', ')} | ${fmt(v.medianThroughput)} | ${v.p99.map((x) => fmt(x, 0)).join(', ')} | ${fmt(v.medianP99, 0)} | ${(v.batchMean ?? []).map((x) => fmt(x)).join(', ')} |`,
    );
}
lines.push(
  '',
  '### Every point',
  '',
  '| system | load | req/s | p50 | p90 | p99 ms | errors | batches formed (size×count) |',
  '|---|---|---|---|---|---|---|---|',
);
for (const [id, s] of Object.entries(S)) {
  for (const p of s.points ?? []) {
    const loadDesc =
      p.mode === 'closed'
        ? `closed ${p.concurrency}`
        : p.mode === 'stress'
          ? `stress ${p.requests}×50 ms`
          : `open ${p.offeredRps}/s${typeof p.fraction === 'number' ? ` (${p.fraction}× sat)` : ' (comparison)'}`;
    const errs = Object.entries(p.errorsByStatus)
      .map(([k, v]) => `${k}×${v}`)
      .join(' ');
    const sizes = p.batches
      ? Object.entries(p.batches.sizes)
          .sort((a, b) => Number(a[0]) - Number(b[0]))
          .map(([k, v]) => `${k}×${v}`)
          .join(' ')
      : '';
    lines.push(
      `| ${id} | ${loadDesc} | ${fmt(p.throughput)} | ${fmt(p.latencyMs.p50, 0)} | ${fmt(p.latencyMs.p90, 0)} | ${fmt(p.latencyMs.p99, 0)} | ${errs} | ${sizes} |`,
    );
  }
}
if (micro) {
  lines.push(
    '',
    '### Raw inference (bench:micro, main thread, median)',
    '',
    '| engine | batch 1 | 2 | 4 | 8 | 16 | 32 (img/s) |',
    '|---|---|---|---|---|---|---|',
  );
  const byEngine = new Map<string, any[]>();
  for (const r of micro.inference.rows) byEngine.set(r.engine, [...(byEngine.get(r.engine) ?? []), r]);
  for (const [e, rows] of byEngine) lines.push(`| ${e} | ${rows.map((r: any) => fmt(r.imgPerS)).join(' | ')} |`);
}
await writeFile(`${dir}/summary.md`, lines.join('\n') + '\n');
await writeFile(
  `${dir}/summary.json`,
  JSON.stringify(
    { date: load.date, goals, bestNaive, comparisonRate: load.comparisonRate, limit, wholePath },
    null,
    1,
  ) + '\n',
);

// ---------- plot: closed-loop latency p50/p99 against throughput, one line per system ----------
const plotIds = Object.keys(S).filter((id) => ['naive', 'service', 'plumbing'].includes(S[id]!.kind) && !S[id]!.error);
const values = plotIds.flatMap((id) =>
  S[id]!.points.filter((p) => p.mode === 'closed' && p.ok > 0).flatMap((p) => [
    {
      system: id,
      percentile: 'p50',
      throughput: p.throughput,
      latency: Math.max(0.5, p.latencyMs.p50),
      c: p.concurrency,
    },
    {
      system: id,
      percentile: 'p99',
      throughput: p.throughput,
      latency: Math.max(0.5, p.latencyMs.p99),
      c: p.concurrency,
    },
  ]),
);
const spec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  title: {
    text: 'Latency against throughput (closed loop, 1…64 in flight)',
    subtitle: `${load.date.slice(0, 10)}, ${load.cores} cores (shared VM); solid p50, dashed p99; points ordered by in-flight count`,
  },
  width: 640,
  height: 380,
  background: 'white',
  data: { values },
  mark: { type: 'line', point: true },
  encoding: {
    x: {
      field: 'throughput',
      type: 'quantitative',
      title: 'throughput (successful req/s, log)',
      scale: { type: 'log' },
    },
    y: { field: 'latency', type: 'quantitative', title: 'latency ms (log)', scale: { type: 'log' } },
    color: { field: 'system', type: 'nominal', title: 'system' },
    strokeDash: { field: 'percentile', type: 'nominal', title: 'percentile' },
    shape: { field: 'percentile', type: 'nominal', title: 'percentile' },
    order: { field: 'c', type: 'quantitative' },
  },
};
const view = new vega.View(vega.parse(vl.compile(spec as any).spec), { renderer: 'none' });
const svg = await view.toSVG();
await writeFile(`${dir}/latency-vs-throughput.svg`, svg);
await sharp(Buffer.from(svg), { density: 110 }).png().toFile(`${dir}/latency-vs-throughput.png`);
view.finalize();
console.log(lines.join('\n'));
console.log('\nwrote bench/results/summary.{md,json} and latency-vs-throughput.{svg,png}');
