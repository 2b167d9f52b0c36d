// Engine smoke test on the GPU host: adapter facts and a strided f32->f16 copy checked on the host.
import { runInfo } from '../../dist/src/cli/info.js';
import { Engine } from '../../dist/src/gpu/engine.js';
import { Tensor } from '../../dist/src/gpu/tensor.js';
import { copy } from '../../dist/src/kernels/copy.js';

await runInfo({});
const engine = await Engine.open();
const data = Float32Array.from({ length: 7 * 9 * 5 }, (_, i) => Math.sin(i));
const t = Tensor.fromHost(engine, data, [7, 9, 5], 'f32', 'other');
const view = t.permute([2, 0, 1]);
const out = copy(view, 'other', engine.features.shaderF16 ? 'f16' : 'f32');
const got = await out.read();
let maxErr = 0;
for (let c = 0; c < 5; c++) for (let i = 0; i < 7; i++) for (let j = 0; j < 9; j++) {
  maxErr = Math.max(maxErr, Math.abs(got[(c * 7 + i) * 9 + j] - data[(i * 9 + j) * 5 + c]));
}
console.log(`strided copy to ${out.dtype}: max abs error ${maxErr}`);
engine.destroy();
