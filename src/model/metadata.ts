/**
 * The model directory contract: `metadata.json` beside the model files says what the model expects and returns.
 * One loader reads it for every engine, so a user's own model needs only this file next to its weights.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { issueLines } from '../config/schema-issues.ts';

export const METADATA_FILE = 'metadata.json';

/**
 * How the decoded picture becomes the model's input size. Absent: sharp's lanczos3 with fit "fill" (the behaviour
 * before this field existed). bilinear follows tf.image.resizeBilinear: alignCorners (TF1, PyTorch
 * align_corners=True) or halfPixelCenters (TF2, PyTorch align_corners=False), neither = TF1's legacy default.
 */
export const resizeSchema = z
  .object({
    method: z.enum(['bilinear', 'area', 'lanczos3']),
    alignCorners: z.boolean().default(false),
    halfPixelCenters: z.boolean().default(false),
    /** fill: stretch to the input size; cover: scale to cover it and crop the centre. */
    fit: z.enum(['fill', 'cover']).default('fill'),
  })
  .refine((r) => !(r.alignCorners && r.halfPixelCenters), {
    message: 'alignCorners and halfPixelCenters exclude each other',
  })
  .refine((r) => r.method === 'bilinear' || (!r.alignCorners && !r.halfPixelCenters), {
    message: 'alignCorners and halfPixelCenters apply to bilinear only',
  });

export const LEGACY_RESIZE = { method: 'lanczos3', alignCorners: false, halfPixelCenters: false, fit: 'fill' } as const;

const preprocessingSchema = z.object({
  /** Channel order the model was trained on. */
  channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
  /** value = (pixel * scale - mean[c]) / std[c], with pixel in 0..255 */
  scale: z
    .number()
    .positive()
    .default(1 / 255),
  mean: z.tuple([z.number(), z.number(), z.number()]).default([0, 0, 0]),
  std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).default([1, 1, 1]),
  resize: resizeSchema.default(LEGACY_RESIZE),
});

export const metadataSchema = z.object({
  name: z.string().min(1),
  labels: z.array(z.string()).min(1),
  input: z.object({
    height: z.number().int().positive(),
    width: z.number().int().positive(),
    channels: z.literal(3).default(3),
    /** Memory layout of the input tensor the preprocessing writes. */
    layout: z.enum(['NHWC', 'NCHW']).default('NHWC'),
  }),
  preprocessing: preprocessingSchema.default({
    channelOrder: 'RGB',
    scale: 1 / 255,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    resize: LEGACY_RESIZE,
  }),
  /** Whether the model's output is already a probability distribution or needs a softmax. */
  output: z.enum(['probabilities', 'logits']).default('probabilities'),
  /** Numeric precision of the model; int8 versions are written by `npm run quantize` (docs/models.md). */
  precision: z.enum(['fp32', 'int8']).optional(),
  /** How an int8 version was made: source version, calibration set, method and samples, fidelity. Informational. */
  quantization: z.record(z.string(), z.unknown()).optional(),
  /** A TF.js model: model.json (layers or graph) with its weight shards. */
  tfjs: z.object({ modelJson: z.string().default('model.json'), format: z.enum(['layers', 'graph']) }).optional(),
  /** An ONNX model, written by our converter or brought by the user. Its input layout is `input.layout`. */
  onnx: z
    .object({
      file: z.string().default('model.onnx'),
      inputName: z.string().optional(),
      outputName: z.string().optional(),
    })
    .optional(),
  /** Why tools/onnx-convert could not convert the TF.js model: the engine stays on TF.js and reports this reason. */
  onnxConversionError: z.string().optional(),
});

export type ModelMetadata = z.infer<typeof metadataSchema>;
export type Preprocessing = ModelMetadata['preprocessing'];
export type ResizeRule = Preprocessing['resize'];

export async function readMetadata(modelDir: string): Promise<ModelMetadata> {
  const file = join(modelDir, METADATA_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read model metadata ${file}: ${(err as Error).message}`);
  }
  const parsed = metadataSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`invalid model metadata ${file}: ${issueLines(parsed.error).join('; ')}`);
  }
  const meta = parsed.data;
  if (!meta.tfjs && !meta.onnx) throw new Error(`invalid model metadata ${file}: needs a "tfjs" or an "onnx" entry`);
  return meta;
}

/** Float32 elements one image occupies in a batch buffer. */
export function imageElements(meta: Pick<ModelMetadata, 'input'>): number {
  return meta.input.height * meta.input.width * meta.input.channels;
}
