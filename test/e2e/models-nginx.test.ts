/**
 * Two models of different input sizes (default 224², inception_v3 299²) under load at the same time, through
 * nginx, in the production topology with hosts per model (`MODEL_HOSTS=default:1,inception_v3:1`): every answer,
 * through /predict?model= and through /v2 infer, must come from the model asked for. All nsfwjs models share
 * their labels, so each answer's probabilities are compared with that model's own reference answer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { CHELSEA, type Deployment, makeDeployment, pm2, prodDown, prodUp } from './prod-helpers.ts';
import { ensureExampleModels } from '../../scripts/lib/example-models.ts';

const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
/** METRICS_KEY: /readyz's details (which hosts serve which model) are for operators. */
const OPERATOR_KEY = 'models-operator-key-0123456789';
const MODELS = ['default', 'inception_v3'] as const;
type Model = (typeof MODELS)[number];

/** The probabilities in label order, from either API's answer. */
async function probabilities(res: Response): Promise<number[]> {
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body).slice(0, 300));
  if (body.predictions) {
    const byLabel = new Map(
      (body.predictions as Array<{ label: string; probability: number }>).map((p) => [p.label, p.probability]),
    );
    return LABELS.map((l) => byLabel.get(l)!);
  }
  return body.outputs[0].data as number[];
}

const distance = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

describe('two models under load at once, through nginx, with hosts per model', () => {
  let d: Deployment;
  let chelsea: Buffer;

  const predict = (model: Model) => {
    const form = new FormData();
    form.append('image', new Blob([chelsea as Uint8Array<ArrayBuffer>], { type: 'image/png' }), 'chelsea.png');
    return fetch(`${d.nginxUrl}/predict?model=${model}&topk=5`, { method: 'POST', body: form });
  };
  const v2 = (model: Model) => {
    const head = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'input', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 4 + chelsea.length } },
        ],
      }),
    );
    const len = Buffer.alloc(4);
    len.writeUInt32LE(chelsea.length);
    return fetch(`${d.nginxUrl}/v2/models/${model}/infer`, {
      method: 'POST',
      body: Buffer.concat([head, len, chelsea]) as unknown as BodyInit,
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length) },
    });
  };

  before(async () => {
    chelsea = await readFile(CHELSEA);
    // MODEL_DIR unset: the whole example repository, one PM2 app of hosts per model.
    d = await makeDeployment({
      MODEL_REPOSITORY: await ensureExampleModels(),
      METRICS_KEY: OPERATOR_KEY,
      FRONTENDS: '2',
      MODEL_HOSTS: 'default:1,inception_v3:1',
      MODEL_DIR: '',
      MAX_BATCH: '4',
      REQUEST_TIMEOUT_MS: '20000',
    });
    await prodUp(d);
  });

  after(async () => {
    await prodDown(d);
  });

  it('runs one PM2 app of model hosts per model', async () => {
    const { out } = await pm2(d, ['jlist']);
    const names = (JSON.parse(out.slice(out.indexOf('['))) as Array<{ name: string }>).map((p) => p.name);
    for (const model of MODELS) assert.ok(names.includes(`model-host-${model}`), names.join(', '));
    const ready = await (
      await fetch(`${d.nginxUrl}/readyz`, { headers: { authorization: `Bearer ${OPERATOR_KEY}` } })
    ).json();
    assert.deepEqual(ready.modelHosts.map((h: { model: string }) => h.model).sort(), [...MODELS]);
  });

  it('answers every request, through both APIs, with the model it asked for', async () => {
    const reference = new Map<Model, number[]>();
    for (const model of MODELS) reference.set(model, await probabilities(await predict(model)));
    const gap = distance(reference.get('default')!, reference.get('inception_v3')!);
    assert.ok(gap > 0.01, `the two models answer differently enough to tell apart (${gap})`);

    // 16 in flight, the two models and the two APIs interleaved: batches fill on both hosts at once.
    const plan = Array.from({ length: 96 }, (_, i) => ({ model: MODELS[i % 2]!, api: i % 4 < 2 ? 'predict' : 'v2' }));
    let next = 0;
    const wrong: string[] = [];
    const worker = async () => {
      while (next < plan.length) {
        const { model, api } = plan[next++]!;
        const got = await probabilities(await (api === 'predict' ? predict(model) : v2(model)));
        const own = distance(got, reference.get(model)!);
        const other = distance(got, reference.get(model === 'default' ? 'inception_v3' : 'default')!);
        if (!(own < 1e-3 && own < other))
          wrong.push(`${api} ${model}: off by ${own} from its model, ${other} from the other`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    assert.deepEqual(wrong, []);
  });
});
