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
import ort from 'onnxruntime-node';

function fail(msg) {
  process.stderr.write(`ort_bench.mjs: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const a = { batch: 32, seq: 128, threads: 2, seconds: 3, vocab: 0, model: '', check: null, saveOptimized: '' };
  for (let i = 0; i < argv.length; ++i) {
    const f = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) fail(`${f} needs a value`);
      return argv[++i];
    };
    const int = (lo) => {
      const v = Number(val());
      if (!Number.isInteger(v) || v < lo) fail(`${f}: expected an integer >= ${lo}`);
      return v;
    };
    if (f === '--model') a.model = val();
    else if (f === '--batch') a.batch = int(1);
    else if (f === '--seq') a.seq = int(1);
    else if (f === '--threads') a.threads = int(1);
    else if (f === '--vocab') a.vocab = int(6);
    else if (f === '--seconds') {
      a.seconds = Number(val());
      if (!(a.seconds > 0)) fail('--seconds: expected a positive number');
    } else if (f === '--check') a.check = [val(), val()];
    else if (f === '--save-optimized') a.saveOptimized = val();
    else if (f === '--help' || f === '-h') {
      process.stdout.write(
        'usage: node ort_bench.mjs --model model.onnx [--batch 32] [--seq 128] [--threads 2] [--seconds 3]\n' +
          '                          [--vocab N] [--save-optimized PATH] [--check IDS.json EXPECTED.json]\n');
      process.exit(0);
    } else fail(`unknown option '${f}' (see --help)`);
  }
  if (!a.model) fail('--model model.onnx is required');
  if (!fs.existsSync(a.model)) fail(`${a.model} not found`);
  return a;
}

// mulberry32: a small seeded generator, so every run draws the same ids.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function int64Tensor(rows, B, T) {
  const d = new BigInt64Array(B * T);
  rows.forEach((r, b) => r.forEach((x, t) => (d[b * T + t] = BigInt(x))));
  return new ort.Tensor('int64', d, [B, T]);
}

async function session(a) {
  const opts = {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (a.saveOptimized) opts.optimizedModelFilePath = a.saveOptimized;
  return ort.InferenceSession.create(a.model, opts);
}

async function check(a) {
  const ids = JSON.parse(fs.readFileSync(a.check[0], 'utf8'));
  const exp = JSON.parse(fs.readFileSync(a.check[1], 'utf8'));
  const tol = exp.tolerance ?? 1e-4;
  const s = await session(a);
  let ok = true;
  for (let c = 0; c < ids.cases.length; ++c) {
    const inp = ids.cases[c];
    const B = inp.input_ids.length, T = inp.input_ids[0].length;
    const feeds = {};
    for (const name of s.inputNames) feeds[name] = int64Tensor(inp[name], B, T);
    const out = (await s.run(feeds))[s.outputNames[0]];
    const H = out.dims[1];
    let eTorch = 0, eRef = 0;
    if (out.dims[0] !== B) fail(`case ${c}: output batch ${out.dims[0]}, expected ${B}`);
    for (let b = 0; b < B; ++b)
      for (let h = 0; h < H; ++h) {
        const y = out.data[b * H + h];
        eTorch = Math.max(eTorch, Math.abs(y - exp.cases[c].torch_f32[b][h]));
        eRef = Math.max(eRef, Math.abs(y - exp.cases[c].reference_f64[b][h]));
      }
    const good = eTorch < tol && eRef < tol;
    ok &&= good;
    console.log(`  ONNX Runtime vs torch float32 / float64 reference, ${inp.name.padEnd(40)} [${B}x${T}] -> ` +
                `[${out.dims}]: ${eTorch.toExponential(2)} / ${eRef.toExponential(2)} ${good ? 'ok' : 'FAIL'}`);
  }
  if (!ok) {
    process.stderr.write(`ort_bench.mjs: ONNX Runtime's output differs by ${tol} or more on ${a.model}\n`);
    process.exit(1);
  }
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
  await s.run(feeds()); // warm-up: allocations, pages
  const times = [];
  let elapsed = 0;
  while (times.length < 3 || elapsed < a.seconds) {
    const f = feeds();
    const t0 = process.hrtime.bigint();
    await s.run(f);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    times.push(dt);
    elapsed += dt;
  }
  const sorted = [...times].sort((x, y) => x - y);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const r = (x, d) => Number(x.toFixed(d));
  console.log(JSON.stringify({
    batch: B, seq: T, threads: a.threads,
    texts_per_s: r((n * B) / elapsed, 1), tokens_per_s: r((n * B * T) / elapsed, 0),
    runs: n, median_ms: r(median * 1e3, 3),
  }));
}

const a = parseArgs(process.argv.slice(2));
try {
  await (a.check ? check(a) : bench(a));
} catch (e) {
  fail(e.message ?? String(e));
}
