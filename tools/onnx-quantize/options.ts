/**
 * The quantizer's command line: one schema with every default and limit, validated at once (every problem
 * reported together). Not service configuration: the tool runs offline, before a version is published.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { RANGE_METHODS } from './range-methods.ts';

export const DEFAULT_CALIBRATION_DIR = 'examples/calibration';

export const USAGE = `usage: npm run quantize -- MODEL [options]

Quantizes the newest float version of MODEL (a model directory in MODEL_REPOSITORY, default models/) to static
int8 and publishes it as the model's next version, after a fidelity report against the float model.

  --calibration DIR    calibration images (default ${DEFAULT_CALIBRATION_DIR}); every --hold-out-th image, by
                       name, is kept apart for the fidelity report unless --validation is given
  --validation DIR     validation images for the fidelity report (then every calibration image calibrates)
  --samples N          calibration samples (default 72; views of each image when there are fewer images)
  --hold-out K         keep every K-th calibration image for validation (default 3)
  --method M           activation ranges: minmax (default), percentile, entropy
  --percentile P       for --method percentile: share of values kept, in percent (default 99.999)
  --max-delta D        refuse when any probability moves by more than D (default 0.1)
  --min-top1 F         refuse when the top-1 class agrees on fewer than F of the samples (default 0.85)
  --force              publish even when the fidelity report is over the limits
  --dry-run            report only; publish nothing
  --version V          quantize version V instead of the newest float one
  --reduce-range       7-bit weights (for AVX2 CPUs without VNNI, if their fidelity suffers)
  --nearest-rounding   round every weight to nearest (default: depthwise kernels rounded adaptively)
  --no-bias-correction keep the biases as they are (default: corrected for the weights' rounding)`;

export const optionsSchema = z
  .object({
    model: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a model directory name in MODEL_REPOSITORY'),
    calibration: z.string().min(1).default(DEFAULT_CALIBRATION_DIR),
    validation: z.string().min(1).optional(),
    samples: z.coerce.number().int().min(1).max(10_000).default(72),
    holdOut: z.coerce.number().int().min(2).max(100).default(3),
    method: z.enum(RANGE_METHODS).default('minmax'),
    percentile: z.coerce.number().gt(50).lte(100).default(99.999),
    maxDelta: z.coerce.number().min(0).max(1).default(0.1),
    minTop1: z.coerce.number().min(0).max(1).default(0.85),
    force: z.boolean().default(false),
    dryRun: z.boolean().default(false),
    version: z.coerce.number().int().min(1).optional(),
    reduceRange: z.boolean().default(false),
    nearestRounding: z.boolean().default(false),
    noBiasCorrection: z.boolean().default(false),
  })
  .strict();

export type QuantizeOptions = z.infer<typeof optionsSchema>;

/** Parses argv (after the script name); throws one Error naming every problem. */
export function parseOptions(argv: readonly string[]): QuantizeOptions {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      calibration: { type: 'string' },
      validation: { type: 'string' },
      samples: { type: 'string' },
      'hold-out': { type: 'string' },
      method: { type: 'string' },
      percentile: { type: 'string' },
      'max-delta': { type: 'string' },
      'min-top1': { type: 'string' },
      force: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      version: { type: 'string' },
      'reduce-range': { type: 'boolean' },
      'nearest-rounding': { type: 'boolean' },
      'no-bias-correction': { type: 'boolean' },
    },
  });
  if (positionals.length !== 1) throw new Error(`give exactly one MODEL (got ${positionals.length})`);
  const camel = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()), v]),
  );
  const parsed = optionsSchema.safeParse({ model: positionals[0], ...camel });
  if (!parsed.success)
    throw new Error(
      parsed.error.issues
        .map((i) => `--${String(i.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`)
        .join('\n'),
    );
  return parsed.data;
}
