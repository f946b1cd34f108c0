// Requantization unit: int32 accumulator + bias -> uint8 code, bit-exact with
// model.reference.requantize (QNNPACK "fp32" requantization done in integers).
//
//   x   = acc + bias                        (33-bit exact)
//   x'  = |x| rounded to 24 significant bits, half to even   (int32 -> float32)
//   p   = x' * m24, |p| rounded to 24 significant bits, RNE  (float32 multiply)
//   y   = p / 2^shift rounded half to even                    (float32 -> int32)
//   out = clamp(y + zp_out, relu ? zp_out : 0, 255)
//
// As in a float unit, |x| is normalized before the multiply: mx = RNE24(|x|) * 2^(8k + f - 9)
// lies in [2^23, 2^24] (x != 0), so p_n = mx * m24 lies in [2^46, 2^48) and its rounding to
// 24 bits drops 23 or 24 bits (p_n[47] says which), giving pm in [2^23, 2^24]. Then
// y = pm / 2^r with r = shift - 32 + 8k + f - p_n[47]; only r = 16..24 needs a shift (9
// positions): r <= 15 gives |y| >= 256 (clamped like 256), r >= 25 gives y = 0.
//
// Latency: RequantLatency (fashion_lenet_pkg, from model.network.REQUANT_LATENCY) = Stages
// = 13: a beat accepted on clock edge t is on out_o/out_valid_o after edge t+12 when the
// output FIFO is empty, one result per cycle sustained. Users must not rely on it
// (valid/ready); the fc cycle model (FC_LAYER_DRAIN) does. tag_i travels with its beat.
//
// Flow control: the pipeline free-runs (no clock enables; the valid bits just shift) and
// stage 12 writes into a Depth-entry output FIFO (LUT RAM, asynchronous read), from which
// out_o/tag_o are read at the read pointer and out_valid_o is a flop. A credit counter holds
// the beats accepted and not yet taken (in flight + in the FIFO); in_ready_o is a flop set
// while that count is below Depth after the edge, so every accepted beat has a FIFO entry
// waiting and in_ready_o has no combinational path from out_ready_i. With out_ready_i high a
// beat is counted for Stages cycles: Depth >= Stages + 1 keeps one beat per cycle.
//
// Each stage does at most about one wide add or one 4-9:1 mux level (AND-OR with one-hot
// selects), so that the unit does not limit the clock:
//
//   1  x = acc + bias
//   2  |x|, sign; coarse shift k (0..3 bytes) from the leading byte of x ^ sign (|x| - 1 for
//      x < 0: the same byte, or one lower with |x| a power of two, which still fits)
//   3  c = |x| << 8k (33 bits, the leading one in c[32:24]); sh = shift - 48 + 8k
//   4  fine shift f (0..8): the leading one of c[32:24], one-hot; sticky prefixes of c[7:0]
//   5  T = (c << f)[32:9] with round and sticky bits: up (mx = T + up, RNE), in plain
//      registers; sh += f
//   5b the multipliers' input registers
//   6  four partial products of T (24 bits) x m24 (24 bits), each a registered
//      MULT18X18D-sized mul_reg (18/6 x 18/6 bits)
//   7  lo = the outer partial products (disjoint) + up * m24; mid = the middle two
//   8  p_n = lo + mid << 18; OR of p_n[17:0] (= lo[17:0])
//   9  T2 = p_n >> (23 + p_n[47]) with round and sticky bits: up2; s = r - 16 = sh - p_n[47]
//   10 pm = T2 + up2 (an increment); |pm[13:0]; s decoded one-hot (0..8) and as a
//      thermometer, r <= 15 (big)
//   11 |y| = pm >> r with round and sticky bits (9:1 AND-OR), 256 if big; 0 if ReLU and y < 0
//   12 zp_out +- (|y| + round up) in one add with carry in, clamp; into the output FIFO
//
// The prefix ORs of sticky bits are carries of an add with a constant (a short carry chain),
// not LUT trees, which synthesis tends to map as long LUT chains.
module requant import fashion_lenet_pkg::*; #(
  parameter int unsigned TagWidth = 1,
  parameter int unsigned Depth    = 16  // output FIFO entries, a power of two >= Stages + 1
) (
  input  logic                clk_i,
  input  logic                rst_ni,
  input  logic                in_valid_i,
  output logic                in_ready_o,
  input  logic signed [31:0]  acc_i,
  input  logic signed [31:0]  bias_i,
  input  logic [23:0]         m24_i,     // 2^23 <= m24 < 2^24
  input  logic [5:0]          shift_i,   // 24..62 from the exporter
  input  logic [7:0]          zp_out_i,
  input  logic                relu_i,
  input  logic [TagWidth-1:0] tag_i,
  output logic                out_valid_o,
  input  logic                out_ready_i,
  output logic [7:0]          out_o,
  output logic [TagWidth-1:0] tag_o
);

  localparam int unsigned Stages = 13;
  localparam int unsigned PtrW   = $clog2(Depth);
  localparam int unsigned CntW   = $clog2(Depth + 1);

  // The fc cycle model counts these stages (model.network.REQUANT_LATENCY).
  if (Stages != RequantLatency) begin : g_err_latency
    $fatal(1, "requant: %0d stages, fashion_lenet_pkg::RequantLatency = %0d", Stages,
           RequantLatency);
  end
  if (Depth < Stages + 1 || (Depth & (Depth - 1)) != 0) begin : g_err_depth
    $fatal(1, "requant: Depth = %0d not a power of two >= Stages + 1 = %0d", Depth,
           Stages + 1);
  end

  // ------------------------------------------------------------ valid bits, side band
  // valid_q[k] is stage k+1's valid (stages 1..11; stage 12 is the FIFO write). Beat data a
  // stage does not transform (zero point, ReLU, tag, and m24/shift until used) shift along.
  logic              in_fire;
  logic [Stages-2:0] valid_q;

  assign in_fire = in_valid_i && in_ready_o;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_q <= '0;
    end else begin
      valid_q <= {valid_q[Stages-3:0], in_fire};
    end
  end

  typedef struct packed {
    logic                neg;    // x < 0 (known from stage 2 on)
    logic [7:0]          zp;
    logic                relu;
    logic [TagWidth-1:0] tag;
  } side_t;

  side_t              side_in;
  side_t [Stages-2:0] side_q;  // packed: a shift register, not a memory

  assign side_in = '{neg: 1'b0, zp: zp_out_i, relu: relu_i, tag: tag_i};

  // ------------------------------------------------------------ stage 1: x = acc + bias
  logic [32:0] s1_x_q;
  logic [23:0] s1_m24_q;
  logic [5:0]  s1_shift_q;

  // ------------------------------------------------------------ stage 2: |x|, coarse shift
  // k from x ^ sign, in parallel with the negation: |x| - 1 has its leading one in the
  // same byte as |x| unless |x| = 2^(8j); then |x| << 8k lands on bit 32, still in the window.
  logic        s1_neg;
  logic [32:8] s1_v;  // the bytes k looks at
  logic [1:0]  s1_k;

  always_comb begin
    s1_neg = s1_x_q[32];
    s1_v   = s1_x_q[32:8] ^ {25{s1_neg}};
    if (|s1_v[32:24]) begin
      s1_k = 2'd0;
    end else if (|s1_v[23:16]) begin
      s1_k = 2'd1;
    end else if (|s1_v[15:8]) begin
      s1_k = 2'd2;
    end else begin
      s1_k = 2'd3;
    end
  end

  logic [32:0] s2_abs_q;
  logic [1:0]  s2_k_q;
  logic [23:0] s2_m24_q;
  logic [5:0]  s2_shift_q;

  // ------------------------------------------------------------ stage 3: c = |x| << 8k
  // The bits shifted out above bit 32 are zero by the choice of k. sh collects the net
  // right shift: r - 16 = shift - 48 + 8k + f - p_n[47].
  logic [32:0]       s2_c;
  logic signed [6:0] s2_sh;   // -24..38 (with f: -24..46)

  always_comb begin
    s2_c  = 33'(s2_abs_q << {s2_k_q, 3'b000});
    s2_sh = $signed({1'b0, s2_shift_q}) - 7'sd48 + $signed({2'b00, s2_k_q, 3'b000});
  end

  logic [32:0]       s3_c_q;
  logic signed [6:0] s3_sh_q;
  logic [23:0]       s3_m24_q;

  // ------------------------------------------------------------ stage 4: fine shift f
  // fo[f]: the leading one of c is bit 32 - f (all zero for x = 0, which then stays 0).
  // pre[j] = |c[j:0]: the sticky bit of a fine shift by f = 7 - j. Every prefix OR is a
  // carry of c[7:0] + 0xFF (carry into bit j+1 = (c[j:0] != 0)): one short carry chain
  // instead of a LUT tree that synthesis would chain.
  logic [8:0] s3_fo;
  logic [8:1] s3_carry;  // (c[7:0] + 0xFF)[8:1]
  logic       s3_presum_lsb;
  logic [7:0] s3_pre;

  always_comb begin
    logic seen;
    seen = 1'b0;
    for (int f = 0; f <= 8; f++) begin
      s3_fo[f] = s3_c_q[32-f] && !seen;
      seen     = seen || s3_c_q[32-f];
    end
    {s3_carry, s3_presum_lsb} = 9'(s3_c_q[7:0]) + 9'h0FF;
    s3_pre = {s3_carry[8], ~(s3_carry[7:1] ^ s3_c_q[7:1])};
  end

  logic [32:0]       s4_c_q;
  logic [8:0]        s4_fo_q;
  logic [7:0]        s4_pre_q;
  logic signed [6:0] s4_sh_q;
  logic [23:0]       s4_m24_q;

  // ------------------------------------------------------------ stage 5: T = (c << f)[32:9]
  // The kept 24 bits, the round bit (first dropped) and the sticky bit (any dropped bit
  // below it) as AND-ORs over the one-hot f. f = 8 drops nothing (the leading one in c[24]).
  logic [23:0]       s4_t;
  logic              s4_round, s4_sticky, s4_up;
  logic [3:0]        s4_f;
  logic signed [6:0] s4_sh;

  // Round half to even, round && (sticky || odd), is one AND-OR term per f as well; mx =
  // T + up is folded into the product as up * m24 (stage 7).
  always_comb begin
    s4_t  = '0;
    s4_up = 1'b0;
    s4_f  = '0;
    for (int f = 0; f <= 8; f++) begin
      s4_round  = s4_c_q[8-f];
      s4_sticky = (f < 8) ? s4_pre_q[(f < 8) ? 7 - f : 0] : 1'b0;
      s4_t      = s4_t | ({24{s4_fo_q[f]}} & s4_c_q[32-f -: 24]);
      s4_up     = s4_up | (s4_fo_q[f] && s4_round && (s4_sticky || s4_c_q[9-f]));
      s4_f      = s4_f | ({4{s4_fo_q[f]}} & 4'(f));
    end
    s4_sh = s4_sh_q + $signed({3'b000, s4_f});
  end

  // ------------------------------------------------------------ stages 5b, 6: T * m24
  // T < 2^24 = {a_hi 6, a_lo 18}, m24 = {b_hi 6, b_lo 18}: four partial products of at
  // most 18 x 18 bits (the free-running pipeline keeps them always enabled). a_lo * b_lo is a
  // MULT18X18D with its registers; the three with a 6-bit operand are multipliers in logic
  // (6 rows each), so that a requant unit takes one DSP block and the conv layers' units
  // (one per parallel output channel) leave the DSP blocks to the fc lanes.
  logic [35:0] pp_ll;  // a_lo * b_lo
  logic [23:0] pp_hl;  // a_hi * b_lo
  logic [23:0] pp_lh;  // a_lo * b_hi
  logic [11:0] pp_hh;  // a_hi * b_hi

  // T and m24 are registered in logic first (stage 5): the DSP block sits at a fixed site,
  // often far from the unit's logic, and its input register then takes a whole cycle of
  // routing.
  logic [23:0] s5_t_q;

  // up, m24 and sh wait beside the multipliers (stages 5, 5b, 6).
  logic              s5_up_q, s5b_up_q, s6_up_q;
  logic [23:0]       s5_m24_q, s5b_m24_q, s6_m24_q;
  logic signed [6:0] s5_sh_q, s5b_sh_q, s6_sh_q;

  mul_reg #(.AWidth(18), .BWidth(18), .ASigned(1'b0), .BSigned(1'b0)) u_mul_ll (
    .clk_i, .en_i (1'b1), .a_i (s5_t_q[17:0]),  .b_i (s5_m24_q[17:0]),  .p_o (pp_ll)
  );
  mul_reg #(.AWidth(18), .BWidth(6), .ASigned(1'b0), .BSigned(1'b0), .UseDsp(1'b0)) u_mul_hl (
    .clk_i, .en_i (1'b1), .a_i (s5_m24_q[17:0]), .b_i (s5_t_q[23:18]), .p_o (pp_hl)
  );
  mul_reg #(.AWidth(18), .BWidth(6), .ASigned(1'b0), .BSigned(1'b0), .UseDsp(1'b0)) u_mul_lh (
    .clk_i, .en_i (1'b1), .a_i (s5_t_q[17:0]),  .b_i (s5_m24_q[23:18]), .p_o (pp_lh)
  );
  mul_reg #(.AWidth(6), .BWidth(6), .ASigned(1'b0), .BSigned(1'b0), .UseDsp(1'b0)) u_mul_hh (
    .clk_i, .en_i (1'b1), .a_i (s5_t_q[23:18]), .b_i (s5_m24_q[23:18]), .p_o (pp_hh)
  );

  // ------------------------------------------------------------ stages 7, 8: the sum
  // p_n = (T + up) * m24 in [2^46, 2^48) (0 for x = 0).
  logic [47:0]       s7_lo_q;    // pp_hh << 36 | pp_ll, + up * m24
  logic [24:0]       s7_mid_q;   // pp_hl + pp_lh
  logic signed [6:0] s7_sh_q;
  logic [47:18]      s8_p_q;     // p_n[47:18]: p_n[17:0] = lo[17:0] only enter the sticky bit
  logic              s8_or_q;    // |p_n[17:0]
  logic signed [6:0] s8_sh_q;

  // ------------------------------------------------------------ stage 9: round p_n to 24 bits
  // Rounding to 24 significant bits commutes with the 2^(8k+f-9) scale of x.
  logic              s8_hi;      // p_n >= 2^47: 24 bits to drop, else 23
  logic [23:0]       s8_t;
  logic              s8_round, s8_sticky, s8_up;

  always_comb begin
    s8_hi     = s8_p_q[47];
    s8_t      = s8_hi ? s8_p_q[47:24] : s8_p_q[46:23];
    s8_round  = s8_hi ? s8_p_q[23] : s8_p_q[22];
    s8_sticky = s8_or_q || (|s8_p_q[21:18]) || (s8_hi && s8_p_q[22]);
    s8_up     = s8_round && (s8_sticky || s8_t[0]);
  end

  logic [23:0]       s9_t_q;
  logic              s9_up_q;
  logic              s9_nz_q;    // x != 0 (p_n >= 2^46)
  logic signed [6:0] s9_s_q;     // r - 16: -25..46

  // ------------------------------------------------------------ stage 10: pm = T2 + up2
  // The final sticky bit |pm[r-2:0], r = 16 + s, is |pm[13:0] (lo) or one of pm[14..22]
  // under a thermometer of s (th[m]: s >= m, s in 0..8). lo from T2 without the increment
  // (T2 + 1 has zero low bits exactly where T2's are all ones); both ORs are carries of
  // T2[13:0] + constant, so no LUT trees.
  logic        s9_any, s9_all;
  logic [13:0] s9_any_rest, s9_all_rest;
  logic        s9_lo;
  logic [8:0]  s9_soh, s9_th;

  always_comb begin
    {s9_any, s9_any_rest} = 15'(s9_t_q[13:0]) + 15'h3FFF;  // carry out: |T2[13:0]
    {s9_all, s9_all_rest} = 15'(s9_t_q[13:0]) + 15'h0001;  // carry out: &T2[13:0]
    s9_lo = s9_up_q ? !s9_all : s9_any;
    for (int j = 0; j <= 8; j++) begin
      s9_soh[j] = s9_nz_q && (s9_s_q == 7'(j));
      s9_th[j]  = s9_nz_q && (s9_s_q >= 7'(j)) && (s9_s_q <= 7'sd8);
    end
  end

  logic [24:0] s10_pm_q;   // [2^23, 2^24], or 0
  logic        s10_lo_q;   // |pm[13:0]
  logic [8:0]  s10_soh_q;  // r = 16 + j, one-hot; all zero for r >= 25 (y = 0), r <= 15, x = 0
  logic [8:0]  s10_th_q;
  logic        s10_big_q;  // r <= 15 and x != 0: |y| >= 256

  // ------------------------------------------------------------ stage 11: |y| = pm / 2^r
  // pm >> r <= 2^24 >> 16 = 256 (9 bits); a 256 carries no round bit (pm = 2^24). With ReLU
  // a negative y gives zp_out whatever its size: |y| is forced to 0 here (the sum is zp_out).
  logic [32:0] s10_pmx;
  logic [8:0]  s10_y;
  logic        s10_round, s10_sticky, s10_relu_neg;

  always_comb begin
    s10_pmx    = 33'(s10_pm_q);
    s10_y      = '0;
    s10_round  = 1'b0;
    s10_sticky = s10_th_q[0] && s10_lo_q;
    for (int j = 0; j <= 8; j++) begin
      s10_y      = s10_y | ({9{s10_soh_q[j]}} & s10_pmx[j+24 -: 9]);
      s10_round  = s10_round | (s10_soh_q[j] && s10_pmx[j+15]);
      s10_sticky = s10_sticky | (s10_th_q[j] && s10_pmx[j+14]);
    end
    s10_relu_neg = side_q[Stages-3].relu && side_q[Stages-3].neg;
  end

  logic [8:0] s11_mag_q;     // |y| without the round up: <= 256, 256 when clamped
  logic       s11_round_q;   // 0 when mag is 256
  logic       s11_sticky_q;

  // ------------------------------------------------------------ stage 12: + zp_out, clamp
  // zp -+ |y| as one add with a carry in, m = mag, u = round && (sticky || m odd) (the
  // round half to even, one LUT in front of the carry in):
  //   zp + |y| = zp + m + u,   zp - |y| = zp + (~m - 512) + !u   (~m - 512 = {11, ~m})
  // The sum lies in 0..511 for y >= 0 and -256..255 for y < 0, so its low 9 bits are enough:
  // bit 8 says that it is clamped (to 255 or 0, by the sign). The ReLU clamp was applied in
  // stage 11.
  side_t      s11_side;
  logic       s11_cin;
  logic [8:0] s11_sum;
  logic [7:0] s11_out;

  always_comb begin
    s11_side = side_q[Stages-2];
    s11_cin  = (s11_round_q && (s11_sticky_q || s11_mag_q[0])) ^ s11_side.neg;
    s11_sum  = {1'b0, s11_side.zp} + (s11_mag_q ^ {9{s11_side.neg}}) + 9'(s11_cin);
    s11_out  = s11_sum[8] ? {8{!s11_side.neg}} : s11_sum[7:0];
  end

  // The adds' low sum bits (only their carries matter) and ReLU after stage 11.
  logic unused_bits;
  assign unused_bits = ^{s3_presum_lsb, s9_any_rest, s9_all_rest, s11_side.relu};

  // ------------------------------------------------------------ pipeline registers
  // Data flops have no reset and no enable: the valid bits say which are real.
  always_ff @(posedge clk_i) begin
    side_q[0]   <= side_in;
    for (int k = 1; k < Stages - 1; k++) begin
      side_q[k] <= side_q[k - 1];
    end
    side_q[1].neg <= s1_neg;

    s1_x_q      <= {acc_i[31], acc_i} + {bias_i[31], bias_i};
    s1_m24_q    <= m24_i;
    s1_shift_q  <= shift_i;

    // |-2^32| = 2^32 still fits in 33 unsigned bits.
    s2_abs_q    <= s1_neg ? (~s1_x_q + 33'd1) : s1_x_q;
    s2_k_q      <= s1_k;
    s2_m24_q    <= s1_m24_q;
    s2_shift_q  <= s1_shift_q;

    s3_c_q      <= s2_c;
    s3_sh_q     <= s2_sh;
    s3_m24_q    <= s2_m24_q;

    s4_c_q      <= s3_c_q;
    s4_fo_q     <= s3_fo;
    s4_pre_q    <= s3_pre;
    s4_sh_q     <= s3_sh_q;
    s4_m24_q    <= s3_m24_q;

    s5_t_q      <= s4_t;
    s5_up_q     <= s4_up;
    s5_m24_q    <= s4_m24_q;
    s5_sh_q     <= s4_sh;
    s5b_up_q    <= s5_up_q;
    s5b_m24_q   <= s5_m24_q;
    s5b_sh_q    <= s5_sh_q;
    s6_up_q     <= s5b_up_q;
    s6_m24_q    <= s5b_m24_q;
    s6_sh_q     <= s5b_sh_q;

    s7_lo_q     <= {pp_hh, pp_ll} + {24'd0, s6_up_q ? s6_m24_q : 24'd0};
    s7_mid_q    <= 25'(pp_hl) + 25'(pp_lh);
    s7_sh_q     <= s6_sh_q;

    s8_p_q      <= s7_lo_q[47:18] + {5'd0, s7_mid_q};
    s8_or_q     <= |s7_lo_q[17:0];
    s8_sh_q     <= s7_sh_q;

    s9_t_q      <= s8_t;
    s9_up_q     <= s8_up;
    s9_nz_q     <= s8_p_q[47] || s8_p_q[46];
    s9_s_q      <= s8_sh_q - $signed({6'd0, s8_hi});

    s10_pm_q    <= 25'(s9_t_q) + 25'(s9_up_q);
    s10_lo_q    <= s9_lo;
    s10_soh_q   <= s9_soh;
    s10_th_q    <= s9_th;
    s10_big_q   <= s9_nz_q && (s9_s_q < 0);

    s11_mag_q   <= s10_relu_neg ? 9'd0 : {s10_big_q || s10_y[8], s10_y[7:0]};
    s11_round_q  <= s10_round && !s10_relu_neg;
    s11_sticky_q <= s10_sticky;
  end

  // ------------------------------------------------------------ output FIFO, credits
  // wr: stage 12 writes its result; rd: the consumer takes the head. cnt_q counts the beats
  // accepted and not yet taken, so an accepted beat never finds the FIFO full.
  logic                       wr, rd;
  logic [PtrW-1:0]            wptr_q, rptr_q;
  logic [CntW-1:0]            occ_q, occ_d, cnt_q, cnt_d;
  logic                       in_ready_q, out_valid_q;
  logic [TagWidth+7:0]        fifo_mem [Depth];

  assign wr    = valid_q[Stages-2];
  assign rd    = out_valid_q && out_ready_i;
  assign occ_d = occ_q + CntW'(wr) - CntW'(rd);
  assign cnt_d = cnt_q + CntW'(in_fire) - CntW'(rd);

  // occ_d != 0 and cnt_d < Depth from the old counts, without waiting for the adds
  logic in_ready_d, out_valid_d;
  always_comb begin
    out_valid_d = wr || (occ_q > CntW'(1)) || (occ_q == CntW'(1) && !rd);
    in_ready_d  = (cnt_q < CntW'(Depth - 1)) || (cnt_q == CntW'(Depth - 1) && !(in_fire && !rd))
               || (cnt_q == CntW'(Depth) && rd);
  end

  always_ff @(posedge clk_i) begin
    if (wr) begin
      fifo_mem[wptr_q] <= {s11_side.tag, s11_out};
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      wptr_q      <= '0;
      rptr_q      <= '0;
      occ_q       <= '0;
      cnt_q       <= '0;
      in_ready_q  <= 1'b1;
      out_valid_q <= 1'b0;
    end else begin
      if (wr) wptr_q <= wptr_q + PtrW'(1);
      if (rd) rptr_q <= rptr_q + PtrW'(1);
      occ_q       <= occ_d;
      cnt_q       <= cnt_d;
      in_ready_q  <= in_ready_d;
      out_valid_q <= out_valid_d;
    end
  end

  assign in_ready_o            = in_ready_q;
  assign out_valid_o           = out_valid_q;
  assign {tag_o, out_o}        = fifo_mem[rptr_q];

endmodule
