"""Checks of the top's register interface and control: CSRs, the address map's bounds, AXI4-Lite
handshakes, malformed input frames, reset mid-image (run by ``tb/test_fashion_lenet_accel_csr.py``
and the mutation run, ``tb/test_mutants.py``). Each takes a :class:`tb.bench.top.TB`, resets the
DUT first and raises AssertionError naming what differed."""
from __future__ import annotations

from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiResp, AxiStreamFrame

from model.network import (ADDR_WIDTH, CSR, CSRS, DEFAULT_FOLDING, ID_VALUE, LAYER, LAYER_NAMES, LAYER_SPACING, LAYERS,
                           PIXELS, REGION_NAMES, REGIONS, param_address)
from model.reference import forward
from model.settings import env_int
from tb.bench.checks import check_frames, compare_results, fail_report
from tb.bench.paramsets import load_test_images
from tb.bench.monitors import wait_handshakes
from tb.bench.stream import pause_generator, set_pause, stream_rng
from tb.bench.top import FRAME_TIMEOUT_US, TB, Check, hdl_folding

CSR_END = 4 * len(CSRS)                                        # first byte past the CSR block (0x01C)
CONV1_WEIGHT_END = param_address("conv1", "weight", LAYER["conv1"].region_size("weight"))  # past its 54
UNMAPPED = (CSR_END, 0x0FFFFC, 0x600000, 0xFFFFFC)             # CSR page end, layer slot 6, the top word


async def check_csr(tb: TB) -> None:
    """ID/CTRL/STATUS read back; unmapped and read-only writes get SLVERR and change nothing."""
    await tb.reset()
    assert await tb.read(CSR["ID"]) == (ID_VALUE, AxiResp.OKAY), "ID register"
    assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), "STATUS not idle after reset"
    assert await tb.read(CSR["IMAGES_DONE"]) == (0, AxiResp.OKAY), "IMAGES_DONE not 0 after reset"
    c0, _ = await tb.read(CSR["CYCLE_COUNT"])
    c1, _ = await tb.read(CSR["CYCLE_COUNT"])
    assert c1 > c0, f"CYCLE_COUNT not counting ({c0} -> {c1})"
    assert await tb.write(CSR["CTRL"], 0xA5A5_0F0F) == AxiResp.OKAY
    assert (await tb.read(CSR["CTRL"]))[0] == 0xA5A5_0F0F, "CTRL scratch"
    for addr in (CSR["ID"], CSR["IMAGES_DONE"], *UNMAPPED, CONV1_WEIGHT_END,
                 param_address("fc3", "zp", 1)):                   # zp has one word
        resp = await tb.write(addr, 0xFFFF_FFFF)
        assert resp == AxiResp.SLVERR, f"write to unmapped/read-only 0x{addr:06x}: bresp {resp}, expected SLVERR"
    assert (await tb.read(CSR["ID"]))[0] == ID_VALUE, "ID changed by a refused write"
    assert (await tb.read(CSR["IMAGES_DONE"]))[0] == 0, "IMAGES_DONE changed by a refused write"
    assert await tb.read(0x600000) == (0, AxiResp.SLVERR), "unmapped read must answer SLVERR"
    await tb.write(CSR["CTRL"], 0)


def unmapped_words() -> list[int]:
    """Byte addresses just outside every mapped range: each region's first word past its
    element count and every power-of-two index above it, the CSR block's word 7 and its
    aliases (address bits 5..19), and the layer slots 6..15."""
    slot_bits = LAYER_SPACING.bit_length() - 1                   # 20
    addrs = ([CSR_END] + [1 << b for b in range((CSR_END - 1).bit_length(), slot_bits)]
             + [n << slot_bits for n in range(len(LAYERS) + 1, 1 << (ADDR_WIDTH - slot_bits))])
    # words each region's address window holds (up to the next region or layer slot)
    ends = [r.offset for r in REGIONS[1:]] + [LAYER_SPACING]
    region_words = {r.name: (end - r.offset) // 4 for r, end in zip(REGIONS, ends)}
    for layer in LAYERS:
        for region in REGION_NAMES:
            count, top_word = layer.region_size(region), region_words[region]
            indices = {count, count + 1, top_word - 1} | {1 << k for k in range(top_word.bit_length())
                                                          if count <= 1 << k < top_word}
            addrs += [param_address(layer.name, region, i) for i in sorted(indices)]
    return addrs


async def check_csr_bounds(tb: TB) -> None:
    """Every word just outside a mapped range (:func:`unmapped_words`) answers SLVERR to a
    write and to a read (data 0), and the refused writes change nothing: the CSRs keep their
    values and an image afterwards is bit-exact."""
    await tb.reset()
    addrs = unmapped_words()
    await tb.write(CSR["CTRL"], 0x5A5A_A5A5)
    for addr in addrs:
        resp = await tb.write(addr, 0xFFFF_FFFF)
        assert resp == AxiResp.SLVERR, f"write to unmapped 0x{addr:06x}: bresp {resp}, expected SLVERR"
        got = await tb.read(addr)
        assert got == (0, AxiResp.SLVERR), f"read of unmapped 0x{addr:06x}: {got}, expected (0, SLVERR)"
    assert (await tb.read(CSR["CTRL"]))[0] == 0x5A5A_A5A5, "CTRL changed by refused writes"
    assert (await tb.read(CSR["FRAME_ERRORS"]))[0] == 0, "FRAME_ERRORS changed by refused writes"
    await tb.write(CSR["CTRL"], 0)
    offset = env_int("OFFSET", 0) + 7
    images, _, _ = load_test_images(offset, 1)
    frames, _ = await tb.run_images(images)
    errors = check_frames(tb.params, images, frames, offset)
    assert not errors, f"after {len(addrs)} refused writes: " + fail_report(errors)


async def check_csr_handshakes(tb: TB) -> None:
    """AXI4-Lite under every channel stalled (AW, W, B, AR, R in turn and together, fixed 3-of-4
    and seeded random patterns): CTRL takes walking ones, zeros and random words and each
    byte lane alone (wstrb); CYCLE_COUNT counts from reset, one per clock; FRAME_ERRORS
    refuses a partial write (SLVERR) and keeps its value; reads of unmapped words answer
    SLVERR with data 0, reads of parameter words OKAY with data 0."""
    await tb.reset()
    dut = tb.dut
    # CYCLE_COUNT: 0 at reset release, then one per clock (the read itself takes a few cycles)
    c0, _ = await tb.read(CSR["CYCLE_COUNT"])
    assert c0 < 16, f"CYCLE_COUNT {c0} just after reset, expected a count from 0"
    await ClockCycles(dut.clk_i, 1000)
    c1, _ = await tb.read(CSR["CYCLE_COUNT"])
    assert 1000 <= c1 - c0 <= 1016, f"CYCLE_COUNT advanced {c1 - c0} in 1000 cycles + one read"
    rng = stream_rng(tb.log)
    channels = {"aw": tb.axil.write_if.aw_channel, "w": tb.axil.write_if.w_channel,
                "b": tb.axil.write_if.b_channel, "ar": tb.axil.read_if.ar_channel,
                "r": tb.axil.read_if.r_channel}
    words = [1 << k for k in range(32)] + [0, 0xFFFF_FFFF] + [rng.getrandbits(32) for _ in range(4)]
    for kind in ("none", "fixed3of4", "random"):
        for stalled in (["aw"], ["w"], ["b"], ["ar"], ["r"], list(channels)) if kind != "none" else [[]]:
            for name, ch in channels.items():
                set_pause(ch, pause_generator(kind, rng) if name in stalled else None)
            tag = f"pattern {kind}, stalled {'+'.join(stalled) or 'none'}"
            tb.log.info("AXI4-Lite CSR checks, %s", tag)
            for value in (words if kind == "none" else rng.sample(words, 6)):
                assert await tb.write(CSR["CTRL"], value) == AxiResp.OKAY, f"{tag}: CTRL write"
                got, resp = await tb.read(CSR["CTRL"])
                assert (got, resp) == (value, AxiResp.OKAY), \
                    f"{tag}: CTRL wrote 0x{value:08x} read 0x{got:08x} ({resp})"
            for lane in range(4):  # one byte lane: wstrb = 1 << lane, the others keep their value
                before = (await tb.read(CSR["CTRL"]))[0]
                byte = rng.getrandbits(8)
                resp = await tb.write(CSR["CTRL"] + lane, byte, nbytes=1)
                assert resp == AxiResp.OKAY, f"{tag}: CTRL byte {lane} write {resp}"
                expected = (before & ~(0xFF << 8 * lane)) | (byte << 8 * lane)
                got = (await tb.read(CSR["CTRL"]))[0]
                assert got == expected, f"{tag}: CTRL byte lane {lane}: 0x{got:08x}, expected 0x{expected:08x}"
            errors, _ = await tb.read(CSR["FRAME_ERRORS"])
            resp = await tb.write(CSR["FRAME_ERRORS"], 0, nbytes=2)
            assert resp == AxiResp.SLVERR, f"{tag}: partial FRAME_ERRORS write answered {resp}"
            assert (await tb.read(CSR["FRAME_ERRORS"]))[0] == errors, f"{tag}: FRAME_ERRORS changed"
            for addr in (CSR_END, CSR_END + 4, *UNMAPPED[1:], CONV1_WEIGHT_END):
                assert await tb.read(addr) == (0, AxiResp.SLVERR), f"{tag}: read of unmapped 0x{addr:06x}"
            for layer in LAYER_NAMES:
                for region in REGION_NAMES:
                    addr = param_address(layer, region, 0)
                    assert await tb.read(addr) == (0, AxiResp.OKAY), \
                        f"{tag}: read of {layer} {region} word 0 (0x{addr:06x}), expected OKAY with 0"
            assert (await tb.read(CSR["ID"]))[0] == ID_VALUE, f"{tag}: ID"
    for ch in channels.values():
        set_pause(ch, None)
    await tb.write(CSR["CTRL"], 0)


# Malformed frames (README, "Malformed input frames"): (name, pixels sent, errors it counts).
# An over-long frame is cut at 784 beats (no tlast there: malformed) and its tail becomes a
# short frame (tlast early: malformed), so it counts twice.
MALFORMED = (
    (f"tlast before pixel {PIXELS} (500 pixels)", 500, 1),
    ("tlast in the middle of row 0 (14 pixels)", LAYER["conv1"].in_size // 2, 1),
    (f"no tlast at pixel {PIXELS} (tlast at pixel 800)", 800, 2),
    ("tlast on the first pixel", 1, 1),
)


async def check_malformed_frames(tb: TB) -> None:
    """Frames whose tlast is early, in the middle of a row or missing at pixel 784 are dropped:
    no result, FRAME_ERRORS counts them, STATUS bit 1 is set; each is followed by a good real
    image whose result is bit-exact. Only a full write to FRAME_ERRORS clears it and STATUS bit 1:
    CTRL, parameter, unmapped and partial FRAME_ERRORS writes leave it alone."""
    await tb.reset()
    offset = env_int("OFFSET", 0)
    images, _, _ = load_test_images(offset, len(MALFORMED) + 1)
    ref = forward(tb.params, images)
    pixels = images.flatten(1)
    errors_expected = 0
    for k, (name, count, errors) in enumerate(MALFORMED):
        junk = pixels[k].repeat(2)[:count]  # real pixels, the wrong number of them
        await tb.source.send(AxiStreamFrame(bytes(junk.tolist())))
        n = k + 1
        frames, _ = await tb.run_images(images[n:n + 1], read_csrs=False)
        sub = {key: ref[key][n:n + 1] for key in ("class", "fc3")}
        msgs = compare_results(sub, frames, offset + n)
        assert not msgs, fail_report([f"after the malformed frame '{name}': {m}" for m in msgs])
        await ClockCycles(tb.dut.clk_i, 50)
        assert tb.sink.empty(), f"'{name}': result beats beyond the good image's (the malformed frame's?)"
        errors_expected += errors
        got = await tb.read(CSR["FRAME_ERRORS"])
        assert got == (errors_expected, AxiResp.OKAY), \
            f"'{name}': FRAME_ERRORS {got[0]} ({got[1]}), expected {errors_expected}"
        assert await tb.read(CSR["STATUS"]) == (0b10, AxiResp.OKAY), f"'{name}': STATUS frame-error bit"
        assert await tb.read(CSR["IMAGES_DONE"]) == (n, AxiResp.OKAY), \
            f"'{name}': IMAGES_DONE must count only the {n} good images"
        tb.log.info("malformed frame '%s': dropped, %d frame errors, image %d bit-exact after it",
                    name, errors_expected, offset + n)
    bias0 = int(tb.params["conv1"].bias_q[0]) & 0xFFFF_FFFF  # rewritten with its own value
    ctrl, _ = await tb.read(CSR["CTRL"])
    others = (("CTRL", CSR["CTRL"], ctrl, 4, AxiResp.OKAY),
              ("conv1 bias 0", param_address("conv1", "bias", 0), bias0, 4, AxiResp.OKAY),
              (f"unmapped 0x{CSR_END:06X}", CSR_END, 0, 4, AxiResp.SLVERR),
              ("partial FRAME_ERRORS", CSR["FRAME_ERRORS"], 0, 2, AxiResp.SLVERR))
    for what, addr, value, nbytes, resp in others:
        assert await tb.write(addr, value, nbytes) == resp, f"{what} write: expected {resp}"
        got = await tb.read(CSR["FRAME_ERRORS"])
        assert got == (errors_expected, AxiResp.OKAY), \
            f"FRAME_ERRORS {got[0]} after a {what} write, expected {errors_expected} (only a full write clears it)"
    assert await tb.write(CSR["FRAME_ERRORS"], 0) == AxiResp.OKAY
    assert await tb.read(CSR["FRAME_ERRORS"]) == (0, AxiResp.OKAY), "FRAME_ERRORS not cleared"
    assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), "STATUS frame-error bit not cleared"


_POOL1, _POOL2 = LAYER["conv1"].pooled_size ** 2, LAYER["conv2"].pooled_size ** 2  # 196, 36 beats


def _mid_fc1() -> int:
    """Cycles after the last pool2 beat that land in the middle of fc1 at this build's folding:
    half of fc1's issue cycles, ceil(Out / Lanes) groups of ceil(In / InputsPar) steps (the
    top's defaults when the build has no folding parameters)."""
    folding = hdl_folding() or DEFAULT_FOLDING
    fc1 = LAYER["fc1"]
    groups = -(-fc1.out_channels // folding.lanes)
    return groups * -(-fc1.in_channels // folding.fc_inputs_par) // 2


# Where check_reset_mid_image resets: (name, stream, handshakes to wait for, cycles after them).
RESET_POINTS = (
    ("mid-image", "s_axis", PIXELS // 2, 0),             # half of the pixels accepted
    ("mid-convolution", "pool1_axis", _POOL1 // 2, 0),   # conv2 has half of its input, conv1 is still running
    ("mid-FC", "pool2_axis", _POOL2, None),              # the whole pool2 ofmap in fc_engine, halfway through fc1
)


async def check_reset_mid_image(tb: TB) -> None:
    """Reset asserted mid-image, mid-convolution and mid-FC (RESET_POINTS): afterwards no result
    of the aborted image appears, STATUS.busy and IMAGES_DONE read 0, and the next real image
    is bit-exact against the reference (the parameter memories keep their contents)."""
    await tb.reset()
    dut = tb.dut
    offset = env_int("OFFSET", 0)
    images, _, _ = load_test_images(offset, len(RESET_POINTS) + 1)
    ref = forward(tb.params, images)
    quiet_cycles = 25_000  # longer than one image's latency (~15,300 cycles)
    for k, (name, stream, count, after) in enumerate(RESET_POINTS):
        await tb.source.send(AxiStreamFrame(bytes(images[0].flatten().tolist())))
        await with_timeout(wait_handshakes(dut.clk_i, dut, stream, count), FRAME_TIMEOUT_US, "us")
        await ClockCycles(dut.clk_i, _mid_fc1() if after is None else after)
        assert tb.sink.empty(), f"reset {name}: a result appeared before the reset point"
        assert (await tb.read(CSR["STATUS"]))[0] & 1, f"reset {name}: STATUS.busy clear mid-image"
        await tb.reset()
        tb.source.clear()  # the rest of the aborted frame, if the source still holds it
        await ClockCycles(dut.clk_i, quiet_cycles)
        assert tb.sink.empty(), f"reset {name}: result beats of the aborted image appeared after reset"
        assert await tb.read(CSR["STATUS"]) == (0, AxiResp.OKAY), f"reset {name}: STATUS.busy set after reset"
        assert await tb.read(CSR["IMAGES_DONE"]) == (0, AxiResp.OKAY), f"reset {name}: IMAGES_DONE not 0"
        n = k + 1
        frames, _ = await tb.run_images(images[n:n + 1], read_csrs=False)
        sub = {key: ref[key][n:n + 1] for key in ("class", "fc3")}
        errors = compare_results(sub, frames, offset + n)
        assert not errors, fail_report([f"after reset {name}: {e}" for e in errors])
        tb.log.info("reset %s: no stale output, image %d bit-exact afterwards", name, offset + n)


CHECKS = (
    Check("test_csr", check_csr),
    Check("test_csr_bounds", check_csr_bounds),
    Check("test_csr_handshakes", check_csr_handshakes),
    Check("test_malformed_frames", check_malformed_frames),
    Check("test_reset_mid_image", check_reset_mid_image),
)
