// ONNX Runtime (onnxruntime-node, CPU) throughput of a ViT / DeiT model exported by
// export_vit_onnx.py, measured the way strata-vision-bench measures strata: one batch of random
// pixel_values (standard normal, fixed seed; normalized pixels are about N(0, 1)) at the model's
// resolution, made once and not timed, one warm-up run, then timed session.run calls until they
// add up to --seconds (at least 3).
//
//   node ort_vision_bench.mjs --model model.onnx [--batch 8] [--threads 2] [--seconds 3]
//                             [--save-optimized PATH]
//     -> one JSON line {"batch","image_size","tokens","threads","images_per_s","gflop_s",
//        "flop_per_image","runs","median_ms"}
//   node ort_vision_bench.mjs --model model.onnx --check INPUTS.json EXPECTED.json [--threads 2]
//     -> ONNX Runtime's output on the export script's check pixels against the float32 torch
//        module and the float64 reference (max abs error < the file's tolerance, 1e-4); exit 1 if not.
//
// Session: intraOpNumThreads --threads, interOpNumThreads 1, graphOptimizationLevel 'all',
// executionMode 'sequential'. The resolution and the FLOP count come from config.json beside the
// model. FLOPs per image, strata-vision-bench's count: 2·patches·(C·p²)·H (patch embedding)
// + T·L·(2·(4H² + 2H·I) + 4·T·H) (projections, q·k and p·v; T = tokens) + 2·H·outputs (the head:
// labels for logits, H for the pooler, 0 for last_hidden_state).
import path from 'node:path';
import fs from 'node:fs';
import { checkFailed, compare, fail, normal, ort, parseArgs, readJson, rng, round, session, timedRuns } from './ort_common.mjs';

const USAGE =
  'usage: node ort_vision_bench.mjs --model model.onnx [--batch 8] [--threads 2] [--seconds 3]\n' +
  '                                 [--save-optimized PATH] [--check INPUTS.json EXPECTED.json]\n';

function config(model) {
  const p = path.join(path.dirname(model), 'config.json');
  if (!fs.existsSync(p)) fail(`${p} not found (the resolution and the FLOP count come from it)`);
  const c = readJson(p);
  const size = c.image_size ?? 224;
  const [ih, iw] = Array.isArray(size) ? size : [size, size];
  const P = c.patch_size ?? 16;
  const patches = Math.floor(ih / P) * Math.floor(iw / P);
  return {
    C: c.num_channels ?? 3, ih, iw, P, patches, H: c.hidden_size, I: c.intermediate_size, L: c.num_hidden_layers,
    tokens: patches + (c.model_type === 'deit' ? 2 : 1),
  };
}

function flopPerImage(c, outputs) {
  const { C, P, patches, H, I, L, tokens: T } = c;
  return 2 * patches * (C * P * P) * H + T * L * (2 * (4 * H * H + 2 * H * I) + 4 * T * H) + 2 * H * outputs;
}

async function check(a) {
  const inp = readJson(a.check[0]);
  const exp = readJson(a.check[1]);
  const tol = exp.tolerance ?? 1e-4;
  const s = await session(a);
  let ok = true;
  for (let c = 0; c < inp.cases.length; ++c) {
    const x = inp.cases[c];
    const out = (await s.run({ pixel_values: new ort.Tensor('float32', Float32Array.from(x.pixel_values), x.dims) }))[
      s.outputNames[0]];
    const e = exp.cases[c];
    if (out.dims.join() !== e.dims.join()) fail(`case ${c}: output [${out.dims}], expected [${e.dims}]`);
    ok = compare(`${x.name.padEnd(20)} [${x.dims}] -> ${s.outputNames[0]} [${out.dims}]`, out.data, e, tol) && ok;
  }
  if (!ok) checkFailed(a.model, tol);
}

async function bench(a) {
  const c = config(a.model);
  const s = await session(a);
  const B = a.batch;
  const draw = normal(rng(7));
  const px = new Float32Array(B * c.C * c.ih * c.iw);
  for (let i = 0; i < px.length; ++i) px[i] = draw();
  const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', px, [B, c.C, c.ih, c.iw]) };
  const { runs, elapsed, median, warm } = await timedRuns(s, () => feeds, a.seconds);
  const out = warm[s.outputNames[0]];
  const outputs = s.outputNames[0] === 'logits' ? out.dims[1] : s.outputNames[0] === 'pooler_output' ? c.H : 0;
  const flop = flopPerImage(c, outputs);
  const images = (runs * B) / elapsed;
  console.log(JSON.stringify({
    batch: B, image_size: c.ih === c.iw ? c.ih : [c.ih, c.iw], tokens: c.tokens, threads: a.threads,
    images_per_s: round(images, 2), gflop_s: round((images * flop) / 1e9, 1), flop_per_image: flop,
    runs, median_ms: round(median * 1e3, 3),
  }));
}

const a = parseArgs('ort_vision_bench.mjs', process.argv.slice(2),
  { batch: 8, threads: 2, seconds: 3, model: '', check: null, saveOptimized: '' },
  { '--model': ['model', 'str'], '--batch': ['batch', 'int', 1], '--threads': ['threads', 'int', 1],
    '--seconds': ['seconds', 'pos'], '--check': ['check', 'pair'], '--save-optimized': ['saveOptimized', 'str'] },
  USAGE);
try {
  await (a.check ? check(a) : bench(a));
} catch (e) {
  fail(e.message ?? String(e));
}
