/** Naive alternative: node:http + sharp + the same model in ONNX Runtime run inline per request (OnnxEngine). */
import { OnnxEngine } from '../../src/model/onnx-engine.ts';
import { runNaiveServer } from './common.ts';

await runNaiveServer((opts) => OnnxEngine.load(opts));
