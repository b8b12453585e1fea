/**
 * The PyTorch target (--emit pytorch): a golden file of a small network,
 * determinism, `python3 -m py_compile` on every example's module; then, with
 * Debian's python3-torch, in one Python process:
 *
 *   structure  for every example, the module's parameter count is the
 *              report's torchvision count and its state_dict holds exactly
 *              mnc's weight names and shapes; OUTPUT_NAMES are the ONNX
 *              model's output names;
 *   numerics   with mnc's exported (seeded) weights loaded by
 *              load_mnc_weights, the module in eval() and float64 gives the
 *              float64 reference's outputs, batch 2 (two different inputs),
 *              on V1, V2, V3-Small, both segmentation graphs and the keyword
 *              spotter at two α and resolutions each, and on a graph with
 *              every op (transposed convolutions, every resize, asymmetric
 *              pools, argmax, several outputs); the error is
 *              max |torch − reference| / max(1, max |reference|): absolute
 *              where the values are at most 1, relative to the output's scale
 *              where they are larger;
 *   weights    save_mnc_weights writes the tensors it loaded, bit for bit,
 *              with mnc's metadata, and mnc compile --weights reads them back.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { analyzeCosts, compile, report, type CompileOptions } from "../src/index.js";
import { main } from "../src/cli/main.js";
import { emitPyTorch } from "../src/emit/pytorch/index.js";
import { emitOnnx } from "../src/emit/onnx/index.js";
import { onnx } from "../src/emit/onnx/proto.js";
import { runReferenceOutputs } from "../src/ir/reference.js";
import { ACTIVATIONS, type Activation, type Graph, type Shape } from "../src/ir/graph.js";
import { exportSafetensors, namedTensors } from "../src/weights/export.js";
import { readSafetensors } from "../src/weights/safetensors.js";
import { exampleFiles, fitResolution, inputs, readExample, RESIDUAL_SE } from "./helpers.js";
import { available } from "./optional.js";

const python = "/usr/bin/python3";
const work = mkdtempSync(join(tmpdir(), "mnc-pytorch-"));

function unfused(source: string, options: CompileOptions = {}): Graph {
  const r = compile(source, { ...options, fuseBatchNorm: false });
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  return r.unfused!;
}

/**
 * A graph with every op the language has beyond the family: asymmetric SAME
 * pads on both pools, a transposed convolution with an asymmetric crop and one
 * without, every resize mode and convention, concat, a standalone activation
 * of each kind (after an fc too), a linear one, argmax, two fcs added, and
 * several named outputs.
 */
const EVERY_OP = `network EveryOp {
  image = input 16x13x3 mean=127.5 std=127.5
  c = conv 3x3 8 stride=2 act=relu6
  d = dw 3x3 stride=2 act=hswish
  m = maxpool 3x3 stride=2 pad=same from=c
  a = avgpool 3x3 stride=2 pad=same from=c
  s = add m from=a
  t = deconv 3x3 4 stride=2 act=sigmoid from=s
  u = deconv 2x2 4 stride=2 pad=valid norm=none act=hsigmoid from=s
  v = deconv 4x4 3 stride=2 norm=batchnorm act=relu from=d
  r0 = resize to=image mode=bilinear coords=align_corners from=t
  r1 = resize to=image mode=bilinear coords=half_pixel from=t
  r2 = resize to=image mode=bilinear coords=asymmetric from=t
  r3 = resize to=image mode=nearest coords=align_corners from=u
  r4 = resize to=image mode=nearest coords=half_pixel from=u
  r5 = resize to=image mode=nearest coords=asymmetric from=u
  r6 = resize to=d mode=nearest coords=asymmetric from=image
  k = concat r1 r2 r3 r4 r5 image from=r0
  gate = sigmoid
  e = conv 3x3 5 dilation=2 norm=none act=linear
  am = argmax
  g = avgpool global from=v
  f1 = fc 6
  f2 = fc 6 from=g
  total = add f1 from=f2
  p = sigmoid from=f1
  dropout 0.5 from=total
  probs = softmax
  output e am r6 p probs total
}
`;

/** NCHW (or [N, F]) item order → the reference's NHWC. */
function toNhwc(y: ArrayLike<number>, batch: number, [h, w, c]: Shape): Float64Array {
  const out = new Float64Array(y.length);
  for (let b = 0; b < batch; b++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + ch] = y[(b * c + ch) * h * w + p]!;
  return out;
}

function toNchw(x: Float32Array, batch: number, [h, w, c]: Shape): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) out[(b * c + ch) * h * w + p] = x[(b * h * w + p) * c + ch]!;
  return out;
}

/** max |a − b| / max(1, max |b|). */
function error(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let scale = 1;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const d = Math.abs(actual[i]! - expected[i]!);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return diff / scale;
}

/** The output names of the ONNX model mnc emits for the graph. */
function onnxOutputNames(graph: Graph): string[] {
  const model = onnx.ModelProto.decode(emitOnnx({ graph, costs: analyzeCosts(graph) }, { sourceFile: "net.mn" }));
  return model.graph!.output!.map((o) => o.name!);
}

/** The graph with nodes renamed (ids as the language never makes them: parts that are Python keywords or nn.Module's names). */
function renamed(graph: Graph, names: Readonly<Record<string, string>>): Graph {
  const to = (id: string): string => names[id] ?? id;
  return { ...graph, nodes: graph.nodes.map((n) => ({ ...n, id: to(n.id), inputs: n.inputs.map(to) }) as typeof n), outputs: graph.outputs.map(to) };
}

/** Layer ids that are not plain Python attribute paths: a keyword, nn.Module's own names, a layer inside a layer. */
const ODD_IDS: Readonly<Record<string, string>> = { "bneck_1.se.squeeze": "bneck_1.se.train", "fc_5": "class.forward", "res_4.dw_1": "res_4.pw_0.stride" };

/** The graph with every standalone activation made `act` (the language writes only sigmoid; the IR holds any). */
function withActivations(graph: Graph, act: Activation): Graph {
  return { ...graph, nodes: graph.nodes.map((n) => (n.op === "activation" ? { ...n, attrs: { act } } : n)) };
}

describe("the emitted Python", () => {
  it("matches the golden file for a small network: SAME asymmetric pads, depthwise, residual adds, SE with h-swish, fc (review the diff as text)", async () => {
    const graph = unfused(RESIDUAL_SE);
    const pads = graph.nodes.flatMap((n) => (n.op === "conv" || n.op === "depthwise" ? [n.attrs.pads!] : []));
    expect(pads).toContainEqual([0, 0, 1, 1]);
    await expect(emitPyTorch(graph, { sourceFile: "examples/residual_se.mn" })).toMatchFileSnapshot("golden/pytorch/residual_se.py.txt");
  });

  it("is deterministic: two emits of a network are the same text, and the source's directory is not in it", () => {
    for (const file of ["mobilenet_v3_small.mn", "selfie_segmentation.mn"]) {
      const a = emitPyTorch(unfused(readExample(file), { resolution: fitResolution(file, 96) }), { sourceFile: `/somewhere/examples/${file}` });
      const b = emitPyTorch(unfused(readExample(file), { resolution: fitResolution(file, 96) }), { sourceFile: `/somewhere/examples/${file}` });
      expect(a).toBe(b);
      expect(a).not.toContain("/somewhere");
      expect(a).toContain(`from ${file}:`);
    }
  });

  it("follows the graph: asymmetric pads as F.pad, symmetric ones as the convolution's, SE gates broadcast, the fc on the flattened map", () => {
    const text = emitPyTorch(unfused(RESIDUAL_SE), { sourceFile: "t.mn" });
    expect(text).toContain("self.conv_0 = Conv(3, 16, (3, 3), stride=(2, 2), pad=(0, 1, 0, 1), bn=BatchNorm(16), act=nn.Hardswish())");
    expect(text).toMatch(/self\.bneck_3\.dw = Conv\(72, 72, \(5, 5\), padding=\(2, 2\), groups=72, bn=BatchNorm\(72\), act=nn\.Hardswish\(\)\)/);
    expect(text).toContain("bneck_1_se_scale = bneck_1_dw * bneck_1_se_excite");
    expect(text).toMatch(/fc_\d+ = self\.fc_\d+\(torch\.flatten\(avgpool_0, 1\)\)/);
    expect(text).toContain('OUTPUT_NAMES = ("probabilities",)');
  });

  it("reaches layers whose ids are not plain Python names through add_layer and layer; a layer inside a layer under a tensor's name is an error naming it", () => {
    const text = emitPyTorch(renamed(unfused(RESIDUAL_SE), ODD_IDS), { sourceFile: "t.mn" });
    expect(text).toContain('add_layer(self, "bneck_1.se.train", Conv(16, 8, (1, 1), bias=True, act=nn.ReLU()))');
    expect(text).toContain('bneck_1_se_train = layer(self, "bneck_1.se.train")(bneck_1_se_pool)');
    expect(text).toContain("self.bneck_1.se.excite = Conv(");
    expect(text).toContain('add_layer(self, "class.forward", nn.Linear(24, 10))');
    expect(text).toContain('add_layer(self, "res_4.pw_0.stride", Conv(24, 24, (3, 3)');
    expect(() => emitPyTorch(renamed(unfused(RESIDUAL_SE), { "res_4.dw_1": "res_4.pw_0.bn" }), { sourceFile: "t.mn" })).toThrow(/layer 'res_4\.pw_0\.bn' would sit inside layer 'res_4\.pw_0'/);
  });

  it("renders every op of the graph language", () => {
    const text = emitPyTorch(unfused(EVERY_OP), { sourceFile: "every.mn" });
    for (const expected of [
      "max_pool_same(conv_0, (3, 3), (2, 2), (1, 1, 0, 1))",
      "avg_pool_same(conv_0, (3, 3), (2, 2), (1, 1, 0, 1))",
      "self.deconv_2 = ConvTranspose(8, 4, (3, 3), stride=(2, 2), crop=(0, 0, 1, 1), bn=BatchNorm(4), act=nn.Sigmoid())",
      "self.deconv_3 = ConvTranspose(8, 4, (2, 2), stride=(2, 2), bias=True, act=nn.Hardsigmoid())",
      "self.deconv_4 = ConvTranspose(8, 3, (4, 4), stride=(2, 2), padding=(1, 1), bn=BatchNorm(3), act=nn.ReLU())",
      "self.conv_5 = Conv(27, 5, (3, 3), padding=(2, 2), dilation=(2, 2), bias=True)",
      'resize_2 = resize(deconv_2, (16, 13), "bilinear", "asymmetric")',
      'resize_4 = resize(deconv_3, (16, 13), "nearest", "half_pixel")',
      "concat_0 = torch.cat([resize_0, resize_1, resize_2, resize_3, resize_4, resize_5, x], dim=1)",
      "argmax_0 = torch.argmax(conv_5, dim=1, keepdim=True).to(conv_5.dtype)",
      "sigmoid_0 = torch.sigmoid(concat_0)",
      "sigmoid_1 = torch.sigmoid(fc_6[:, :, None, None])",
      "add_1 = fc_7 + fc_6",
      "self.dropout_0 = nn.Dropout(0.5)",
      "softmax_0 = F.softmax(dropout_0, dim=1)",
      "return (conv_5, argmax_0, resize_6, sigmoid_1, softmax_0, add_1)",
    ]) {
      expect(text).toContain(expected);
    }
    expect(text).toMatch(/^OUTPUT_NAMES = \("e", "am", "r6", "p", "probs", "total"\)$/m);
  });
});

describe("mnc compile --emit pytorch", () => {
  const mnc = (...args: string[]): { status: number; stdout: string; stderr: string } => {
    let stdout = "";
    let stderr = "";
    const status = main(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
    return { status, stdout, stderr };
  };
  const spec = join(work, "pocket.mn");
  writeFileSync(spec, readExample("keyword_spotter.mn"));

  it("writes NET.py beside the spec by default, with the status line of every target; α, ρ and --set apply", () => {
    const r = mnc("compile", spec, "--emit", "pytorch", "--alpha", "0.5", "--resolution", "64", "--set", "classes=4");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = join(work, "pocket.py");
    const t = report(readExample("keyword_spotter.mn"), { alpha: 0.5, resolution: 64, set: { classes: "4" } }).report!.totals;
    expect([t.multAdds, t.params]).toEqual([1_530_112, 7_172]);
    expect(r.stdout).toBe(`${out}: PocketNet α=0.5 64x64x1 → 1x1x4, 1,530,112 mult-adds, 7,172 params, batch-norm kept\n`);
    const text = readFileSync(out, "utf8");
    expect(text).toBe(emitPyTorch(unfused(readExample("keyword_spotter.mn"), { alpha: 0.5, resolution: 64, set: { classes: "4" } }), { sourceFile: "pocket.mn" }));
    expect(text).toContain("INPUT_SHAPE = (1, 64, 64)");
    expect(text).toContain("self.fc_6 = nn.Linear(64, 4)");
  });

  it("-o - writes the module to standard output and the status line to standard error; --weights shapes it", () => {
    const weights = join(work, "pocket.safetensors");
    writeFileSync(weights, exportSafetensors(unfused(readExample("keyword_spotter.mn"))));
    const r = mnc("compile", spec, "--emit", "pytorch", "-o", "-", "--weights", weights);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^"""PocketNet: /);
    expect(r.stdout).toContain("class PocketNet(nn.Module):");
    expect(r.stderr).toMatch(/^-: PocketNet α=1 96x96x1 → 1x1x12, .* batch-norm kept\n$/);
  });

  it.each([["--embed-weights"], ["--labels", "labels.txt"], ["--no-wasm"], ["--embed-preprocessing"], ["--opset", "13"], ["--input-layout", "nhwc"], ["--quantized", "--weights", "w.tflite"]])("%s is a usage error (exit 2), and nothing is written", (...option) => {
    const out = join(work, `refused${option[0]}.py`);
    const r = mnc("compile", spec, "--emit", "pytorch", "-o", out, ...option);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--emit pytorch does not take ${option[0]}`);
    expect(existsSync(out)).toBe(false);
  });
});

describe.runIf(available(existsSync(python), "py_compile of the emitted modules", `no ${python}`))("python3 -m py_compile", () => {
  it("compiles every example's module", () => {
    const paths = exampleFiles().map((file) => {
      const path = join(work, `compile_${file.replace(/\.mn$/, "")}.py`);
      writeFileSync(path, emitPyTorch(unfused(readExample(file)), { sourceFile: file }));
      return path;
    });
    const every = join(work, "compile_every_op.py");
    writeFileSync(every, emitPyTorch(unfused(EVERY_OP), { sourceFile: "every.mn" }));
    execFileSync(python, ["-m", "py_compile", ...paths, every]);
  }, 60_000);
});

// Debian's python3-torch (installed by .ci/run) runs the modules.
const haveTorch = existsSync(python) && spawnSync(python, ["-c", "import torch"]).status === 0;

/** One module for the Python process: structure always; with `weights`, outputs for `input` too. */
interface Job {
  readonly name: string;
  readonly path: string;
  readonly weights?: string;
  readonly input?: string;
  readonly batch?: number;
  readonly prefix?: string;
  readonly save?: string;
}

interface JobResult {
  readonly params: number;
  readonly state: [string, number[]][];
  readonly output_names: string[];
  readonly input_shape: number[];
  readonly outputs?: number[][];
  /** load_mnc_weights' ValueError, when it refused the file. */
  readonly error?: string;
}

/** A safetensors file of the given tensors, each already encoded as `dtype` (for the dtypes mnc does not write). */
function safetensorsFile(tensors: readonly { name: string; shape: readonly number[]; dtype: string; bytes: Uint8Array }[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let text = JSON.stringify(header);
  text += " ".repeat((8 - (text.length % 8)) % 8);
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setUint32(0, text.length, true);
  out.set(new TextEncoder().encode(text), 8);
  let at = 8 + text.length;
  for (const t of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

/** float32 → IEEE half (truncating), and back. */
function toHalf(v: number): number {
  const u = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  const mant = u & 0x7fffff;
  if (exp <= 0) return exp < -10 ? sign : sign | ((mant | 0x800000) >> (14 - exp));
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >> 13);
}
function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Each float dtype load_mnc_weights reads: how a float32 value is stored, and the value read back. */
const DTYPES: Readonly<Record<string, { readonly encode: (data: Float32Array) => Uint8Array; readonly decoded: (v: number) => number }>> = {
  F64: { encode: (d) => new Uint8Array(Float64Array.from(d).buffer), decoded: (v) => v },
  F16: { encode: (d) => new Uint8Array(Uint16Array.from(d, toHalf).buffer), decoded: (v) => fromHalf(toHalf(v)) },
  BF16: { encode: (d) => new Uint8Array(Uint16Array.from(new Uint32Array(Float32Array.from(d).buffer), (u) => u >>> 16).buffer), decoded: (v) => new Float32Array(new Uint32Array([(new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16) << 16]).buffer)[0]! },
};

const DRIVER = `import importlib.util, json, sys
import torch

torch.set_num_threads(1)
jobs = json.load(open(sys.argv[1]))
results = {}
for job in jobs:
    spec = importlib.util.spec_from_file_location("net_" + str(len(results)), job["path"])
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    torch.manual_seed(0)
    model = m.create_model()
    r = {
        "params": sum(p.numel() for p in model.parameters()),
        "state": [[k, list(v.shape)] for k, v in model.state_dict().items()],
        "output_names": list(m.OUTPUT_NAMES),
        "input_shape": list(m.INPUT_SHAPE),
    }
    if "weights" in job:
        try:
            m.load_mnc_weights(model, job["weights"])
        except ValueError as e:
            r["error"] = str(e)
            results[job["name"]] = r
            continue
    if "input" in job:
        model.double().eval()
        c, h, w = m.INPUT_SHAPE
        raw = bytearray(open(job["input"], "rb").read())
        x = torch.frombuffer(raw, dtype=torch.float64).reshape(job["batch"], c, h, w)
        with torch.no_grad():
            y = model(x)
        ys = y if isinstance(y, tuple) else (y,)
        r["outputs"] = [list(t.shape) for t in ys]
        for i, t in enumerate(ys):
            with open(job["prefix"] + "." + str(i), "wb") as f:
                f.write(m._to_little_endian(t.contiguous()))
    if "save" in job:
        model.float()
        m.save_mnc_weights(model, job["save"])
    results[job["name"]] = r
json.dump(results, open(sys.argv[2], "w"))
`;

/** A numerics case: an example (or EVERY_OP) at an α and a resolution. */
interface Case {
  readonly name: string;
  readonly source: string;
  readonly options: CompileOptions;
  /** A change to the compiled graph (standalone activations the language cannot write). */
  readonly transform?: (graph: Graph) => Graph;
}

const ex = (file: string, alpha: number, resolution: number): Case => ({ name: `${file} α=${alpha} ${resolution}`, source: readExample(file), options: { alpha, resolution: fitResolution(file, resolution) } });

const CASES: readonly Case[] = [
  ex("mobilenet_v1.mn", 0.5, 96),
  ex("mobilenet_v1.mn", 0.25, 64),
  ex("mobilenet_v2.mn", 0.35, 96),
  ex("mobilenet_v2.mn", 0.75, 64),
  ex("mobilenet_v3_small.mn", 1, 96),
  ex("mobilenet_v3_small.mn", 0.5, 64),
  ex("deeplabv3_mobilenet_v2.mn", 1, 65),
  ex("deeplabv3_mobilenet_v2.mn", 0.5, 33),
  ex("selfie_segmentation.mn", 1, 64),
  ex("selfie_segmentation.mn", 0.5, 96),
  ex("keyword_spotter.mn", 1, 96),
  ex("keyword_spotter.mn", 0.5, 64),
  { name: "every op", source: EVERY_OP, options: {} },
  { name: "every op α=0.5", source: EVERY_OP, options: { alpha: 0.5 } },
  ...ACTIVATIONS.filter((act) => act !== "sigmoid").map((act): Case => ({ name: `every op, standalone ${act}`, source: EVERY_OP, options: { resolution: 11 }, transform: (g) => withActivations(g, act) })),
  { name: "odd layer ids", source: RESIDUAL_SE, options: {}, transform: (g) => renamed(g, ODD_IDS) },
  { name: "DeepLab --outputs scores,logits", source: readExample("deeplabv3_mobilenet_v2.mn"), options: { resolution: 33, outputs: ["scores", "logits"] } },
];

const BATCH = 2;
/** The case whose loaded weights save_mnc_weights writes back. */
const SAVED = "mobilenet_v3_small.mn α=0.5 64";

describe.runIf(available(haveTorch || process.env["CI"] === "true", "the PyTorch structure and numerics checks", `${python} cannot import torch (apt-get install python3-torch)`))("the emitted module in PyTorch (python3-torch)", () => {
  const structure = exampleFiles().map((file) => ({ file, graph: unfused(readExample(file)) }));
  const numerics = CASES.map((c) => ({ ...c, graph: (c.transform ?? ((g: Graph) => g))(unfused(c.source, c.options)) }));
  let results: Record<string, JobResult> = {};

  beforeAll(() => {
    const jobs: Job[] = [];
    structure.forEach(({ file, graph }, i) => {
      const path = join(work, `structure_${i}.py`);
      writeFileSync(path, emitPyTorch(graph, { sourceFile: file }));
      jobs.push({ name: file, path });
    });
    numerics.forEach((c, i) => {
      const path = join(work, `case_${i}.py`);
      writeFileSync(path, emitPyTorch(c.graph, { sourceFile: "net.mn" }));
      const weights = join(work, `case_${i}.safetensors`);
      writeFileSync(weights, exportSafetensors(c.graph));
      const shape = c.graph.nodes[0]!.shape!;
      const x = inputs(BATCH * shape[0] * shape[1] * shape[2], 17 + i);
      const input = join(work, `case_${i}.input`);
      writeFileSync(input, new Uint8Array(toNchw(x, BATCH, shape).buffer));
      jobs.push({ name: c.name, path, weights, input, batch: BATCH, prefix: join(work, `case_${i}.output`), ...(c.name === SAVED ? { save: join(work, "saved.safetensors") } : {}) });
    });
    // The keyword spotter's weights in F64, F16 and BF16, and three files load_mnc_weights must refuse.
    const spotter = structure.findIndex((s) => s.file === "keyword_spotter.mn");
    const { tensors, metadata } = namedTensors(structure[spotter]!.graph);
    for (const [dtype, d] of Object.entries(DTYPES)) {
      const weights = join(work, `dtype_${dtype}.safetensors`);
      writeFileSync(weights, safetensorsFile(tensors.map((t) => ({ name: t.name, shape: t.shape, dtype, bytes: d.encode(t.data) })), metadata));
      jobs.push({ name: `dtype ${dtype}`, path: join(work, `structure_${spotter}.py`), weights, save: join(work, `dtype_${dtype}.saved.safetensors`) });
    }
    const f32 = (list: typeof tensors) => list.map((t) => ({ name: t.name, shape: t.shape, dtype: "F32", bytes: new Uint8Array(Float32Array.from(t.data).buffer) }));
    const refused: Record<string, typeof tensors> = {
      missing: tensors.filter((t) => t.name !== "unit_2.pw_1.bn.variance"),
      shape: tensors.map((t) => (t.name === "fc_6.weight" ? { ...t, shape: [t.shape[1]!, t.shape[0]!] } : t)),
      unknown: [...tensors, { name: "fc_7.weight", shape: [1], data: new Float32Array(1) }],
    };
    for (const [what, list] of Object.entries(refused)) {
      const weights = join(work, `refused_${what}.safetensors`);
      writeFileSync(weights, safetensorsFile(f32(list), metadata));
      jobs.push({ name: `refused ${what}`, path: join(work, `structure_${spotter}.py`), weights });
    }
    const jobsFile = join(work, "jobs.json");
    const resultsFile = join(work, "results.json");
    writeFileSync(jobsFile, JSON.stringify(jobs));
    writeFileSync(join(work, "driver.py"), DRIVER);
    execFileSync(python, [join(work, "driver.py"), jobsFile, resultsFile], { stdio: ["ignore", "inherit", "inherit"] });
    results = JSON.parse(readFileSync(resultsFile, "utf8")) as Record<string, JobResult>;
  }, 120_000);

  it("every example: the parameter count is the report's torchvision count; the state_dict is mnc's weight names and shapes", () => {
    for (const { file, graph } of structure) {
      const r = results[file]!;
      expect(r, file).toBeDefined();
      expect(r.params, file).toBe(report(readExample(file)).report!.totals.torchvisionParams);
      const names = namedTensors(graph).tensors.map((t) => [t.name, [...t.shape]]);
      expect(new Map(r.state), file).toEqual(new Map(names as [string, number[]][]));
      expect(r.state.length, file).toBe(names.length);
      const [h, w, c] = graph.nodes[0]!.shape!;
      expect(r.input_shape, file).toEqual([c, h, w]);
      expect(r.output_names, file).toEqual(onnxOutputNames(graph));
    }
  });

  it("every case: the float64 module in eval() gives the float64 reference's outputs, every output, batch 2", () => {
    const worst: string[] = [];
    numerics.forEach((c, i) => {
      const r = results[c.name]!;
      const shape = c.graph.nodes[0]!.shape!;
      const x = inputs(BATCH * shape[0] * shape[1] * shape[2], 17 + i);
      const want = runReferenceOutputs(c.graph, x, BATCH);
      expect(r.output_names, c.name).toEqual(onnxOutputNames(c.graph));
      expect(r.outputs!.length, c.name).toBe(c.graph.outputs.length);
      let caseWorst = 0;
      c.graph.outputs.forEach((id, k) => {
        const s = c.graph.nodes.find((n) => n.id === id)!.shape!;
        const dims = r.outputs![k]!;
        // An fc's output (and what keeps its rank) is [N, F], as after ONNX's Gemm; every other output NCHW.
        expect(dims.length === 2 ? [...dims, 1, 1] : dims, `${c.name} ${id}`).toEqual([BATCH, s[2], ...(dims.length === 2 ? [1, 1] : [s[0], s[1]])]);
        const bytes = readFileSync(join(work, `case_${i}.output.${k}`));
        const got = toNhwc(new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8), BATCH, s);
        const e = error(got, want[k]!);
        caseWorst = Math.max(caseWorst, e);
        expect(e, `${c.name}: output ${id}`).toBeLessThan(1e-4);
      });
      worst.push(`${c.name}: ${caseWorst.toExponential(1)}`);
    });
    // Both sides compute in float64 from the same float32 weights: they agree to rounding.
    expect(Math.max(...worst.map((w) => Number(w.slice(w.lastIndexOf(" ") + 1))))).toBeLessThan(1e-10);
    console.log(`largest error per case (max |torch − reference| / max(1, max |reference|)): ${worst.join("; ")}`);
  });

  it("the two batch items differ (the comparison is not of one input twice)", () => {
    const i = numerics.findIndex((c) => c.name === "mobilenet_v2.mn α=0.35 96");
    const bytes = readFileSync(join(work, `case_${i}.output.0`));
    const y = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
    const half = y.length / 2;
    expect(error(y.subarray(0, half), y.subarray(half))).toBeGreaterThan(1e-6);
  });

  it("load_mnc_weights reads F64, F16 and BF16 files, and refuses a file that lacks a tensor, has one of another shape or one the model has not, naming it", () => {
    const spotter = structure.find((s) => s.file === "keyword_spotter.mn")!;
    const { tensors } = namedTensors(spotter.graph);
    for (const [dtype, d] of Object.entries(DTYPES)) {
      expect(results[`dtype ${dtype}`]!.error, dtype).toBeUndefined();
      const saved = readSafetensors(new Uint8Array(readFileSync(join(work, `dtype_${dtype}.saved.safetensors`))));
      expect(saved.tensors.map((t) => t.name), dtype).toEqual(tensors.map((t) => t.name));
      saved.tensors.forEach((t, i) => expect(Array.from(t.data), `${dtype} ${t.name}`).toEqual(Array.from(tensors[i]!.data, d.decoded)));
    }
    // F16 and BF16 keep fewer digits: the test would not notice a reader that ignored the dtype.
    expect(DTYPES["BF16"]!.decoded(0.1)).not.toBe(Math.fround(0.1));
    expect(DTYPES["F16"]!.decoded(0.1)).not.toBe(DTYPES["BF16"]!.decoded(0.1));
    expect(results["refused missing"]!.error).toMatch(/no tensor 'unit_2\.pw_1\.bn\.variance' \(of shape \[64\]\), which the model has$/);
    expect(results["refused shape"]!.error).toMatch(/tensor 'fc_6\.weight' has shape \[128, 12\], the model's has \[12, 128\]$/);
    expect(results["refused unknown"]!.error).toMatch(/tensor 'fc_7\.weight' is not one of the model's$/);
  });

  it("save_mnc_weights writes the weights it loaded, bit for bit, with mnc's metadata, and mnc compile --weights reads them back", () => {
    const c = numerics.find((n) => n.name === SAVED)!;
    const saved = new Uint8Array(readFileSync(join(work, "saved.safetensors")));
    const file = readSafetensors(saved);
    const { tensors, metadata } = namedTensors(c.graph);
    expect(file.metadata).toEqual(metadata);
    expect(new Map(file.tensors.map((t) => [t.name, { shape: [...t.shape], data: Array.from(t.data) }]))).toEqual(new Map(tensors.map((t) => [t.name, { shape: [...t.shape], data: Array.from(t.data) }])));
    const back = compile(c.source, { ...c.options, weights: saved, weightsFile: "saved.safetensors" });
    expect(back.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(back.certificate).toBeDefined();
    const x = inputs(2 * 64 * 64 * 3, 5);
    expect(error(runReferenceOutputs(back.unfused!, x, 2)[0]!, runReferenceOutputs(c.graph, x, 2)[0]!)).toBe(0);
  });
});
