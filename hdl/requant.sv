// Requantization unit: int32 accumulator + bias -> uint8 code, bit-exact with
// model.reference.requantize (QNNPACK "fp32" requantization done in integers).
//
//   x   = acc + bias                        (33-bit exact)
//   x'  = |x| rounded to 24 significant bits, half to even   (int32 -> float32)
//   p   = x' * m24, |p| rounded to 24 significant bits, RNE  (float32 multiply)
//   y   = p / 2^shift rounded half to even                    (float32 -> int32)
//   out = clamp(y + zp_out, relu ? zp_out : 0, 255)
//
// Pipeline: 4 register stages, fixed latency 4 cycles (a beat accepted on clock
// edge t shows up on out_o/out_valid_o after edge t+4 if the output is not
// stalled), one result per cycle sustained. Stall-all flow control: every stage
// holds while out_valid_o && !out_ready_i, so in_ready_o = !stall. in_ready_o
// depends combinationally on out_ready_i (ready-to-ready only); out_valid_o is a
// flop. tag_i travels with its beat to tag_o.
//
//   stage 1: add, magnitude, leading-one detect, round |x| to 24 bits (mx, ex)
//   stage 2: p = mx * m24 (48 bits, maps to DSP blocks)
//   stage 3: round p to 24 bits (pm), net right shift r = shift - ep - ex
//   stage 4: y = RNE(pm / 2^r) (or pm << -r, saturating), + zp_out, clamp
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

  // a / 2^s rounded half to even (a >= 0); same definition as the reference's
  // _rne_shift_right. Callers use it on narrow values; synthesis trims the zeros.
  function automatic logic [63:0] rne_shr(input logic [63:0] a, input logic [5:0] s);
    logic [63:0] q, rem, half;
    logic        up;
    q    = a >> s;
    rem  = a - (q << s);
    half = (s == 6'd0) ? 64'd0 : (64'd1 << (s - 6'd1));
    up   = (s != 6'd0) && ((rem > half) || ((rem == half) && q[0]));
    return q + {63'd0, up};
  endfunction

  // Flow control: the whole pipeline advances unless the output beat is stuck.
  logic en;
  assign en         = !(out_valid_o && !out_ready_i);
  assign in_ready_o = en;

  // ------------------------------------------------------------ stage 1
  logic [32:0] s1_sum, s1_abs;
  logic        s1_neg;
  logic [3:0]  s1_exp;   // bits dropped when rounding |x| to 24 bits: 0..9
  logic [24:0] s1_mant;  // may round up to exactly 2^24

  always_comb begin
    // Sign-extend both operands: the 33-bit sum is exact.
    s1_sum = {acc_i[31], acc_i} + {bias_i[31], bias_i};
    s1_neg = s1_sum[32];
    // |-2^32| = 2^32 still fits in 33 unsigned bits.
    s1_abs = s1_neg ? (~s1_sum + 33'd1) : s1_sum;
    // excess = max(0, bit_length(|x|) - 24)
    s1_exp = 4'd0;
    for (int k = 24; k <= 32; k++) begin
      if (s1_abs[k]) s1_exp = 4'(k - 23);
    end
    s1_mant = 25'(rne_shr(64'(s1_abs), 6'(s1_exp)));
  end

  logic                s1_valid_q;
  logic [24:0]         s1_mant_q;
  logic [3:0]          s1_exp_q;
  logic                s1_neg_q;
  logic [23:0]         s1_m24_q;
  logic [5:0]          s1_shift_q;
  logic [7:0]          s1_zp_q;
  logic                s1_relu_q;
  logic [TagWidth-1:0] s1_tag_q;

  // ------------------------------------------------------------ stage 2
  logic                s2_valid_q;
  logic [47:0]         s2_prod_q;  // < 2^48: mant <= 2^24, m24 < 2^24
  logic [3:0]          s2_exp_q;
  logic                s2_neg_q;
  logic [5:0]          s2_shift_q;
  logic [7:0]          s2_zp_q;
  logic                s2_relu_q;
  logic [TagWidth-1:0] s2_tag_q;

  // ------------------------------------------------------------ stage 3
  logic [4:0]        s2_pexp;   // bits dropped when rounding p to 24 bits: 0..24
  logic [24:0]       s2_pmant;
  logic signed [7:0] s2_rshift; // shift - pexp - exp: -33..63

  always_comb begin
    s2_pexp = 5'd0;
    for (int k = 24; k <= 47; k++) begin
      if (s2_prod_q[k]) s2_pexp = 5'(k - 23);
    end
    // Rounding to 24 significant bits commutes with the 2^exp scale of x.
    s2_pmant  = 25'(rne_shr(64'(s2_prod_q), 6'(s2_pexp)));
    s2_rshift = $signed({2'b00, s2_shift_q}) - $signed({3'b000, s2_pexp})
              - $signed({4'b0000, s2_exp_q});
  end

  logic                s3_valid_q;
  logic [24:0]         s3_pmant_q;
  logic signed [7:0]   s3_rshift_q;
  logic                s3_neg_q;
  logic [7:0]          s3_zp_q;
  logic                s3_relu_q;
  logic [TagWidth-1:0] s3_tag_q;

  // ------------------------------------------------------------ stage 4
  logic [63:0]       s3_wide;
  logic [8:0]        s3_ymag;   // |y| saturated at 256: anything >= 256 clamps alike
  logic signed [9:0] s3_y;
  logic signed [10:0] s3_sum, s3_lo;
  logic [7:0]        s3_out;

  always_comb begin
    if (s3_rshift_q <= 0) begin
      // Only reachable with |y| >= 2^23 (or y = 0): a left shift that saturates.
      s3_wide = 64'(s3_pmant_q) << 6'(-s3_rshift_q);
    end else begin
      s3_wide = rne_shr(64'(s3_pmant_q), 6'(s3_rshift_q));
    end
    s3_ymag = (s3_wide >= 64'd256) ? 9'd256 : s3_wide[8:0];
    s3_y    = s3_neg_q ? -$signed({1'b0, s3_ymag}) : $signed({1'b0, s3_ymag});
    s3_sum  = 11'(s3_y) + $signed({3'b000, s3_zp_q});
    s3_lo   = s3_relu_q ? $signed({3'b000, s3_zp_q}) : 11'sd0;
    if (s3_sum < s3_lo) begin
      s3_out = s3_lo[7:0];
    end else if (s3_sum > 11'sd255) begin
      s3_out = 8'd255;
    end else begin
      s3_out = s3_sum[7:0];
    end
  end

  logic                s4_valid_q;
  logic [7:0]          s4_out_q;
  logic [TagWidth-1:0] s4_tag_q;

  // ------------------------------------------------------------ registers
  // Only the valid bits need a reset; data flops just follow the enable.
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      s1_valid_q <= 1'b0;
      s2_valid_q <= 1'b0;
      s3_valid_q <= 1'b0;
      s4_valid_q <= 1'b0;
    end else if (en) begin
      s1_valid_q <= in_valid_i;
      s2_valid_q <= s1_valid_q;
      s3_valid_q <= s2_valid_q;
      s4_valid_q <= s3_valid_q;
    end
  end

  always_ff @(posedge clk_i) begin
    if (en) begin
      s1_mant_q   <= s1_mant;
      s1_exp_q    <= s1_exp;
      s1_neg_q    <= s1_neg;
      s1_m24_q    <= m24_i;
      s1_shift_q  <= shift_i;
      s1_zp_q     <= zp_out_i;
      s1_relu_q   <= relu_i;
      s1_tag_q    <= tag_i;

      s2_prod_q   <= 48'(s1_mant_q) * 48'(s1_m24_q);
      s2_exp_q    <= s1_exp_q;
      s2_neg_q    <= s1_neg_q;
      s2_shift_q  <= s1_shift_q;
      s2_zp_q     <= s1_zp_q;
      s2_relu_q   <= s1_relu_q;
      s2_tag_q    <= s1_tag_q;

      s3_pmant_q  <= s2_pmant;
      s3_rshift_q <= s2_rshift;
      s3_neg_q    <= s2_neg_q;
      s3_zp_q     <= s2_zp_q;
      s3_relu_q   <= s2_relu_q;
      s3_tag_q    <= s2_tag_q;

      s4_out_q    <= s3_out;
      s4_tag_q    <= s3_tag_q;
    end
  end

  assign out_valid_o = s4_valid_q;
  assign out_o       = s4_out_q;
  assign tag_o       = s4_tag_q;

endmodule
