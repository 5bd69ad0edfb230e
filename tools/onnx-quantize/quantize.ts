/**
 * npm run quantize, end to end: the model's float version and its declared preprocessing, calibration and
 * validation samples kept apart, the int8 model, what ONNX Runtime fuses of it, the fidelity report, and, when
 * the report is within the limits (or --force), the model's next version in the repository.
 */
import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseEnvironment, serviceSchema } from '../../src/config/config.ts';
import { preprocessSettings } from '../../src/preprocess/preprocess-image.ts';
import { compareProbabilities, type FidelityReport, formatReport, gateProblems, predict } from './fidelity.ts';
import { fusedGraph, type FusedGraph } from './fused-graph.ts';
import { OnnxModel } from './onnx-model.ts';
import type { QuantizeOptions } from './options.ts';
import { type Published, publishVersion, sourceVersion } from './publish.ts';
import { quantizeModel } from './quantize-model.ts';
import { loadSamples, sampleName, splitSamples } from './samples.ts';

export interface QuantizeOutcome {
  report: FidelityReport;
  fused: FusedGraph;
  /** Why the report fails the limits; empty when it passes. */
  problems: string[];
  published?: Published;
}

const environmentSchema = serviceSchema.pick({
  MODEL_REPOSITORY: true,
  MAX_INPUT_PIXELS: true,
  MAX_JPEG_SCANS: true,
  JPEG_DCT_SCALING: true,
});

export async function runQuantize(
  options: QuantizeOptions,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<QuantizeOutcome> {
  const config = parseEnvironment(environmentSchema, env);
  const modelDir = resolve(config.MODEL_REPOSITORY, options.model);
  const source = await sourceVersion(modelDir, options.version);
  const { meta } = source;
  log(`quantizing ${options.model} version ${source.version} (${relative(process.cwd(), source.dir) || '.'})`);

  const split = await splitSamples({
    calibrationDir: options.calibration,
    validationDir: options.validation,
    samples: options.samples,
    holdOut: options.holdOut,
  });
  const settings = preprocessSettings(config);
  const names = (files: string[]) => files.map((f) => f.split('/').pop()).join(', ');
  log(
    `calibration: ${split.calibration.length} samples of ${split.calibrationFiles.length} images in ${options.calibration}`,
  );
  log(`validation (kept apart): ${split.validation.length} samples of ${names(split.validationFiles)}`);
  const calibration = await loadSamples(split.calibration, meta, settings);
  const validation = await loadSamples(split.validation, meta, settings);

  const floatBytes = await readFile(join(source.dir, meta.onnx!.file));
  const { height, width, channels, layout } = meta.input;
  const started = performance.now();
  const quantized = await quantizeModel(
    floatBytes,
    {
      name: meta.onnx!.inputName ?? inputNameOf(floatBytes),
      sampleDims: layout === 'NHWC' ? [1, height, width, channels] : [1, channels, height, width],
      samples: calibration,
    },
    {
      method: options.method,
      percentile: options.percentile,
      reduceRange: options.reduceRange,
      adaptiveRounding: !options.nearestRounding,
      biasCorrection: !options.noBiasCorrection,
    },
  );
  const s = quantized.summary;
  log(
    `quantized in ${((performance.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(s.quantizedNodes)}; ` +
      `${s.activationsFolded} Relu/Clip folded into ranges, ${s.padsFolded} Pad folded into Conv, ` +
      `${s.adaptivelyRounded} depthwise kernels rounded adaptively`,
  );
  const fused = await fusedGraph(quantized.bytes);
  log(
    `ONNX Runtime's optimised graph: ${JSON.stringify(fused.ops)}; standalone QuantizeLinear ` +
      `${fused.standaloneQuantize}, DequantizeLinear ${fused.standaloneDequantize}`,
  );

  const report = compareProbabilities(
    await predict(floatBytes, meta, validation),
    await predict(quantized.bytes, meta, validation),
    meta.labels,
    split.validation.map(sampleName),
  );
  log(`fidelity against version ${source.version} (float) on the validation samples:\n${formatReport(report)}`);
  const problems = gateProblems(report, { maxDelta: options.maxDelta, minTop1Agreement: options.minTop1 });
  if (options.dryRun || (problems.length > 0 && !options.force)) return { report, fused, problems };

  const published = await publishVersion({
    modelDir,
    source,
    modelBytes: quantized.bytes,
    metadata: {
      precision: 'int8',
      quantization: {
        sourceVersion: source.version,
        weights: `int8, symmetric, per channel${options.reduceRange ? ', 7-bit' : ''}`,
        activations: 'uint8, asymmetric, per tensor',
        calibration: {
          set: options.calibration,
          files: split.calibrationFiles.length,
          samples: split.calibration.length,
          method: options.method === 'percentile' ? `percentile ${options.percentile}` : options.method,
          rounding: options.nearestRounding ? 'nearest' : 'adaptive (depthwise)',
          biasCorrection: !options.noBiasCorrection,
        },
        fidelity: {
          validation: names(split.validationFiles),
          samples: report.samples.length,
          maxDelta: Number(report.maxDelta.toFixed(5)),
          top1Agreement: report.top1Agreement,
          forced: problems.length > 0,
        },
        createdAt: new Date().toISOString(),
      },
    },
  });
  return { report, fused, problems, published };
}

function inputNameOf(bytes: Uint8Array): string {
  const name = OnnxModel.decode(bytes).inputs[0]?.name;
  if (!name) throw new Error('the ONNX model declares no input');
  return name;
}
