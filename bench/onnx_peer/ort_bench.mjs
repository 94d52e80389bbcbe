// ONNX Runtime (onnxruntime-node, CPU) throughput of a BERT model exported by export_bert_onnx.py,
// measured the way strata-embed-bench measures strata: random token ids (fixed seed), every text
// exactly --seq tokens (attention_mask all ones, token types 0), one warm-up run, then timed
// session.run calls until they add up to --seconds (at least 3); building the inputs is not timed.
//
//   node ort_bench.mjs --model model.onnx [--batch 32] [--seq 128] [--threads 2] [--seconds 3]
//                      [--vocab N] [--save-optimized PATH]
//     -> one JSON line {"batch","seq","threads","texts_per_s","tokens_per_s","runs","median_ms"}
//   node ort_bench.mjs --model model.onnx --check IDS.json EXPECTED.json [--threads 2]
//     -> ONNX Runtime's output on the export script's check inputs against the float32 torch module
//        and the float64 reference (max abs error < the file's tolerance, 1e-4); exit 1 if not.
//
// Session: intraOpNumThreads --threads, interOpNumThreads 1, graphOptimizationLevel 'all',
// executionMode 'sequential'. --vocab defaults to vocab_size from config.json beside the model
// (ids are drawn from [5, vocab)); --save-optimized writes the graph ORT runs after its fusions.
import fs from 'node:fs';
import path from 'node:path';
import { checkFailed, compare, fail, ort, parseArgs, readJson, rng, round, session, timedRuns } from './ort_common.mjs';

const USAGE =
  'usage: node ort_bench.mjs --model model.onnx [--batch 32] [--seq 128] [--threads 2] [--seconds 3]\n' +
  '                          [--vocab N] [--save-optimized PATH] [--check IDS.json EXPECTED.json]\n';

function int64Tensor(rows, B, T) {
  const d = new BigInt64Array(B * T);
  rows.forEach((r, b) => r.forEach((x, t) => (d[b * T + t] = BigInt(x))));
  return new ort.Tensor('int64', d, [B, T]);
}

async function check(a) {
  const ids = readJson(a.check[0]);
  const exp = readJson(a.check[1]);
  const tol = exp.tolerance ?? 1e-4;
  const s = await session(a);
  let ok = true;
  for (let c = 0; c < ids.cases.length; ++c) {
    const inp = ids.cases[c];
    const B = inp.input_ids.length, T = inp.input_ids[0].length;
    const feeds = {};
    for (const name of s.inputNames) feeds[name] = int64Tensor(inp[name], B, T);
    const out = (await s.run(feeds))[s.outputNames[0]];
    if (out.dims[0] !== B) fail(`case ${c}: output batch ${out.dims[0]}, expected ${B}`);
    const e = exp.cases[c];
    ok = compare(`${inp.name.padEnd(40)} [${B}x${T}] -> [${out.dims}]`, out.data,
                 { torch_f32: e.torch_f32.flat(), reference_f64: e.reference_f64.flat() }, tol) && ok;
  }
  if (!ok) checkFailed(a.model, tol);
}

async function bench(a) {
  let vocab = a.vocab;
  if (!vocab) {
    const cfg = path.join(path.dirname(a.model), 'config.json');
    vocab = fs.existsSync(cfg) ? JSON.parse(fs.readFileSync(cfg, 'utf8')).vocab_size : 30522;
  }
  const s = await session(a);
  const B = a.batch, T = a.seq;
  const next = rng(7);
  const ones = int64Tensor(Array.from({ length: B }, () => new Array(T).fill(1)), B, T);
  const zeros = int64Tensor(Array.from({ length: B }, () => new Array(T).fill(0)), B, T);
  const feeds = () => {
    const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 5 + Math.floor(next() * (vocab - 5))));
    const f = {};
    for (const name of s.inputNames)
      f[name] = name === 'input_ids' ? int64Tensor(ids, B, T) : name === 'attention_mask' ? ones : zeros;
    return f;
  };
  const { runs: n, elapsed, median } = await timedRuns(s, feeds, a.seconds);
  const r = round;
  console.log(JSON.stringify({
    batch: B, seq: T, threads: a.threads,
    texts_per_s: r((n * B) / elapsed, 1), tokens_per_s: r((n * B * T) / elapsed, 0),
    runs: n, median_ms: r(median * 1e3, 3),
  }));
}

const a = parseArgs('ort_bench.mjs', process.argv.slice(2),
  { batch: 32, seq: 128, threads: 2, seconds: 3, vocab: 0, model: '', check: null, saveOptimized: '' },
  { '--model': ['model', 'str'], '--batch': ['batch', 'int', 1], '--seq': ['seq', 'int', 1],
    '--threads': ['threads', 'int', 1], '--vocab': ['vocab', 'int', 6], '--seconds': ['seconds', 'pos'],
    '--check': ['check', 'pair'], '--save-optimized': ['saveOptimized', 'str'] }, USAGE);
try {
  await (a.check ? check(a) : bench(a));
} catch (e) {
  fail(e.message ?? String(e));
}
