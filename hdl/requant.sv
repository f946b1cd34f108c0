// Requantization unit: int32 accumulator + bias -> uint8 code, bit-exact with
// model.reference.requantize (QNNPACK "fp32" requantization done in integers).
//
//   x   = acc + bias                        (33-bit exact)
//   x'  = |x| rounded to 24 significant bits, half to even   (int32 -> float32)
//   p   = x' * m24, |p| rounded to 24 significant bits, RNE  (float32 multiply)
//   y   = p / 2^shift rounded half to even                    (float32 -> int32)
//   out = clamp(y + zp_out, relu ? zp_out : 0, 255)
//
// Pipeline: Latency = 13 register stages, one result per cycle sustained; a beat accepted
// on clock edge t shows up on out_o/out_valid_o after edge t+13 if the output is not
// stalled. Users must not rely on the latency (valid/ready). Stall-all flow control: every
// stage holds while out_valid_o && !out_ready_i, so in_ready_o = !stall. in_ready_o
// depends combinationally on out_ready_i (ready-to-ready only); out_valid_o is a flop.
// tag_i travels with its beat to tag_o. Each stage does at most about one wide add or
// one barrel shift, so that the unit does not limit the clock:
//
//   1  x = acc + bias
//   2  |x|, sign
//   3  leading one of |x|: ex = bits to drop (0..9); se = shift - ex
//   4  |x| >> ex with round and sticky bits (the RNE increment is left to stage 5)
//   5  mx = rounded |x| (an increment), into the multipliers' input registers
//   6  four partial products of mx (25 bits) x m24 (24 bits), each a registered
//      MULT18X18D-sized mul_reg (18/7 x 18/6 bits)
//   7  the two middle partial products added; the outer two are disjoint (concatenated)
//   8  p = mx * m24 (48 bits)
//   9  leading one of p: ep = bits to drop (0..24)
//   10 p >> ep with round and sticky bits; net right shift r = se - ep (-33..63)
//   11 pm = rounded p (an increment)
//   12 pm >> r with round and sticky bits (or pm << -r), saturated at 256 (one barrel shift)
//   13 zp_out +- (|y| + round up) in one add with carry in, clamp
module requant #(
  parameter int unsigned TagWidth = 1
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

  // Flow control: the whole pipeline advances unless the output beat is stuck.
  logic en;
  assign en         = !(out_valid_o && !out_ready_i);
  assign in_ready_o = en;

  // ------------------------------------------------------------ valid bits, side band
  // valid_q[k] is stage k+1's valid. Beat data a stage does not transform (zero point,
  // ReLU, tag, and m24/shift until used) shift along in the side-band registers below.
  logic [Stages-1:0] valid_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_q <= '0;
    end else if (en) begin
      valid_q <= {valid_q[Stages-2:0], in_valid_i};
    end
  end

  typedef struct packed {
    logic                neg;    // x < 0 (known from stage 2 on)
    logic [7:0]          zp;
    logic                relu;
    logic [TagWidth-1:0] tag;
  } side_t;

  side_t              side_in;
  side_t [Stages-1:0] side_q;  // packed: a shift register, not a memory

  assign side_in = '{neg: 1'b0, zp: zp_out_i, relu: relu_i, tag: tag_i};

  // ------------------------------------------------------------ stage 1: x = acc + bias
  logic [32:0] s1_x_q;
  logic [23:0] s1_m24_q;
  logic [5:0]  s1_shift_q;

  // ------------------------------------------------------------ stage 2: |x|
  logic [32:0] s2_abs_q;
  logic [23:0] s2_m24_q;
  logic [5:0]  s2_shift_q;
  logic        s1_neg;
  assign s1_neg = s1_x_q[32];

  // ------------------------------------------------------------ stage 3: leading one of |x|
  logic [3:0] s2_ex;  // excess = max(0, bit_length(|x|) - 24): 0..9

  always_comb begin
    s2_ex = 4'd0;
    for (int k = 24; k <= 32; k++) begin
      if (s2_abs_q[k]) s2_ex = 4'(k - 23);
    end
  end

  logic [32:0]       s3_abs_q;
  logic [3:0]        s3_ex_q;
  logic signed [6:0] s3_se_q;   // shift - ex: -9..63
  logic [23:0]       s3_m24_q;

  // ------------------------------------------------------------ stage 4: |x| >> ex
  // One shift of |x| with 9 fraction bits: the kept bits, the round bit (first dropped
  // bit) and the sticky bit (any dropped bit below it). ex = 0 drops nothing.
  logic [32:0] s3_t;   // the kept bits fit 24: the bits above are zero
  logic [23:0] s3_q;   // < 2^24 by the choice of ex
  logic        s3_up;  // round half to even: round && (sticky || odd)

  always_comb begin
    s3_t  = 33'({s3_abs_q, 9'd0} >> s3_ex_q);
    s3_q  = s3_t[32:9];
    s3_up = s3_t[8] && ((|s3_t[7:0]) || s3_t[9]);
  end

  logic [23:0]       s4_q_q;
  logic              s4_up_q;
  logic signed [6:0] s4_se_q;
  logic [23:0]       s4_m24_q;

  // ------------------------------------------------------------ stages 5, 6: mx * m24
  // mx <= 2^24 (25 bits) = {a_hi 7, a_lo 18}, m24 = {b_hi 6, b_lo 18}: four partial
  // products of at most 18 x 18 bits, one MULT18X18D each with its registers.
  logic [24:0] s4_mx;
  assign s4_mx = 25'(s4_q_q) + 25'(s4_up_q);

  logic [35:0] pp_ll;  // a_lo * b_lo
  logic [24:0] pp_hl;  // a_hi * b_lo
  logic [23:0] pp_lh;  // a_lo * b_hi
  logic [12:0] pp_hh;  // a_hi * b_hi

  mul_reg #(.AWidth(18), .BWidth(18), .ASigned(1'b0), .BSigned(1'b0)) u_mul_ll (
    .clk_i, .en_i (en), .a_i (s4_mx[17:0]),  .b_i (s4_m24_q[17:0]),  .p_o (pp_ll)
  );
  mul_reg #(.AWidth(7), .BWidth(18), .ASigned(1'b0), .BSigned(1'b0)) u_mul_hl (
    .clk_i, .en_i (en), .a_i (s4_mx[24:18]), .b_i (s4_m24_q[17:0]),  .p_o (pp_hl)
  );
  mul_reg #(.AWidth(18), .BWidth(6), .ASigned(1'b0), .BSigned(1'b0)) u_mul_lh (
    .clk_i, .en_i (en), .a_i (s4_mx[17:0]),  .b_i (s4_m24_q[23:18]), .p_o (pp_lh)
  );
  mul_reg #(.AWidth(7), .BWidth(6), .ASigned(1'b0), .BSigned(1'b0)) u_mul_hh (
    .clk_i, .en_i (en), .a_i (s4_mx[24:18]), .b_i (s4_m24_q[23:18]), .p_o (pp_hh)
  );

  // se waits beside the multipliers (stages 5, 6).
  logic signed [6:0] s5_se_q, s6_se_q;

  // ------------------------------------------------------------ stages 7, 8: the sum
  logic [25:0]       s7_mid_q;   // pp_hl + pp_lh < 2^26
  logic [47:0]       s7_out_q;   // pp_hh << 36 | pp_ll (p < 2^48, so 48 bits hold it)
  logic signed [6:0] s7_se_q;
  logic [47:0]       s8_p_q;     // mx * m24
  logic signed [6:0] s8_se_q;

  // ------------------------------------------------------------ stage 9: leading one of p
  logic [4:0] s8_ep;  // bits dropped when rounding p to 24 bits: 0..24

  always_comb begin
    s8_ep = 5'd0;
    for (int k = 24; k <= 47; k++) begin
      if (s8_p_q[k]) s8_ep = 5'(k - 23);
    end
  end

  logic [47:0]       s9_p_q;
  logic [4:0]        s9_ep_q;
  logic signed [6:0] s9_se_q;

  // ------------------------------------------------------------ stage 10: p >> ep
  // Rounding to 24 significant bits commutes with the 2^ex scale of x.
  logic [47:0]       s9_t;   // as s3_t
  logic [23:0]       s9_q;
  logic              s9_up;
  logic signed [7:0] s9_r;    // se - ep: -33..63

  always_comb begin
    s9_t  = 48'({s9_p_q, 24'd0} >> s9_ep_q);
    s9_q  = s9_t[47:24];
    s9_up = s9_t[23] && ((|s9_t[22:0]) || s9_t[24]);
    s9_r  = 8'(s9_se_q) - $signed({3'b000, s9_ep_q});
  end

  logic [23:0]       s10_q_q;
  logic              s10_up_q;
  logic signed [7:0] s10_r_q;

  // ------------------------------------------------------------ stage 11: pm = rounded p
  logic [24:0]       s11_pm_q;   // <= 2^24
  logic signed [7:0] s11_r_q;

  // ------------------------------------------------------------ stage 12: y = pm / 2^r
  // r > 0: pm >> r with round and sticky bits (26 fraction bits: r > 26 leaves only
  // zeros, and pm < 2^25 makes those round to 0 as well). r <= 0 is only reachable with
  // |y| >= 2^23 (or y = 0): a left shift that saturates. |y| >= 256 clamps like 256.
  logic [50:0] s11_t;
  logic [57:0] s11_l;
  logic [7:0]  s11_ylo;
  logic        s11_big, s11_up;

  always_comb begin
    s11_t = '0;
    s11_l = '0;
    if (s11_r_q <= 0) begin
      s11_l   = 58'(s11_pm_q) << 6'(-s11_r_q);
      s11_big = |s11_l[57:8];
      s11_ylo = s11_l[7:0];
      s11_up  = 1'b0;
    end else begin
      s11_t   = {s11_pm_q, 26'd0} >> 6'(s11_r_q);
      s11_big = |s11_t[50:34];
      s11_ylo = s11_t[33:26];
      s11_up  = s11_t[25] && ((|s11_t[24:0]) || s11_t[26]);
    end
  end

  logic [7:0] s12_ylo_q;
  logic       s12_big_q, s12_up_q;

  // ------------------------------------------------------------ stage 13: + zp_out, clamp
  // |y| = big ? 256 : ylo + up (<= 256). zp -+ |y| as one add with a carry in, the
  // 9-bit magnitude m = big ? 256 : ylo and u = !big && up:
  //   zp + |y| = zp + m + u,   zp - |y| = zp + (~m - 512) + !u   (~m - 512 = {11, ~m})
  // The lower clamp: y + zp < zp (ReLU) exactly when y < 0; y + zp < 0 from the sign.
  logic [8:0]         s12_mag;
  logic               s12_cin;
  logic signed [10:0] s12_sum;
  logic [7:0]         s12_out;

  always_comb begin
    s12_mag  = s12_big_q ? 9'd256 : {1'b0, s12_ylo_q};
    s12_cin  = (!s12_big_q && s12_up_q) ^ side_q[11].neg;
    s12_sum  = $signed({3'b000, side_q[11].zp})
             + $signed({{2{side_q[11].neg}}, s12_mag ^ {9{side_q[11].neg}}})
             + $signed({10'd0, s12_cin});
    if (side_q[11].relu && side_q[11].neg && (s12_big_q || s12_ylo_q != 8'd0 || s12_up_q)) begin
      s12_out = side_q[11].zp;
    end else if (s12_sum < 0) begin
      s12_out = 8'd0;
    end else if (s12_sum > 11'sd255) begin
      s12_out = 8'd255;
    end else begin
      s12_out = s12_sum[7:0];
    end
  end

  logic [7:0] s13_out_q;

  // ------------------------------------------------------------ registers
  // Only the valid bits need a reset; data flops just follow the enable.
  always_ff @(posedge clk_i) begin
    if (en) begin
      side_q[0]   <= side_in;
      for (int k = 1; k < Stages; k++) begin
        side_q[k] <= side_q[k - 1];
      end
      side_q[1].neg <= s1_neg;

      s1_x_q      <= {acc_i[31], acc_i} + {bias_i[31], bias_i};
      s1_m24_q    <= m24_i;
      s1_shift_q  <= shift_i;

      // |-2^32| = 2^32 still fits in 33 unsigned bits.
      s2_abs_q    <= s1_neg ? (~s1_x_q + 33'd1) : s1_x_q;
      s2_m24_q    <= s1_m24_q;
      s2_shift_q  <= s1_shift_q;

      s3_abs_q    <= s2_abs_q;
      s3_ex_q     <= s2_ex;
      s3_se_q     <= $signed({1'b0, s2_shift_q}) - $signed({3'b000, s2_ex});
      s3_m24_q    <= s2_m24_q;

      s4_q_q      <= s3_q;
      s4_up_q     <= s3_up;
      s4_se_q     <= s3_se_q;
      s4_m24_q    <= s3_m24_q;

      s5_se_q     <= s4_se_q;
      s6_se_q     <= s5_se_q;

      s7_mid_q    <= 26'(pp_hl) + 26'(pp_lh);
      s7_out_q    <= {pp_hh[11:0], pp_ll};
      s7_se_q     <= s6_se_q;

      s8_p_q      <= s7_out_q + {4'd0, s7_mid_q, 18'd0};
      s8_se_q     <= s7_se_q;

      s9_p_q      <= s8_p_q;
      s9_ep_q     <= s8_ep;
      s9_se_q     <= s8_se_q;

      s10_q_q     <= s9_q;
      s10_up_q    <= s9_up;
      s10_r_q     <= s9_r;

      s11_pm_q    <= 25'(s10_q_q) + 25'(s10_up_q);
      s11_r_q     <= s10_r_q;

      s12_ylo_q   <= s11_ylo;
      s12_big_q   <= s11_big;
      s12_up_q    <= s11_up;

      s13_out_q   <= s12_out;
    end
  end

  // pp_hh <= 64 * 63 < 2^12 (mx <= 2^24).
  logic unused_pp_hh;
  assign unused_pp_hh = pp_hh[12];

  assign out_valid_o = valid_q[Stages-1];
  assign out_o       = s13_out_q;
  assign tag_o       = side_q[Stages-1].tag;

endmodule
