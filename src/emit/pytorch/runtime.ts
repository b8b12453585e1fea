/**
 * The fixed Python of the PyTorch target: the helper modules and functions a
 * network's class is written with, the safetensors reader and writer, and
 * load_mnc_weights / save_mnc_weights. Each piece is emitted only when the
 * network uses it (a network without a transposed convolution has no
 * ConvTranspose), so that the file holds nothing a reader must skip.
 *
 * Every helper computes exactly what the float64 reference does
 * (src/ir/reference.ts); the comments say which rule each one follows.
 */

/** Which optional pieces the network needs. */
export interface RuntimeNeeds {
  readonly convTranspose: boolean;
  readonly linear: boolean;
  readonly maxPoolSame: boolean;
  readonly avgPoolSame: boolean;
  readonly resize: boolean;
  /** Some layer id has a part that is not a plain Python attribute name: add_layer / layer. */
  readonly oddPaths: boolean;
}

export const IMPORTS = `import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
`;

export const BATCH_NORM = `class BatchNorm(nn.Module):
    """Batch-norm as mnc names it: y = gamma * (x - mean) / sqrt(variance + eps) + beta.

    gamma and beta are parameters; mean and variance are buffers, the running
    statistics that training updates (momentum BN_MOMENTUM: running = (1 -
    momentum) * running + momentum * batch, PyTorch's convention) and eval()
    uses. There is no num_batches_tracked: the state_dict holds exactly mnc's
    four tensors per layer.
    """

    def __init__(self, channels, eps=BN_EPSILON, momentum=BN_MOMENTUM):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("variance", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.mean, self.variance, self.gamma, self.beta, self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.gamma.shape[0]}, eps={self.eps}, momentum={self.momentum}"
`;

export const CONV = `class Conv(nn.Module):
    """One of mnc's conv, pw and dw layers: padding, the convolution (groups =
    channels for a depthwise one, weight [out, in / groups, kh, kw]), the bias
    when the layer has one, batch-norm when it has one, then the activation.

    TensorFlow's SAME padding, as mnc computed it for this input size: where it
    is symmetric it is the convolution's own \`padding\` (rows, columns); where
    it is not (a stride-2 layer on an even input pads one more row and column
    after than before), \`pad\` = (left, right, top, bottom) is applied with
    F.pad before an unpadded convolution.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=(1, 1), padding=(0, 0), pad=None, dilation=(1, 1), groups=1, bias=False, bn=None, act=None):
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.pad = pad
        self.dilation = dilation
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.bn = bn
        self.act = act if act is not None else nn.Identity()

    def forward(self, x):
        if self.pad is not None:
            x = F.pad(x, self.pad)
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)

    def extra_repr(self):
        out_channels, in_channels, kh, kw = self.weight.shape
        pads = f"pad={self.pad}" if self.pad is not None else f"padding={self.padding}"
        return f"{in_channels * self.groups}, {out_channels}, kernel_size=({kh}, {kw}), stride={self.stride}, {pads}, dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}"
`;

export const CONV_TRANSPOSE = `class ConvTranspose(nn.Module):
    """mnc's deconv: a transposed convolution (weight [in, out, kh, kw], as
    ONNX ConvTranspose and F.conv_transpose2d take it), then the bias,
    batch-norm and activation as Conv. Of the full (H - 1) * stride + K rows
    and columns, TensorFlow's SAME keeps the middle: a symmetric crop is the
    convolution's own \`padding\`; otherwise \`crop\` = (top, left, bottom, right)
    is cut from the full output.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=(1, 1), padding=(0, 0), crop=None, bias=False, bn=None, act=None):
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.crop = crop
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels, *kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.bn = bn
        self.act = act if act is not None else nn.Identity()

    def forward(self, x):
        x = F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding)
        if self.crop is not None:
            top, left, bottom, right = self.crop
            x = x[:, :, top : x.shape[2] - bottom, left : x.shape[3] - right]
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)

    def extra_repr(self):
        in_channels, out_channels, kh, kw = self.weight.shape
        crop = f"crop={self.crop}" if self.crop is not None else f"padding={self.padding}"
        return f"{in_channels}, {out_channels}, kernel_size=({kh}, {kw}), stride={self.stride}, {crop}, bias={self.bias is not None}"
`;

export const MAX_POOL_SAME = `def max_pool_same(x, kernel_size, stride, pad):
    """Max pooling with asymmetric SAME pads (left, right, top, bottom): the
    padded cells are -inf, so only the input's cells can be the maximum."""
    return F.max_pool2d(F.pad(x, pad, value=float("-inf")), kernel_size, stride)
`;

export const AVG_POOL_SAME = `def avg_pool_same(x, kernel_size, stride, pad):
    """Average pooling with asymmetric SAME pads (left, right, top, bottom):
    the mean of the window's cells inside the input only, as TensorFlow's SAME
    average pooling and ONNX's count_include_pad=0 compute it (the sum over the
    zero-padded window, divided by the count of real cells in it)."""
    total = F.avg_pool2d(F.pad(x, pad), kernel_size, stride, divisor_override=1)
    count = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), pad), kernel_size, stride, divisor_override=1)
    return total / count
`;

export const RESIZE = `def resize_axis(mode, coords, size_in, size_out):
    """For each output index along one axis: the two source indices and the
    weight of the second (mnc's src/ir/ops/resize.ts, the rule every mnc target
    follows). The source coordinate of output index o:
      align_corners  o * (in - 1) / (out - 1)   (0 when out = 1)
      half_pixel     (o + 1/2) * in / out - 1/2
      asymmetric     o * in / out
    bilinear clamps it to [0, in - 1] and blends floor(src) and the next index;
    nearest takes floor(src) (asymmetric), floor((o + 1/2) * in / out)
    (half_pixel) or floor(src + 1/2) (align_corners), clamped to [0, in - 1].
    """
    lo, hi, frac = [], [], []
    for o in range(size_out):
        if coords == "align_corners":
            src = 0.0 if size_out == 1 else o * (size_in - 1) / (size_out - 1)
        elif coords == "half_pixel":
            src = (o + 0.5) * size_in / size_out - 0.5
        else:
            src = o * size_in / size_out
        if mode == "nearest":
            if coords == "half_pixel":
                index = math.floor((o + 0.5) * size_in / size_out)
            elif coords == "align_corners":
                index = math.floor(src + 0.5)
            else:
                index = math.floor(src)
            index = min(max(index, 0), size_in - 1)
            lo.append(index)
            hi.append(index)
            frac.append(0.0)
        else:
            src = min(max(src, 0.0), size_in - 1)
            index = math.floor(src)
            lo.append(index)
            hi.append(min(index + 1, size_in - 1))
            frac.append(src - index)
    return lo, hi, frac


def resize(x, size, mode, coords):
    """mnc's resize of an NCHW tensor to size (H, W): nearest copies the source
    rows and columns resize_axis picks; bilinear blends the two neighbours
    along W, then along H, as mnc's reference does."""
    rows = resize_axis(mode, coords, x.shape[2], size[0])
    columns = resize_axis(mode, coords, x.shape[3], size[1])
    if mode == "nearest":
        x = x.index_select(2, torch.tensor(rows[0], device=x.device))
        return x.index_select(3, torch.tensor(columns[0], device=x.device))
    left = x.index_select(3, torch.tensor(columns[0], device=x.device))
    right = x.index_select(3, torch.tensor(columns[1], device=x.device))
    x = left + (right - left) * torch.tensor(columns[2], dtype=x.dtype, device=x.device)
    top = x.index_select(2, torch.tensor(rows[0], device=x.device))
    bottom = x.index_select(2, torch.tensor(rows[1], device=x.device))
    return top + (bottom - top) * torch.tensor(rows[2], dtype=x.dtype, device=x.device)[:, None]
`;

export const ODD_PATHS = `def add_layer(root, path, module):
    """Put module at the dotted mnc layer id path under root, making plain
    nn.Module containers on the way (for ids with a part that is not a plain
    Python attribute name, such as a keyword or a name nn.Module defines)."""
    *parents, last = path.split(".")
    for part in parents:
        if part not in root._modules:
            root._modules[part] = nn.Module()
        root = root._modules[part]
    root._modules[last] = module


def layer(root, path):
    """The module at the dotted mnc layer id path under root (see add_layer)."""
    for part in path.split("."):
        root = root._modules[part]
    return root
`;

/** torchvision's MobileNet initialisation, for the module kinds the network has. */
export function initWeights(needs: RuntimeNeeds): string {
  const convs = needs.convTranspose ? "(Conv, ConvTranspose)" : "Conv";
  const linear = needs.linear
    ? `
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)`
    : "";
  return `def init_weights(model):
    """torchvision's MobileNet initialisation: convolution weights He-normal
    with fan_out (kaiming_normal_, mode="fan_out"), biases 0; batch-norm gamma 1,
    beta 0, running mean 0 and variance 1; fully connected weights N(0, 0.01),
    biases 0."""
    for module in model.modules():
        if isinstance(module, ${convs}):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, BatchNorm):
            nn.init.ones_(module.gamma)
            nn.init.zeros_(module.beta)
            nn.init.zeros_(module.mean)
            nn.init.ones_(module.variance)${linear}
`;
}

export const SAFETENSORS = `# The safetensors format: 8 bytes N (unsigned, little-endian), N bytes of
# UTF-8 JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
# "__metadata__": {str: str}} padded with spaces, then the tensors' bytes,
# little-endian and row-major, offsets relative to the end of the header.

SAFETENSORS_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise ValueError(f"the header names '{k}' twice")
    return dict(pairs)


def read_safetensors(path):
    """The tensors ({name: float32 tensor}, in the file's order) and the
    metadata ({str: str}) of a safetensors file with F32, F64, F16 or BF16
    tensors."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (length,) = struct.unpack("<Q", data[:8])
    if 8 + length > len(data):
        raise ValueError(f"{path}: the header length {length} runs past the end of the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except ValueError as e:
        raise ValueError(f"{path}: the header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    body = data[8 + length :]
    tensors = {}
    for name, entry in header.items():
        dtype = SAFETENSORS_DTYPES.get(entry.get("dtype") if isinstance(entry, dict) else None)
        if dtype is None:
            raise ValueError(f"{path}: tensor '{name}' is {entry.get('dtype') if isinstance(entry, dict) else entry!r}; this reader takes F32, F64, F16 and BF16")
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(v) for v in entry["data_offsets"])
        size = torch.empty((), dtype=dtype).element_size()
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(body) or end - begin != count * size:
            raise ValueError(f"{path}: tensor '{name}' of shape {shape} has data_offsets [{begin}, {end}] in a body of {len(body)} bytes")
        tensors[name] = _from_little_endian(body[begin:end], dtype).reshape(shape).to(torch.float32)
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Write {name: tensor} as float32 (F32) safetensors, in the given order,
    with the metadata strings; the header is padded with spaces to a multiple
    of 8 bytes, as the reference writer does."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, tensor in tensors.items():
        t = tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()
        raw = _to_little_endian(t)
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def _from_little_endian(raw, dtype):
    if len(raw) == 0:
        return torch.empty(0, dtype=dtype)
    size = torch.empty((), dtype=dtype).element_size()
    data = torch.frombuffer(raw, dtype=torch.uint8).clone()
    if sys.byteorder != "little":
        data = data.reshape(-1, size).flip(1).reshape(-1)
    return data.view(dtype)


def _to_little_endian(t):
    raw = bytearray(t.numel() * t.element_size())
    if len(raw) > 0:
        data = t.reshape(-1).view(torch.uint8)
        if sys.byteorder != "little":
            data = data.reshape(-1, t.element_size()).flip(1).reshape(-1)
        torch.frombuffer(raw, dtype=torch.uint8).copy_(data)
    return raw


def load_mnc_weights(model, path):
    """Load mnc-named safetensors (\`mnc weights export\`, save_mnc_weights) into
    model. Every tensor of model.state_dict() must be in the file with its
    shape, and every tensor in the file must be one of the model's; otherwise
    a ValueError names the first that is not. The file's bn_epsilon, when it
    has one, becomes every batch-norm's eps, as mnc reads the file. Returns
    the model."""
    tensors, metadata = read_safetensors(path)
    state = model.state_dict()
    for name, target in state.items():
        if name not in tensors:
            raise ValueError(f"{path}: no tensor '{name}' (of shape {list(target.shape)}), which the model has")
        if list(tensors[name].shape) != list(target.shape):
            raise ValueError(f"{path}: tensor '{name}' has shape {list(tensors[name].shape)}, the model's has {list(target.shape)}")
    for name in tensors:
        if name not in state:
            raise ValueError(f"{path}: tensor '{name}' is not one of the model's")
    with torch.no_grad():
        for name, target in state.items():
            target.copy_(tensors[name])
    if "bn_epsilon" in metadata:
        for module in model.modules():
            if isinstance(module, BatchNorm):
                module.eps = float(metadata["bn_epsilon"])
    return model


def save_mnc_weights(model, path):
    """Write model's tensors as float32 safetensors under mnc's names, with the
    metadata \`mnc weights export\` writes (format "mnc", network, alpha,
    resolution, layouts, bn_epsilon), so that \`mnc compile NET.mn --weights
    PATH\` reads them back, folds batch-norm and certifies the fold."""
    epsilons = sorted({module.eps for module in model.modules() if isinstance(module, BatchNorm)})
    if len(epsilons) > 1:
        raise ValueError(f"batch-norm layers with different eps ({epsilons}) cannot share one file")
    metadata = dict(MNC_METADATA)
    if epsilons:
        metadata["bn_epsilon"] = repr(float(epsilons[0]))
    write_safetensors(path, model.state_dict(), metadata)
`;
