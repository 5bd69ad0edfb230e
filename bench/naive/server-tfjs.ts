/** Naive alternative: node:http + sharp + the same TF.js model run inline per request (TfjsEngine, wasm). */
import { TfjsEngine } from '../../src/model/tfjs-engine.ts';
import { runNaiveServer } from './common.ts';

await runNaiveServer((opts) => TfjsEngine.load(opts));
