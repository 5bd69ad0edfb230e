/**
 * The default model, exported at build time exactly as `npm run setup` does (nsfwjs MobileNetV2 to a TF.js layers
 * model, converted to ONNX), with the build in dist/; the image then needs neither nsfwjs nor network at start.
 */
import { join } from 'node:path';
import { builtPath } from '../../src/build/layout.ts';
import { run } from './run.ts';

/** Sources whose change changes the exported model (with package-lock.json: nsfwjs, the converter's libraries). */
export const MODEL_INPUT_ROOTS = [
  'scripts/export-default-model.ts',
  'scripts/lib/nsfwjs-models.ts',
  'tools/onnx-convert',
  'package-lock.json',
];

export async function exportModel(out: string): Promise<void> {
  const dir = join(out, 'default');
  await run(process.execPath, [builtPath('scripts/export-default-model.ts'), dir], { quiet: true });
  await run(process.execPath, [builtPath('tools/onnx-convert/cli.ts'), dir], { quiet: true });
}
