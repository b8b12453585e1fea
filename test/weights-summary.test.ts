/**
 * A weight file that does not fit: one summary (MN4011) of what the file looks
 * like comes before the per-layer details — width, classes, activation,
 * layers, residual adds — with the options that fit it; a file that fits, or
 * one whose problem the summary cannot name, gets none.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/index.js";
import { exportSafetensors } from "../src/weights/export.js";
import { writeSafetensors } from "../src/weights/safetensors.js";
import { readExample, shared } from "./helpers.js";
import { haveShared } from "./optional.js";

function codesAndMessages(source: string, weights: Uint8Array, options: CompileOptions = {}): string[] {
  const r = compile(source, { weights, weightsFile: "w", fuseBatchNorm: false, ...options });
  return r.diagnostics.map((d) => `${d.code} ${d.message}`);
}

const v1File = join(shared, "data", "mobilenet_v1", "model", "mobilenet_v1_0.25_224_1_default_1.tflite");
const v2File = join(shared, "data", "mobilenet_v2_quant", "model", "mobilenet_v2_1.0_224_quant.tflite");

describe.runIf(haveShared(v1File, "the float MobileNetV1 0.25 TFLite summary"))("the float MobileNetV1 0.25 TFLite file", () => {
  const v1 = existsSync(v1File) ? new Uint8Array(readFileSync(v1File)) : new Uint8Array();

  it("given to MobileNetV1 at α 1 with 1000 classes and ReLU: the summary names α 0.25, 1001 classes and ReLU6, and its fixes make the file fit", () => {
    const source = readExample("mobilenet_v1.mn");
    const all = codesAndMessages(source, v1);
    expect(all[0]).toBe("MN4011 the weights file looks like 'MobileNetV1' at α 0.25 with 1001 classes and relu6 activations: try --alpha 0.25, --set classes=1001 and act=relu6 (`defaults act=relu6`)");
    // The details follow as before.
    expect(all.slice(1).map((d) => d.slice(0, 6))).toEqual(["MN4006", ...new Array<string>(all.length - 2).fill("MN4002")]);
    expect(all.filter((d) => d.startsWith("MN4011"))).toHaveLength(1);
    // Following the advice.
    const fixed = source.replace("  width 1.0", "  defaults act=relu6\n  width 1.0");
    expect(codesAndMessages(fixed, v1, { alpha: 0.25, set: { classes: "1001" } })).toEqual([]);
  });

  it("given to the right width but the wrong class count: the summary names only the classes, and the parameter that sets them", () => {
    const source = readExample("mobilenet_v1_tf.mn");
    expect(codesAndMessages(source, v1, { set: { classes: "1000" } })).toEqual([
      "MN4011 the weights file looks like 'MobileNetV1_TF' with 1001 classes: try --set classes=1001",
      "MN4002 'fc_14': CONV_2D #28 (MobilenetV1/Logits/Conv2d_1c_1x1/weights) should be [1000, 256], but the file has [1001, 256]",
    ]);
    // A literal class count has no parameter to set.
    expect(codesAndMessages(source.replace("fc classes", "fc 10"), v1)[0]).toBe("MN4011 the weights file looks like 'MobileNetV1_TF' with 1001 classes: try `fc 1001` as the last layer");
  });

  it("given to a network of another width rule or width: α from the network's own filters and rounding", () => {
    const source = readExample("mobilenet_v1_tf.mn");
    expect(codesAndMessages(source, v1, { alpha: 0.5 })[0]).toBe("MN4011 the weights file looks like 'MobileNetV1_TF' at α 0.25: try --alpha 0.25");
    // Declared at half the filters, the same file is α 0.5 of it.
    const halved = source.replace(/(conv 3x3|separable) (\d+)/g, (_m, op: string, n: string) => `${op} ${Number(n) / 2}`);
    expect(codesAndMessages(halved, v1)[0]).toBe("MN4011 the weights file looks like 'MobileNetV1_TF' at α 0.5: try --alpha 0.5");
  });

  it("that fits gets no summary", () => {
    expect(codesAndMessages(readExample("mobilenet_v1_tf.mn"), v1)).toEqual([]);
  });
});

describe.runIf(haveShared(v2File, "the uint8 MobileNetV2 TFLite summary"))("the uint8 MobileNetV2 TFLite file given to MobileNetV1", () => {
  it("looks like a MobileNetV2-style network with residual adds, and nothing it cannot infer is claimed", () => {
    const all = codesAndMessages(readExample("mobilenet_v1_tf.mn"), new Uint8Array(readFileSync(v2File)));
    // Classes (1001) and activation (ReLU6) agree; the layers do not line up, so no α is claimed.
    expect(all[0]).toBe("MN4011 the weights file looks like a MobileNetV2-style network with 53 weighted layers (the network has 28) and 10 residual adds (the network has none)");
    expect(all.slice(1).every((d) => /^MN40(0\d|10) /.test(d))).toBe(true);
  });
});

describe("safetensors files, from tensor shapes by name", () => {
  const net = `network N(classes = 10) {
  input 32x32x3
  conv 3x3 32 stride=2
  separable 64
  separable 128 stride=2
  avgpool global
  fc classes
}
`;
  const exported = (options: CompileOptions): Uint8Array => {
    const r = compile(net, { fuseBatchNorm: false, ...options });
    expect(r.diagnostics).toEqual([]);
    return exportSafetensors(r.unfused!);
  };

  it("an export at α 0.5 given to the network at α 1 names α 0.5", () => {
    const all = codesAndMessages(net, exported({ alpha: 0.5 }));
    expect(all[0]).toBe("MN4011 the weights file looks like 'N' at α 0.5: try --alpha 0.5");
    expect(all.slice(1).every((d) => d.startsWith("MN4002 "))).toBe(true);
    expect(codesAndMessages(net, exported({ alpha: 0.5 }), { alpha: 0.5 })).toEqual([]);
  });

  it("with other classes and another width: both", () => {
    expect(codesAndMessages(net, exported({ alpha: 0.75, set: { classes: "7" } }))[0]).toBe("MN4011 the weights file looks like 'N' at α 0.75 with 7 classes: try --alpha 0.75 and --set classes=7");
  });

  it("under MobileNetV2's rounding (multiples of 8) the common α that fits, nearest the widest layer's ratio", () => {
    const v2 = readExample("mobilenet_v2.mn");
    const r = compile(v2, { alpha: 0.35, fuseBatchNorm: false, resolution: 32 });
    expect(r.diagnostics).toEqual([]);
    expect(codesAndMessages(v2, exportSafetensors(r.unfused!), { resolution: 32 })[0]).toBe("MN4011 the weights file looks like 'MobileNetV2' at α 0.35: try --alpha 0.35");
  });

  it("a file that fits, or one whose problem the summary cannot name, gets none", () => {
    expect(codesAndMessages(net, exported({}))).toEqual([]);
    const wrongInput = writeSafetensors([
      { name: "pw_0.weight", shape: [4, 2, 1, 1], data: new Float32Array(8) },
      { name: "pw_0.bias", shape: [4], data: new Float32Array(4) },
    ]);
    expect(codesAndMessages("network P {\n  input 8x8x3\n  pw 4 norm=none\n}\n", wrongInput)).toEqual(["MN4002 'pw_0': pw_0.weight should be [4, 3, 1, 1], but the file has [4, 2, 1, 1]"]);
  });
});
