// What ort_bench.mjs (BERT) and ort_vision_bench.mjs (ViT, DeiT) share: the command line, the
// seeded generator, the session options every peer number is measured with, the timed loop and
// the --check comparison.
import fs from 'node:fs';
import ort from 'onnxruntime-node';

export { ort };

let tool = 'ort';

export function fail(msg) {
  process.stderr.write(`${tool}: ${msg}\n`);
  process.exit(2);
}

// argv -> options. spec: {'--flag': [key, kind, lo]}, kind 'str', 'int' (>= lo), 'pos' (a
// positive number) or 'pair' (two values); defaults holds every key's default. --model must name
// an existing file.
export function parseArgs(name, argv, defaults, spec, usage) {
  tool = name;
  const a = { ...defaults };
  for (let i = 0; i < argv.length; ++i) {
    const f = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) fail(`${f} needs a value`);
      return argv[++i];
    };
    if (f === '--help' || f === '-h') {
      process.stdout.write(usage);
      process.exit(0);
    }
    const s = spec[f];
    if (!s) fail(`unknown option '${f}' (see --help)`);
    const [key, kind, lo] = s;
    if (kind === 'str') a[key] = val();
    else if (kind === 'pair') a[key] = [val(), val()];
    else if (kind === 'int') {
      const v = Number(val());
      if (!Number.isInteger(v) || v < lo) fail(`${f}: expected an integer >= ${lo}`);
      a[key] = v;
    } else {
      const v = Number(val());
      if (!(v > 0)) fail(`${f}: expected a positive number`);
      a[key] = v;
    }
  }
  if (!a.model) fail('--model model.onnx is required');
  if (!fs.existsSync(a.model)) fail(`${a.model} not found`);
  return a;
}

// mulberry32: a small seeded generator, so every run draws the same inputs.
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Standard normal draws from a uniform generator (Box-Muller, both values used).
export function normal(next) {
  let spare = null;
  return () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    const u = 1 - next(), v = next(); // u in (0, 1]
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export async function session(a) {
  const opts = {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (a.saveOptimized) opts.optimizedModelFilePath = a.saveOptimized;
  return ort.InferenceSession.create(a.model, opts);
}

// One warm-up run (allocations, pages), then timed runs until they add up to `seconds` (at least
// 3). feeds() builds a run's inputs and is not timed. -> {runs, elapsed (s), median (s), warm (the
// warm-up's outputs)}.
export async function timedRuns(s, feeds, seconds) {
  const warm = await s.run(feeds());
  const times = [];
  let elapsed = 0;
  while (times.length < 3 || elapsed < seconds) {
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
  return { runs: n, elapsed, median, warm };
}

export const round = (x, d) => Number(x.toFixed(d));

// Max abs error of out (flat, row-major) against the float32 torch module's and the float64
// reference's outputs of one --check case; prints one line, returns whether both are < tol.
export function compare(label, out, expected, tol) {
  const n = out.length;
  if (expected.torch_f32.length !== n || expected.reference_f64.length !== n)
    fail(`${label}: output has ${n} values, expected ${expected.reference_f64.length}`);
  let eTorch = 0, eRef = 0;
  for (let i = 0; i < n; ++i) {
    eTorch = Math.max(eTorch, Math.abs(out[i] - expected.torch_f32[i]));
    eRef = Math.max(eRef, Math.abs(out[i] - expected.reference_f64[i]));
  }
  const good = eTorch < tol && eRef < tol;
  console.log(`  ONNX Runtime vs torch float32 / float64 reference, ${label}: ` +
              `${eTorch.toExponential(2)} / ${eRef.toExponential(2)} ${good ? 'ok' : 'FAIL'}`);
  return good;
}

export function checkFailed(model, tol) {
  process.stderr.write(`${tool}: ONNX Runtime's output differs by ${tol} or more on ${model}\n`);
  process.exit(1);
}

export function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}
