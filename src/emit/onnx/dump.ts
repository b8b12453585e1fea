/**
 * A text dump of an ONNX model's structure — ops, attributes, shapes, names,
 * metadata; not the weights' values — decoded from the bytes, for golden
 * files and for people reading what mnc wrote.
 */
import { onnx, type IAttributeProto } from "./proto.js";
import type onnxProto from "onnx-proto";

type ITypeProto = onnxProto.onnx.ITypeProto;

type Long = { toNumber(): number };
const num = (v: number | Long | null | undefined): number => (v === null || v === undefined ? 0 : typeof v === "number" ? v : v.toNumber());

function typeText(t: ITypeProto | null | undefined): string {
  const tt = t?.tensorType;
  if (!tt) return "?";
  const elem = onnx.TensorProto.DataType[tt.elemType ?? 0] ?? String(tt.elemType);
  const dims = (tt.shape?.dim ?? []).map((d: onnxProto.onnx.TensorShapeProto.IDimension) => (d.dimParam ? d.dimParam : String(num(d.dimValue))));
  return `${elem.toLowerCase()}[${dims.join(",")}]`;
}

function attributeText(a: IAttributeProto): string {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.INT:
      return `${a.name}=${num(a.i)}`;
    case T.INTS:
      return `${a.name}=[${(a.ints ?? []).map(num).join(",")}]`;
    case T.FLOAT:
      return `${a.name}=${Number((a.f ?? 0).toPrecision(7))}`;
    case T.STRING:
      return `${a.name}="${new TextDecoder().decode(a.s ?? new Uint8Array())}"`;
    default:
      return `${a.name}=<${T[a.type ?? 0]}>`;
  }
}

export function dumpOnnx(bytes: Uint8Array): string {
  const m = onnx.ModelProto.decode(bytes);
  const g = onnx.GraphProto.create(m.graph ?? {});
  const lines: string[] = [];
  lines.push(`ir_version ${num(m.irVersion)}; opset ${m.opsetImport.map((o) => `${o.domain || "ai.onnx"} ${num(o.version)}`).join(", ")}; producer ${m.producerName} ${m.producerVersion}`);
  lines.push(`graph ${g.name}: ${m.docString}`);
  for (const p of m.metadataProps) lines.push(`  metadata ${p.key} = ${p.value}`);
  for (const i of g.input) lines.push(`  input ${i.name}: ${typeText(i.type)}`);
  for (const o of g.output) lines.push(`  output ${o.name}: ${typeText(o.type)}`);
  for (const t of g.initializer.map((x) => onnx.TensorProto.create(x))) {
    const elem = (onnx.TensorProto.DataType[t.dataType] ?? String(t.dataType)).toLowerCase();
    lines.push(`  initializer ${t.name}: ${elem}[${t.dims.map(num).join(",")}] (${t.rawData.length} bytes)`);
  }
  for (const n of g.node.map((x) => onnx.NodeProto.create(x))) {
    const attrs = n.attribute.map(attributeText).join(" ");
    lines.push(`  node ${n.name}: ${n.opType}(${n.input.join(", ")}) -> ${n.output.join(", ")}${attrs ? `  {${attrs}}` : ""}${n.docString ? `  # ${n.docString}` : ""}`);
  }
  for (const v of g.valueInfo) lines.push(`  value_info ${v.name}: ${typeText(v.type)}`);
  return lines.join("\n") + "\n";
}
