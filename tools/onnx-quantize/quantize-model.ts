/**
 * Float ONNX model + preprocessed calibration samples → static int8 QDQ model: exact float rewrites (Pad into
 * Conv), the plan (which nodes run in uint8, Relu/Clip folded into ranges), calibration (ranges, channel means,
 * depthwise patch moments), then the QDQ graph with per-channel int8 weights, adaptively rounded where small and
 * bias-corrected.
 */
import { calibrate } from './calibrate.ts';
import { emitQdq } from './emit-qdq.ts';
import { foldPadsIntoConvs } from './fold-pads.ts';
import { OnnxModel } from './onnx-model.ts';
import { planQuantization } from './plan.ts';
import { type RangeOptions, tensorRange } from './range-methods.ts';

/** Per-axis QuantizeLinear/DequantizeLinear (per-channel weights) arrived with opset 13. */
export const MIN_OPSET = 13;

export interface QuantizeSettings extends RangeOptions {
  reduceRange: boolean;
  adaptiveRounding: boolean;
  biasCorrection: boolean;
}

export interface QuantizedModel {
  bytes: Uint8Array;
  summary: {
    padsFolded: number;
    activationsFolded: number;
    quantizedNodes: Record<string, number>;
    adaptivelyRounded: number;
  };
}

export async function quantizeModel(
  floatBytes: Uint8Array,
  input: { name: string; sampleDims: number[]; samples: Float32Array },
  settings: QuantizeSettings,
): Promise<QuantizedModel> {
  const reference = OnnxModel.decode(floatBytes);
  if (reference.opset < MIN_OPSET)
    throw new Error(
      `the model declares ONNX opset ${reference.opset}; quantizing needs opset ${MIN_OPSET} or later ` +
        '(per-channel DequantizeLinear); re-export it with a newer opset',
    );
  const padsFolded = foldPadsIntoConvs(reference);
  const model = OnnxModel.decode(floatBytes);
  foldPadsIntoConvs(model);
  const plan = planQuantization(model);
  if (plan.compute.size === 0) throw new Error('the model has no operator this quantizer can run in int8');
  const rounding = settings.adaptiveRounding ? plan.rounding : new Map();
  // Bias correction needs the channel means of every weighted node's input, inherited ranges included.
  const weightedInputs = [...plan.compute]
    .filter(([, kind]) => kind === 'conv' || kind === 'gemm' || kind === 'matmul')
    .map(([node]) => node.inputs[0]!);
  const tensors = [...new Set([...plan.rangeTensors, ...(settings.biasCorrection ? weightedInputs : [])])];
  const { stats, moments } = await calibrate({
    model: reference,
    inputName: input.name,
    sampleDims: input.sampleDims,
    samples: input.samples,
    tensors,
    histograms: settings.method !== 'minmax',
    patches: new Map([...rounding].map(([node, r]) => [node.name, r])),
  });
  const ranges = new Map(plan.rangeTensors.map((t) => [t, tensorRange(stats.get(t)!, settings)]));
  const channelMeans = settings.biasCorrection
    ? new Map([...stats].flatMap(([t, s]) => (s.channelMeans ? [[t, s.channelMeans] as const] : [])))
    : undefined;
  emitQdq(model, plan, ranges, { reduceRange: settings.reduceRange, channelMeans, kernelMoments: moments });
  const quantizedNodes: Record<string, number> = {};
  for (const node of [...plan.compute.keys(), ...plan.passthrough])
    quantizedNodes[node.opType] = (quantizedNodes[node.opType] ?? 0) + 1;
  return {
    bytes: model.encode('image-classify-serving onnx-quantize'),
    summary: {
      padsFolded,
      activationsFolded: plan.foldedActivations,
      quantizedNodes,
      adaptivelyRounded: moments.size,
    },
  };
}
