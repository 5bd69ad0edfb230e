/**
 * npm run quantize on the real default model: the QDQ structure ONNX Runtime fuses (counted in its optimised
 * graph), calibration determinism, the fidelity gate refusing a bad quantization, and the round trip through a
 * copy of the repository as a new version that the real service serves, unpinned and pinned.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { readMetadata } from '../../src/model/metadata.ts';
import { createPreprocessor } from '../../src/preprocess/preprocess-image.ts';
import { predict } from '../../tools/onnx-quantize/fidelity.ts';
import { fusedGraph } from '../../tools/onnx-quantize/fused-graph.ts';
import { parseOptions } from '../../tools/onnx-quantize/options.ts';
import { runQuantize } from '../../tools/onnx-quantize/quantize.ts';
import { quantizeModel } from '../../tools/onnx-quantize/quantize-model.ts';
import { loadSamples, splitSamples } from '../../tools/onnx-quantize/samples.ts';
import { ensureExampleModels } from '../../scripts/lib/example-models.ts';
import { EXAMPLES, startTestService, type TestService } from '../../scripts/lib/in-process-service.ts';

const run = promisify(execFile);
const DEFAULT_MODEL = 'models/default';
const SETTINGS = { maxInputPixels: 40_000_000, maxJpegScans: 100, jpegDctScaling: false };

async function copyRepository(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'quantize-test-'));
  await cp(DEFAULT_MODEL, join(root, 'default'), { recursive: true });
  return root;
}

describe('npm run quantize', () => {
  const cleanup: string[] = [];
  after(async () => {
    for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
  });

  describe('the int8 model', () => {
    let first: Uint8Array;
    let floatBytes: Buffer;
    let samples: Float32Array;
    const settings = {
      method: 'minmax',
      percentile: 99.999,
      reduceRange: false,
      adaptiveRounding: true,
      biasCorrection: true,
    } as const;

    before(async () => {
      const meta = await readMetadata(DEFAULT_MODEL);
      floatBytes = await readFile(join(DEFAULT_MODEL, 'model.onnx'));
      const split = await splitSamples({ calibrationDir: 'examples/calibration', samples: 6, holdOut: 3 });
      samples = await loadSamples(split.calibration, meta, SETTINGS);
      const input = { name: 'input_1', sampleDims: [1, 224, 224, 3], samples };
      first = (await quantizeModel(floatBytes, input, settings)).bytes;
    });

    it('is fused by ONNX Runtime whole: one QuantizeLinear at the input, no lone DequantizeLinear', async () => {
      const fused = await fusedGraph(first);
      assert.equal(fused.standaloneQuantize, 1, JSON.stringify(fused.ops));
      assert.equal(fused.standaloneDequantize, 0, JSON.stringify(fused.ops));
      assert.equal(fused.ops['com.microsoft:QLinearConv'], 52, 'every Conv runs as QLinearConv');
      assert.equal(fused.ops['com.microsoft:QLinearAdd'], 10, 'every residual Add runs as QLinearAdd');
      assert.equal(fused.ops['com.microsoft:QGemm'], 3, 'every Dense layer runs as QGemm');
      for (const op of ['Clip', 'Relu', 'Pad', 'Conv', 'Add', 'Gemm'])
        assert.equal(fused.ops[op], undefined, `no float ${op} is left`);
    });

    it('is the same, byte for byte, when calibrated again on the same samples', async () => {
      const input = { name: 'input_1', sampleDims: [1, 224, 224, 3], samples };
      const second = (await quantizeModel(floatBytes, input, settings)).bytes;
      assert.ok(Buffer.from(first).equals(Buffer.from(second)), 'calibration is deterministic');
    });
  });

  it('fuses whole on the other example models too: the TF.js graph model converted to ONNX, and InceptionV3', async () => {
    const repository = await ensureExampleModels();
    const expected = {
      // Its preprocessing Mul and Sub stay float before the one QuantizeLinear; no QLinearSub exists to fuse.
      mobilenet_v2_mid: { 'com.microsoft:QLinearConv': 52, 'com.microsoft:QLinearAdd': 10 },
      inception_v3: { 'com.microsoft:QLinearConv': 94, 'com.microsoft:QLinearConcat': 15 },
    };
    for (const [name, ops] of Object.entries(expected)) {
      const dir = join(repository, name);
      const meta = await readMetadata(dir);
      const split = await splitSamples({ calibrationDir: 'examples/calibration', samples: 2, holdOut: 3 });
      const samples = await loadSamples(split.calibration, meta, SETTINGS);
      const { height, width } = meta.input;
      const input = { name: meta.onnx!.inputName!, sampleDims: [1, height, width, 3], samples };
      const quantized = await quantizeModel(await readFile(join(dir, meta.onnx!.file)), input, {
        method: 'minmax',
        percentile: 99.999,
        reduceRange: false,
        adaptiveRounding: true,
        biasCorrection: true,
      });
      const fused = await fusedGraph(quantized.bytes);
      const counts = JSON.stringify(fused.ops);
      assert.deepEqual([fused.standaloneQuantize, fused.standaloneDequantize], [1, 0], `${name}: ${counts}`);
      for (const [op, n] of Object.entries(ops)) assert.equal(fused.ops[op], n, `${name}: ${counts}`);
    }
  });

  it('refuses a bad quantization with the reasons and exit code 2, and publishes nothing', async () => {
    const repo = await copyRepository();
    cleanup.push(repo);
    // Clipping every activation at its median is a calibration gone wrong; the gate must catch it.
    const args = ['--import', 'tsx', 'tools/onnx-quantize/cli.ts', 'default', '--samples', '4'];
    const bad = [...args, '--method', 'percentile', '--percentile', '60', '--nearest-rounding'];
    const failure = await run(process.execPath, bad, { env: { ...process.env, MODEL_REPOSITORY: repo } }).then(
      () => assert.fail('the quantizer published a bad model'),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    assert.equal(failure.code, 2, failure.stderr);
    assert.match(failure.stderr, /REFUSED: nothing was published: max \|Δp\| [0-9.]+ is over the limit 0\.1/);
    assert.match(failure.stdout, /fidelity against version 1 \(float\)/);
    assert.ok(existsSync(join(repo, 'default', 'metadata.json')), 'the model directory is untouched');
    assert.deepEqual((await readdir(join(repo, 'default'))).sort(), (await readdir(DEFAULT_MODEL)).sort());
  });

  describe('round trip through the repository', () => {
    let repo: string;
    let svc: TestService;
    let chelsea: Float32Array;
    before(async () => {
      repo = await copyRepository();
      cleanup.push(repo);
      const options = parseOptions(['default', '--samples', '6', '--max-delta', '1', '--min-top1', '0']);
      const outcome = await runQuantize(options, { MODEL_REPOSITORY: repo }, () => {});
      assert.equal(outcome.published?.version, 2);
      chelsea = new Float32Array(224 * 224 * 3);
      const meta = await readMetadata(join(repo, 'default', '1'));
      await createPreprocessor(meta, SETTINGS)(await readFile(new URL('chelsea.png', EXAMPLES)), chelsea, 0);
      svc = await startTestService({ MODEL_REPOSITORY: repo, MODELS: 'default' });
    });
    after(() => svc?.close());

    it('writes version 2 as int8 beside the float version 1, and a policy that serves both', async () => {
      const dir = join(repo, 'default');
      assert.deepEqual((await readdir(dir)).sort(), ['1', '2', 'config.json']);
      const float = await readMetadata(join(dir, '1'));
      const int8 = await readMetadata(join(dir, '2'));
      assert.equal(float.precision, undefined);
      assert.equal(float.tfjs?.format, 'layers', 'version 1 is the float model it was');
      assert.equal(int8.precision, 'int8');
      assert.equal(int8.tfjs, undefined, 'the int8 version runs on ONNX Runtime only');
      const q = int8.quantization as { sourceVersion: number; calibration: Record<string, unknown> };
      assert.equal(q.sourceVersion, 1);
      assert.deepEqual(
        { set: q.calibration.set, method: q.calibration.method, samples: q.calibration.samples },
        { set: 'examples/calibration', method: 'minmax', samples: 6 },
      );
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(config, { version_policy: { latest: { num_versions: 2 } } });
    });

    it('is served: unpinned requests get the int8 version 2, pinned ones the float version 1', async () => {
      const infer = async (path: string) => {
        const res = await fetch(`${svc.url}/v2/models/default${path}/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            inputs: [{ name: 'input', shape: [1, 224, 224, 3], datatype: 'FP32', data: Array.from(chelsea) }],
          }),
        });
        const body = (await res.json()) as { model_version: string; outputs: Array<{ data: number[] }> };
        return { status: res.status, version: body.model_version, probabilities: body.outputs?.[0]?.data };
      };
      // Wait until front ends see both versions ready (hosts load them side by side at start).
      for (let i = 0; (await fetch(`${svc.url}/v2/models/default/versions/1/ready`)).status !== 200; i++) {
        assert.ok(i < 600, 'version 1 became ready');
        await new Promise((r) => setTimeout(r, 50));
      }
      const unpinned = await infer('');
      const pinnedInt8 = await infer('/versions/2');
      const pinnedFloat = await infer('/versions/1');
      assert.deepEqual([unpinned.status, unpinned.version], [200, '2']);
      assert.deepEqual([pinnedFloat.status, pinnedFloat.version], [200, '1']);
      const meta = await readMetadata(join(repo, 'default', '2'));
      const int8 = await predict(await readFile(join(repo, 'default', '2', 'model.onnx')), meta, chelsea);
      const float = await predict(await readFile(join(DEFAULT_MODEL, 'model.onnx')), meta, chelsea);
      for (let k = 0; k < 5; k++) {
        assert.ok(Math.abs(unpinned.probabilities![k]! - int8[k]!) < 1e-5, 'unpinned answers come from the int8 model');
        assert.ok(Math.abs(pinnedInt8.probabilities![k]! - int8[k]!) < 1e-5);
        assert.ok(Math.abs(pinnedFloat.probabilities![k]! - float[k]!) < 1e-5, 'version 1 is the float model');
      }
      assert.ok(
        int8.some((p, k) => p !== float[k]),
        'the two versions are different models',
      );
    });
  });
});
