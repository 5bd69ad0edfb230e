/**
 * The registry of Keras layer converters by class name. InputLayer is not here: the graph walker turns it into
 * the ONNX graph input.
 */
import { BASIC_LAYERS } from './layers-basic.ts';
import { CONV_LAYERS } from './layers-conv.ts';
import { SPATIAL_LAYERS } from './layers-spatial.ts';
import { LayerConversionError } from './types.ts';
import type { KerasLayerSpec, LayerConverter } from './types.ts';

const REGISTRY: ReadonlyMap<string, LayerConverter> = new Map(
  Object.entries({ ...BASIC_LAYERS, ...CONV_LAYERS, ...SPATIAL_LAYERS }),
);

export function supportedLayerClasses(): string[] {
  return ['InputLayer', ...REGISTRY.keys()].sort();
}

export function converterFor(layer: KerasLayerSpec): LayerConverter {
  const converter = REGISTRY.get(layer.className);
  if (!converter) throw new LayerConversionError(layer, 'unsupported layer type');
  return converter;
}
