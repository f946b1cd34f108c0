// Functional-coverage monitor of one `requant` instance (test bench only, bound to the
// instance's internal signals through hierarchical references in regress_harness.sv).
//
// For every beat that enters requant's last stage (the add and clamp, fed by the stage
// ClampStage registers) it reports which coverage events the beat hit:
//   sat_low_o   y + zp_out below the low clamp (0, or zp_out with ReLU): clamped low
//   sat_high_o  y + zp_out above 255: clamped high
//   big_o       |acc + bias| >= 2^24: the int32 -> float32 step rounds (big_i in stage
//               ExStage)
//   tie_o       the final rounding pm / 2^r (r > 0, pm in stage ClampStage - 1, r one
//               stage earlier) is an exact tie (remainder = 2^(r-1)) and the result is not
//               clamped, so round-half-to-even is visible at the output
// and the layer (fashion_lenet_pkg::layer_e) the beat entered with (`layer_i` sampled at the
// input; the fc engine changes layers while its last beats are still in the pipeline).
//
// requant's pipeline free-runs (its output FIFO absorbs backpressure), so the shadow
// registers advance every cycle and stay aligned with its stages: a beat accepted at an edge
// is in stage k after k edges.
module requant_monitor import fashion_lenet_pkg::*; #(
  parameter int unsigned ClampStage = 11,  // stage whose registers feed the clamp
  parameter int unsigned ExStage    = 2    // stage holding |x|
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  input  logic               in_fire_i,     // a beat is accepted (valid && ready)
  input  layer_e             layer_i,       // layer of the beat at the requant input
  input  logic               big_i,         // requant |x| >= 2^24 in stage ExStage
  input  logic [24:0]        pm_i,          // requant pm of stage ClampStage - 1
  input  logic signed [7:0]  r_i,           // requant r (net right shift) of stage ClampStage - 2
  input  logic               clamp_valid_i, // requant valid of stage ClampStage
  input  logic signed [10:0] sum_i,         // requant y + zp_out (last stage)
  input  logic               relu_neg_i,    // ReLU and y < 0 in the last stage: requant has
                                            // forced |y| to 0 (sum_i = zp_out)
  input  logic signed [10:0] lo_i,          // the low clamp (0, or zp_out with ReLU)
  output logic               fire_o,        // a beat enters the last stage this cycle
  output layer_e             layer_o,
  output logic               sat_low_o,
  output logic               sat_high_o,
  output logic               big_o,
  output logic               tie_o
);

  localparam int unsigned BigShifts = ClampStage - ExStage;

  layer_e                  layer_q [ClampStage];  // [k]: the layer of the beat in stage k+1
  logic   [BigShifts-1:0]  big_q;    // [k]: the beat in stage ExStage+k+1 had ex != 0
  logic                    tie_q;    // the beat in stage ClampStage rounds a tie
  logic                    ynz_q;    // the beat in stage ClampStage has y != 0
  logic signed [7:0]       r_q;      // r of the beat in stage ClampStage - 1

  logic [63:0] rem, half;
  logic        tie, ynz;
  always_comb begin
    half = (r_q > 0) ? (64'd1 << (r_q - 8'sd1)) : 64'd0;
    rem  = (r_q > 0) ? (64'(pm_i) & ((64'd1 << r_q) - 64'd1)) : 64'd0;
    tie  = (r_q > 0) && (rem == half);
    // round(pm / 2^r) != 0: pm >= 2^r, or more than half (a tie rounds to the even 0)
    ynz  = (r_q > 0) ? ((64'(pm_i) >> r_q) != 64'd0 || rem > half) : (pm_i != 25'd0);
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      for (int k = 0; k < ClampStage; k++) layer_q[k] <= LayerConv1;
      big_q   <= '0;
      tie_q   <= 1'b0;
      ynz_q   <= 1'b0;
      r_q     <= '0;
    end else begin
      layer_q[0] <= in_fire_i ? layer_i : layer_q[0];
      for (int k = 1; k < ClampStage; k++) layer_q[k] <= layer_q[k - 1];
      big_q   <= {big_q[BigShifts-2:0], big_i};
      tie_q   <= tie;
      ynz_q   <= ynz;
      r_q     <= r_i;
    end
  end

  assign fire_o     = clamp_valid_i;
  assign layer_o    = layer_q[ClampStage-1];
  assign sat_low_o  = (sum_i < lo_i) || (relu_neg_i && ynz_q);
  assign sat_high_o = sum_i > 11'sd255;
  assign big_o      = big_q[BigShifts-1];
  assign tie_o      = tie_q && !sat_low_o && !sat_high_o;

endmodule
