/**
 * The plumbing-ceiling model: 32×32×3 → global average pooling → dense 5 softmax, saved as a TF.js layers
 * model with metadata.json into a temp directory and converted to ONNX with the project's converter.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { convertTfjsModelDir } from '../../tools/onnx-convert/convert.ts';
import { writeLayersModelDir } from '../../src/model/tfjs-model-files.ts';

export async function buildTinyModel(size = 32): Promise<string> {
  await tf.setBackend('cpu');
  const dir = await mkdtemp(join(tmpdir(), 'bench-tiny-model-'));
  const model = tfl.sequential({
    layers: [
      tfl.layers.globalAveragePooling2d({ inputShape: [size, size, 3] }),
      tfl.layers.dense({ units: 5, activation: 'softmax' }),
    ],
  });
  await writeLayersModelDir(model, dir);
  model.dispose();
  const meta = {
    name: 'bench-tiny',
    labels: ['a', 'b', 'c', 'd', 'e'],
    input: { height: size, width: size, channels: 3, layout: 'NHWC' },
    output: 'probabilities',
    tfjs: { modelJson: 'model.json', format: 'layers' },
  };
  await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta, null, 2));
  await convertTfjsModelDir(dir);
  return dir;
}
