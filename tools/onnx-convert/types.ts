/**
 * Shared vocabulary of the converter: Keras layer specs, tensors flowing through the ONNX graph, the per-layer
 * conversion context, and the typed readers for Keras layer configs.
 */
import type { GraphBuilder } from './graph-builder.ts';
import type { WeightTensor } from './weights.ts';

export interface KerasLayerSpec {
  name: string;
  className: string;
  config: Record<string, unknown>;
}

/**
 * A value in the ONNX graph. `shape` is the Keras shape without the batch dimension (channels last). Rank-3 shapes
 * [H, W, C] are stored NCHW in ONNX ([N, C, H, W]); every other rank is stored exactly as Keras sees it.
 */
export interface TensorValue {
  name: string;
  shape: number[];
}

/** A Conv whose weight and bias initializers a following BatchNormalization may rewrite in place. */
export interface FoldTarget {
  weight: string;
  bias: string;
  outChannels: number;
}

export interface LayerContext {
  graph: GraphBuilder;
  layer: KerasLayerSpec;
  inputs: TensorValue[];
  /** The layer's weights by short name (kernel, bias, gamma, ...). */
  weights: Map<string, WeightTensor>;
  /** For each input: how many layer applications and model outputs read it (1 means this layer is the only one). */
  inputConsumers: number[];
  /** Conv outputs that can absorb a BatchNormalization, keyed by ONNX value name. */
  foldTargets: Map<string, FoldTarget>;
}

export type LayerConverter = (ctx: LayerContext) => TensorValue;

export class LayerConversionError extends Error {
  constructor(layer: KerasLayerSpec, reason: string) {
    super(`cannot convert layer "${layer.name}" (class ${layer.className}): ${reason}`);
    this.name = 'LayerConversionError';
  }
}

/** Typed access to a Keras layer config; every failure names the layer and its class. */
export class LayerConfig {
  constructor(readonly layer: KerasLayerSpec) {}

  private fail(reason: string): never {
    throw new LayerConversionError(this.layer, reason);
  }

  number(key: string, fallback?: number): number {
    const v = this.layer.config[key];
    if (typeof v === 'number') return v;
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    return this.fail(`config "${key}" must be a number, got ${JSON.stringify(v)}`);
  }

  optionalNumber(key: string): number | undefined {
    const v = this.layer.config[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' ? v : this.fail(`config "${key}" must be a number, got ${JSON.stringify(v)}`);
  }

  string(key: string, fallback?: string): string {
    const v = this.layer.config[key];
    if (typeof v === 'string') return v;
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    return this.fail(`config "${key}" must be a string, got ${JSON.stringify(v)}`);
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.layer.config[key];
    if (typeof v === 'boolean') return v;
    if (v === undefined || v === null) return fallback;
    return this.fail(`config "${key}" must be a boolean, got ${JSON.stringify(v)}`);
  }

  /** A 2-D size such as kernel_size or strides: Keras accepts a number or a pair. */
  pair(key: string, fallback?: [number, number]): [number, number] {
    const v = this.layer.config[key];
    if (typeof v === 'number') return [v, v];
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number'))
      return [v[0] as number, v[1] as number];
    if ((v === undefined || v === null) && fallback) return fallback;
    return this.fail(`config "${key}" must be a number or a pair of numbers, got ${JSON.stringify(v)}`);
  }

  raw(key: string): unknown {
    return this.layer.config[key];
  }

  /** Rejects configs this converter cannot honour, such as channels_first data. */
  requireChannelsLast(): void {
    const format = this.string('data_format', 'channels_last');
    if (format !== 'channels_last') this.fail(`data_format ${format} is not supported (channels_last only)`);
  }

  error(reason: string): LayerConversionError {
    return new LayerConversionError(this.layer, reason);
  }
}

export function requireWeight(ctx: LayerContext, shortName: string): WeightTensor {
  const w = ctx.weights.get(shortName);
  if (!w) throw new LayerConversionError(ctx.layer, `weight "${shortName}" not found in the weights manifest`);
  return w;
}

export function requireRank(ctx: LayerContext, input: TensorValue, rank: number): void {
  if (input.shape.length !== rank) {
    throw new LayerConversionError(
      ctx.layer,
      `expects an input of rank ${rank + 1} (with batch), got [N,${input.shape.join(',')}]`,
    );
  }
}

/** The layer's first input; a layer the model wires to nothing cannot be converted. */
export function firstInput(ctx: LayerContext): TensorValue {
  const input = ctx.inputs[0];
  if (!input) throw new LayerConversionError(ctx.layer, 'the layer has no input');
  return input;
}
