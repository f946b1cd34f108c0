// Functional-coverage monitor of one `requant` instance (test bench only, bound to the
// instance's internal signals through hierarchical references in regress_harness.sv).
//
// For every beat that leaves requant stage 3 (the clamp stage) it reports which coverage
// events the beat hit:
//   sat_low_o   y + zp_out below the low clamp (0, or zp_out with ReLU): clamped low
//   sat_high_o  y + zp_out above 255: clamped high
//   big_o       |acc + bias| >= 2^24: the int32 -> float32 step rounds (stage 1, s1_exp != 0)
//   tie_o       the final rounding p / 2^r (r > 0) is an exact tie (remainder = 2^(r-1))
//               and the result is not clamped, so round-half-to-even is visible at the output
// and the layer (fashion_lenet_pkg::layer_e) the beat entered with (`layer_i` sampled at the
// input; the fc engine changes layers while its last beats are still in the pipeline).
//
// The shadow registers advance with the requant's own enable (stall-all), so they stay
// aligned with its stages: beat in s1 -> sh2 at the next enabled edge -> sh3.
module requant_monitor import fashion_lenet_pkg::*; (
  input  logic              clk_i,
  input  logic              rst_ni,
  input  logic              en_i,         // requant `en`: every stage advances
  input  logic              in_valid_i,
  input  layer_e            layer_i,      // layer of the beat at the requant input
  input  logic [3:0]        s1_exp_i,     // requant s1_exp_q
  input  logic              s3_valid_i,   // requant s3_valid_q
  input  logic signed [10:0] s3_sum_i,    // requant s3_sum (y + zp_out)
  input  logic signed [10:0] s3_lo_i,     // requant s3_lo (low clamp)
  input  logic [24:0]       s3_pmant_i,   // requant s3_pmant_q
  input  logic signed [7:0] s3_rshift_i,  // requant s3_rshift_q
  output logic              fire_o,       // a beat leaves stage 3 this cycle
  output layer_e            layer_o,
  output logic              sat_low_o,
  output logic              sat_high_o,
  output logic              big_o,
  output logic              tie_o
);

  layer_e     l1_q, l2_q, l3_q;
  logic       big2_q, big3_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      l1_q   <= LayerConv1;
      l2_q   <= LayerConv1;
      l3_q   <= LayerConv1;
      big2_q <= 1'b0;
      big3_q <= 1'b0;
    end else if (en_i) begin
      l1_q   <= in_valid_i ? layer_i : l1_q;
      l2_q   <= l1_q;
      l3_q   <= l2_q;
      big2_q <= (s1_exp_i != 4'd0);
      big3_q <= big2_q;
    end
  end

  logic [63:0] rem, half;
  always_comb begin
    half = (s3_rshift_i > 0) ? (64'd1 << (s3_rshift_i - 8'sd1)) : 64'd0;
    rem  = (s3_rshift_i > 0) ? (64'(s3_pmant_i) & ((64'd1 << s3_rshift_i) - 64'd1)) : 64'd0;
  end

  assign fire_o     = s3_valid_i && en_i;
  assign layer_o    = l3_q;
  assign sat_low_o  = s3_sum_i < s3_lo_i;
  assign sat_high_o = s3_sum_i > 11'sd255;
  assign big_o      = big3_q;
  assign tie_o      = (s3_rshift_i > 0) && (rem == half) && !sat_low_o && !sat_high_o;

endmodule
