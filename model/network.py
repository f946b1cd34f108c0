"""FashionLeNet as the hardware implements it: the one description of the network, its
parameter memories, the AXI4-Lite register map and the default folding.

Everything else reads this module: ``model.net`` (the PyTorch layers), ``model.reference``
(shapes, ReLU, padding), ``model.params`` (files and AXI4-Lite writes), the test benches,
the scripts, and the SystemVerilog package ``hdl/fashion_lenet_pkg.sv`` that the RTL
imports, which ``python -m model.svpkg`` generates from it (``make pkg``).

Network (LeCun et al. 1998, LeNet-5, adapted to 28x28 Fashion-MNIST): a 28x28 uint8 image,
conv1 1->6 3x3 padding 1, ReLU, 2x2 max pool; conv2 6->16 3x3 valid, ReLU, 2x2 max pool;
fc1 576->120, ReLU; fc2 120->84, ReLU; fc3 84->10; the class is the first maximum of fc3.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# ------------------------------------------------------------------ the network

IMAGE_SIZE = 28                   # input height = width, pixels
PIXELS = IMAGE_SIZE * IMAGE_SIZE  # input beats per image on s_axis
NUM_CLASSES = 10
KERNEL = 3                        # conv kernel height = width
POOL = 2                          # max-pool window = stride


@dataclass(frozen=True)
class Layer:
    """One conv or linear layer with its fused ReLU (and, for conv, its 2x2 max pool).

    Attributes:
        name: PyTorch module name (``conv1`` .. ``fc3``).
        kind: ``"conv"`` (3x3, stride 1, followed by a 2x2 max pool) or ``"fc"``.
        in_channels: ifmap channels (conv) or input features (fc).
        out_channels: ofmap channels (conv) or output features (fc).
        in_size: ifmap height = width before padding (conv); 1 for fc.
        padding: zero padding on each side (conv; the zero point is padded, ``model.reference``).
        relu: ReLU fused into the requantize step.
    """
    name: str
    kind: str
    in_channels: int
    out_channels: int
    in_size: int = 1
    padding: int = 0
    relu: bool = True

    @property
    def code(self) -> int:
        """The layer's code: index in :data:`LAYERS` (SystemVerilog ``layer_e``)."""
        return LAYER_NAMES.index(self.name)

    @property
    def out_size(self) -> int:
        """ofmap height = width before the pool (conv: stride 1); 1 for fc."""
        return self.in_size + 2 * self.padding - KERNEL + 1 if self.kind == "conv" else 1

    @property
    def pooled_size(self) -> int:
        """ofmap height = width after the 2x2 max pool (conv); 1 for fc."""
        return self.out_size // POOL if self.kind == "conv" else 1

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """PyTorch weight shape: ``(Cout, Cin, 3, 3)`` or ``(Out, In)``."""
        if self.kind == "conv":
            return (self.out_channels, self.in_channels, KERNEL, KERNEL)
        return (self.out_channels, self.in_channels)

    @property
    def fan_in(self) -> int:
        """Products summed per output (MACs per output element)."""
        return self.in_channels * (KERNEL * KERNEL if self.kind == "conv" else 1)

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image."""
        return self.out_channels * self.fan_in * self.out_size * self.out_size

    def region_size(self, region: str) -> int:
        """Words of one parameter memory (see :data:`REGIONS`)."""
        return {"weight": self.out_channels * self.fan_in, "bias": self.out_channels,
                "requant": self.out_channels, "zp": 1}[region]


LAYERS: tuple[Layer, ...] = (
    Layer("conv1", "conv", 1, 6, in_size=IMAGE_SIZE, padding=1),
    Layer("conv2", "conv", 6, 16, in_size=14, padding=0),
    Layer("fc1", "fc", 16 * 6 * 6, 120),
    Layer("fc2", "fc", 120, 84),
    Layer("fc3", "fc", 84, NUM_CLASSES, relu=False),
)
LAYER_NAMES = tuple(layer.name for layer in LAYERS)
LAYER = {layer.name: layer for layer in LAYERS}
RELU = {layer.name: layer.relu for layer in LAYERS}
PADDING = {layer.name: layer.padding for layer in LAYERS}
# Stage outputs of ``model.reference.forward`` (and of the RTL's inter-stage streams)
OUTPUTS = ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3")
RESULT_BEATS = 1 + NUM_CLASSES    # per image on m_axis: class, then fc3[0..9]
MACS_PER_IMAGE = sum(layer.macs for layer in LAYERS)

# ------------------------------------------------------------------ parameter memories


@dataclass(frozen=True)
class Region:
    """One kind of parameter memory of every layer.

    Attributes:
        name: ``weight``, ``bias``, ``requant`` or ``zp``.
        code: the blocks' ``param_sel_i`` code (SystemVerilog ``param_kind_e``).
        offset: byte offset from the layer's AXI4-Lite base.
        digits: hex digits per line of its ``.mem`` file.
        fields: the ``model.reference.LayerParams`` fields it holds.
    """
    name: str
    code: int
    offset: int
    digits: int
    fields: tuple[str, ...]


REGIONS: tuple[Region, ...] = (
    Region("weight", 0, 0x00000, 2, ("weight",)),       # int8, two's complement
    Region("bias", 1, 0x80000, 8, ("bias_q",)),         # int32
    Region("requant", 2, 0xC0000, 8, ("m24", "shift")),  # shift << 24 | m24
    Region("zp", 3, 0xF0000, 4, ("zp_in", "zp_out")),   # one word: zp_out << 8 | zp_in
)
REGION_NAMES = tuple(r.name for r in REGIONS)
REGION = {r.name: r for r in REGIONS}
REQUANT_SHIFT_LSB = 24  # requant word: shift in [31:24], m24 in [23:0]
ZP_OUT_LSB = 8          # zp word: zp_out in [15:8], zp_in in [7:0]

# Parameter-write latency of the blocks' parameter ports (conv3x3_relu_pool, fc_engine): a word
# sampled on the port at a rising clock edge is in its memory at the latest PARAM_WRITE_LATENCY
# edges later (the memory takes it at that edge; some take it earlier). Writes are pipelined
# through registers (one word per cycle, no backpressure) so that their decode is not on the
# clock's critical path. The RTL checks its pipelines against it (ParamWriteLatency). Through
# AXI4-Lite the same count holds from the write's B handshake edge (axil_regs raises bvalid and
# the port's write enable in the same cycle, so the port samples the word at the first edge
# bvalid is high, at the latest the handshake edge).
PARAM_WRITE_LATENCY = 9  # conv2 at one input channel per cycle (7 at the default folding)

# ------------------------------------------------------------------ register map

ADDR_WIDTH = 24          # AXI4-Lite byte address bits
DATA_WIDTH = 32
LAYER_SPACING = 1 << 20  # layer L's parameters start at (L + 1) << 20
ID_VALUE = 0x464C4E54    # "FLNT"


def layer_base(name: str) -> int:
    """AXI4-Lite byte address of layer ``name``'s parameter block: ``(code + 1) << 20``."""
    return (LAYER[name].code + 1) * LAYER_SPACING


def param_address(layer: str, region: str, index: int) -> int:
    """AXI4-Lite byte address of element ``index`` of one parameter memory (one word each)."""
    return layer_base(layer) + REGION[region].offset + 4 * index


LAYER_BASE = {name: layer_base(name) for name in LAYER_NAMES}
REGION_OFFSET = {r.name: r.offset for r in REGIONS}


@dataclass(frozen=True)
class Csr:
    """One control/status register.

    Attributes:
        name: register name (upper case).
        offset: byte address.
        access: ``RO`` or ``RW``.
        doc: what it holds.
        fields: bit fields ``{name: (lsb, width)}``; empty for a whole-word value.
    """
    name: str
    offset: int
    access: str
    doc: str
    fields: tuple[tuple[str, int, int], ...] = ()


CSRS: tuple[Csr, ...] = (
    Csr("ID", 0x000, "RO", 'constant 0x464C4E54 ("FLNT")'),
    Csr("CTRL", 0x004, "RW", "scratch, reserved for future controls (byte strobes honoured)"),
    Csr("STATUS", 0x008, "RO", "busy: an image is in flight; frame_error: FRAME_ERRORS != 0",
        (("busy", 0, 1), ("frame_error", 1, 1))),
    Csr("IMAGES_DONE", 0x00C, "RO", "results sent (last result beat accepted), wraps at 2^32"),
    Csr("LAST_CYCLES", 0x010, "RO", "cycles from first pixel accepted to last result beat, last image"),
    Csr("CYCLE_COUNT", 0x014, "RO", "free-running cycle counter"),
    Csr("FRAME_ERRORS", 0x018, "RW", "malformed input frames (tlast early or missing) since reset "
        "or the last write; any full-word write clears it"),
)
CSR = {c.name: c.offset for c in CSRS}
CSR_BY_NAME = {c.name: c for c in CSRS}

# ------------------------------------------------------------------ folding


# requant's latency through an empty unit (hdl/requant.sv checks its stage count against
# fashion_lenet_pkg::RequantLatency, generated from this)
REQUANT_LATENCY = 13

# fc_engine's drain per layer: the lane and feeder registers (9: the lanes' input registers,
# fc_sequencer's S1, SA, SB, SM, S2, the hold copy, the feeder, the RQ stage in front of
# requant) and requant's latency,
# which a layer's last sums pass before the next layer may start (the fc activation buffers
# always accept, so requant's output FIFO stays empty)
FC_LAYER_DRAIN = 9 + REQUANT_LATENCY

# fc_engine: a group's last step issues at least Lanes + FC_HOLD_WAIT + T cycles after the
# previous group's (its sums reach the hold registers after the lane pipeline: the lanes'
# input registers, S1, SA, SB, SM, S2, T adder tree stages, ACC; then they are fed to requant
# one lane per cycle)
FC_HOLD_WAIT = 7


def fc_tree_stages(inputs_par: int) -> int:
    """fc_lane's adder tree stages T for InputsPar = ``inputs_par`` products a step (two
    levels of the tree per stage): ceil(log2(inputs_par) / 2)."""
    return ((inputs_par - 1).bit_length() + 1) // 2


def fc_layer_cycles(out_features: int, steps: int, lanes: int, inputs_par: int) -> tuple[int, int]:
    """(MAC cycles, all cycles) of one fc layer of one image in fc_engine, back to back:
    ceil(out_features / lanes) groups of ``steps`` cycles, a group after the first at least
    lanes + FC_HOLD_WAIT + T cycles; then the last group's sums pass the one requant unit
    serially (one cycle each) and FC_LAYER_DRAIN + T cycles of pipeline drain."""
    tree = fc_tree_stages(inputs_par)
    groups = -(-out_features // lanes)
    mac = steps + (groups - 1) * max(steps, lanes + FC_HOLD_WAIT + tree)
    return mac, mac + (out_features - (groups - 1) * lanes) + FC_LAYER_DRAIN + tree


# Folding field -> the top's HDL parameter (fashion_lenet_accel, defaults Default<Name> in the
# generated package)
FOLDING_PARAMETERS = {
    "lanes": "Lanes",
    "fc_inputs_par": "FcInputsPar",
    "conv1_out_par": "Conv1OutChannelsPar",
    "conv2_par": "Conv2InChannelsPar",
    "conv2_out_par": "Conv2OutChannelsPar",
    "conv1_use_dsp": "Conv1UseDsp",
    "conv2_use_dsp": "Conv2UseDsp",
}


@dataclass(frozen=True)
class Folding:
    """How many multipliers each stage has (the top's HDL parameters, FOLDING_PARAMETERS).

    Attributes:
        lanes: fc_engine MAC lanes (``Lanes``): output neurons computed in parallel.
        conv2_par: conv2 input channels per cycle (``Conv2InChannelsPar``), a divisor of 6.
        fc_inputs_par: fc inputs per lane and cycle (``FcInputsPar``), a divisor of 16 (the
            pool2 channels one input word holds).
        conv1_out_par: conv1 output channels per cycle (``Conv1OutChannelsPar``), a divisor of 6.
        conv2_out_par: conv2 output channels per cycle (``Conv2OutChannelsPar``), a divisor of 16.
        conv1_use_dsp: 1: conv1's MACs are DSP multipliers (MULT18X18D on ECP5); 0: multipliers
            in logic (``Conv1UseDsp``), for the products beyond the device's DSP blocks.
        conv2_use_dsp: the same for conv2 (``Conv2UseDsp``).
    """
    lanes: int
    conv2_par: int
    fc_inputs_par: int = 1
    conv1_out_par: int = 1
    conv2_out_par: int = 1
    conv1_use_dsp: int = 1
    conv2_use_dsp: int = 1

    def __post_init__(self):
        conv1, conv2 = LAYERS[0], LAYERS[1]
        checks = (("lanes", self.lanes >= 1),
                  ("fc_inputs_par", self.fc_inputs_par >= 1 and conv2.out_channels % self.fc_inputs_par == 0),
                  ("conv1_out_par", self.conv1_out_par >= 1 and conv1.out_channels % self.conv1_out_par == 0),
                  ("conv2_par", self.conv2_par >= 1 and conv2.in_channels % self.conv2_par == 0),
                  ("conv2_out_par", self.conv2_out_par >= 1 and conv2.out_channels % self.conv2_out_par == 0),
                  ("conv1_use_dsp", self.conv1_use_dsp in (0, 1)),
                  ("conv2_use_dsp", self.conv2_use_dsp in (0, 1)))
        for name, ok in checks:
            if not ok:
                raise ValueError(f"Folding.{name} = {getattr(self, name)} is not a valid folding")

    @property
    def tag(self) -> str:
        """A short name (pytest ids, build folders, reports): ``lanes18-par3`` when only
        ``Lanes`` and ``Conv2InChannelsPar`` differ from 1, else e.g.
        ``lanes10x8-c1o6-par6x2-lut2`` (``-lut<n>``: conv<n>'s MACs in logic)."""
        tag = f"lanes{self.lanes}" + (f"x{self.fc_inputs_par}" if self.fc_inputs_par > 1 else "")
        tag += f"-c1o{self.conv1_out_par}" if self.conv1_out_par > 1 else ""
        tag += f"-par{self.conv2_par}" + (f"x{self.conv2_out_par}" if self.conv2_out_par > 1 else "")
        lut = "".join(str(n) for n, dsp in ((1, self.conv1_use_dsp), (2, self.conv2_use_dsp)) if not dsp)
        return tag + (f"-lut{lut}" if lut else "")

    def overridden(self, **values: int | None) -> "Folding":
        """This folding with the given fields replaced, those given as None kept (a tool's
        unset command-line options). Raises ValueError for an invalid result."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def hdl_parameters(self) -> dict[str, int]:
        """The top's parameters, e.g. ``{"Lanes": 18, "FcInputsPar": 1, ...}`` (every one)."""
        return {hdl: getattr(self, field) for field, hdl in FOLDING_PARAMETERS.items()}

    def stage_multipliers(self) -> dict[str, int]:
        """MAC multipliers instantiated per stage (``conv1``, ``conv2``, ``fc``): conv 9 per
        (parallel input channel, parallel output channel), fc one per (lane, parallel input).
        Requant's own partial products are not MACs."""
        conv1 = LAYERS[0]
        return {"conv1": KERNEL * KERNEL * conv1.in_channels * self.conv1_out_par,
                "conv2": KERNEL * KERNEL * self.conv2_par * self.conv2_out_par,
                "fc": self.lanes * self.fc_inputs_par}

    def multipliers(self) -> int:
        """MAC multipliers instantiated, all stages (:meth:`stage_multipliers`)."""
        return sum(self.stage_multipliers().values())

    def stage_cycles(self) -> dict[str, int]:
        """Cycles per image of each stage running alone, back to back, from the architecture.

        conv: a window takes N = (OutChannels / OutChannelsPar) * (InChannels / InChannelsPar)
        cycles, the padded pixels between windows enter meanwhile (conv3x3_relu_pool's
        header). fc: per layer ceil(Out / Lanes) groups of
        Steps = ceil(In / InputsPar) cycles (fc1: 36 * 16 / InputsPar), :func:`fc_layer_cycles`;
        one more cycle per image to restart (the
        top's test measures it: 10,209 at Lanes 8, exactly this)."""
        conv1, conv2 = LAYERS[0], LAYERS[1]
        cycles = {}
        for layer, par, out_par in ((conv1, conv1.in_channels, self.conv1_out_par),
                                    (conv2, self.conv2_par, self.conv2_out_par)):
            padded = layer.in_size + 2 * layer.padding
            n, size = (layer.out_channels // out_par) * (layer.in_channels // par), layer.out_size
            # windows issue max(N, k + 1) cycles apart, k the padded pixels between them (0 in a
            # row, 2 between rows, 2 * padded + 2 between frames): they enter while the MACs work
            cycles[layer.name] = size * (size - 1) * n + (size - 1) * max(n, 3) + max(n, 2 * padded + 3)
        fc = 1
        for layer in LAYERS[2:]:
            steps = -(-layer.in_channels // self.fc_inputs_par)
            fc += fc_layer_cycles(layer.out_channels, steps, self.lanes, self.fc_inputs_par)[1]
        cycles["fc"] = fc
        return cycles


# the top's HDL defaults: 242 multipliers (conv1 54 and fc 80 in DSP blocks, conv2 108 in logic),
# 1,175 cycles per image (conv2-bound)
DEFAULT_FOLDING = Folding(lanes=10, conv2_par=6, fc_inputs_par=8, conv1_out_par=6, conv2_out_par=2,
                          conv2_use_dsp=0)
SMALL_FOLDING = Folding(lanes=18, conv2_par=3)  # one output channel per cycle: 54 multipliers, 4,820 cycles
FOLDINGS = {"default": DEFAULT_FOLDING, "small": SMALL_FOLDING}  # by name, for the tools' --folding
