// Parameter port of fc_engine -> writes of its memories: a weight byte into one lane's bank,
// bias and requant words, a layer's zero points.
//
// Weight word k = o*In + i of a layer (neuron o, input i, PyTorch order) lives in lane
// o % Lanes at WBase + (o / Lanes)*In + i (fc_lane's bank layout). No stage divides: each
// does at most one constant multiply or one add/subtract/compare (per layer, the three
// layers' results selected by the layer code):
//   P0  port register
//   P1  o = k / In (reciprocal multiply); range and kind checks; ab = WBase + k; the
//       bias/requant address BBase + k. Bias, requant and zero-point writes leave here.
//   P2  row = o / Lanes (reciprocal multiply); oin = o * In
//   P3  rl = row * Lanes; rin = row * In; ib = ab - oin (= WBase + i)
//   P4  lane = o - rl; waddr = ib + rin. Weight writes leave here.
// Addresses are computed modulo 2^WAddrW: the true address is below WDepth <= 2^WAddrW.
//
// Contract: one write per cycle, no backpressure, fixed latency. A write presented in cycle t
// (param_we_i high) appears on the registered outputs in cycle t+2 (bias_we_o, rq_we_o,
// zp_we_o) or t+5 (w_we_o), and the memory takes it at the end of that cycle; writes in
// consecutive cycles all land, in order. Writes to a layer code other than FcLayerFc1..3,
// past the end of a memory or to a zero-point index other than 0 are dropped. fc_engine
// must be idle while its parameters are written.
module fc_param_decode import fashion_lenet_pkg::*; #(
  parameter int unsigned Lanes  = 8,
  /* verilator lint_off VARHIDDEN */  // fc_engine's sizes hide the package's network sizes
  parameter int unsigned Fc1In  = fashion_lenet_pkg::Fc1In,
  parameter int unsigned Fc1Out = fashion_lenet_pkg::Fc1Out,
  parameter int unsigned Fc2Out = fashion_lenet_pkg::Fc2Out,
  parameter int unsigned Fc3Out = fashion_lenet_pkg::Fc3Out,
  parameter int unsigned WBase2 = 8640,  // fc_engine's weight bank map
  parameter int unsigned WBase3 = 9960,
  parameter int unsigned WAddrW = 14,
  parameter int unsigned BBase2 = 120,   // fc_engine's bias / requant map
  parameter int unsigned BBase3 = 204,
  parameter int unsigned BAddrW = 8,
  parameter int unsigned OutW   = 7,     // bits of a neuron index (max Out)
  parameter int unsigned LaneW  = 3      // bits of a lane index
) (
  input  logic                       clk_i,
  input  logic                       rst_ni,

  input  logic                       param_we_i,
  input  fc_layer_e                  param_layer_i,
  input  param_kind_e                param_sel_i,
  input  logic [ParamIndexWidth-1:0] param_addr_i,
  input  logic [31:0]                param_wdata_i,

  output logic                       w_we_o,     // weight byte w_data_o into lane w_lane_o
  output logic [LaneW-1:0]           w_lane_o,
  output logic [WAddrW-1:0]          w_addr_o,
  output logic [7:0]                 w_data_o,

  output logic                       bias_we_o,  // wdata_o into bias_mem[b_addr_o]
  output logic                       rq_we_o,    // wdata_o[29:0] into rq_mem[b_addr_o]
  output logic [BAddrW-1:0]          b_addr_o,
  output logic                       zp_we_o,    // wdata_o[15:0] into zp_mem[zp_layer_o]
  output fc_layer_e                  zp_layer_o,
  output logic [31:0]                wdata_o
);

  localparam int unsigned Fc2In  = Fc1Out;
  localparam int unsigned Fc3In  = Fc2Out;  /* verilator lint_on VARHIDDEN */
  localparam int unsigned PAddrW = ParamIndexWidth;

  // floor(a / d) for every a < 2^n is ((a >> dz) * dm) >> ds with d = 2^dz * e, e odd,
  // ds = n - dz + clog2(e), dm = ceil(2^ds / e) (Granlund & Montgomery 1994, theorem 4.2).
  // Stripping the factor 2^dz first keeps the products narrow (fc1: 11 x 12 bits).
  function automatic int unsigned dz(input int unsigned d);
    int unsigned z;
    z = 0;
    while (z < 31 && d[z] == 1'b0) z++;
    return z;
  endfunction
  function automatic int unsigned ds(input int unsigned n, input int unsigned d);
    return n - dz(d) + $clog2(d >> dz(d));
  endfunction
  function automatic longint unsigned dm(input int unsigned n, input int unsigned d);
    longint unsigned e;
    e = longint'(d) >> dz(d);
    return ((64'd1 << ds(n, d)) + e - 64'd1) / e;
  endfunction

  localparam int unsigned     In1Z = dz(Fc1In), In1S = ds(PAddrW, Fc1In);
  localparam int unsigned     In2Z = dz(Fc2In), In2S = ds(PAddrW, Fc2In);
  localparam int unsigned     In3Z = dz(Fc3In), In3S = ds(PAddrW, Fc3In);
  localparam int unsigned     LnZ  = dz(Lanes), LnS  = ds(OutW, Lanes);
  localparam longint unsigned In1M = dm(PAddrW, Fc1In);
  localparam longint unsigned In2M = dm(PAddrW, Fc2In);
  localparam longint unsigned In3M = dm(PAddrW, Fc3In);
  localparam longint unsigned LnM  = dm(OutW, Lanes);

  // ------------------------------------------------------------ P0: port register
  logic                 p0_we_q;
  fc_layer_e            p0_layer_q;
  param_kind_e          p0_sel_q;
  logic [PAddrW-1:0]    p0_addr_q;
  logic [31:0]          p0_wdata_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p0_we_q <= 1'b0;
    end else begin
      p0_we_q <= param_we_i;
    end
  end

  always_ff @(posedge clk_i) begin
    p0_layer_q <= param_layer_i;
    p0_sel_q   <= param_sel_i;
    p0_addr_q  <= param_addr_i;
    p0_wdata_q <= param_wdata_i;
  end

  // ------------------------------------------------------------ P1: neuron index, checks
  logic              p1_layer_ok, p1_w_in, p1_b_in;
  logic [OutW-1:0]   p1_o_d;
  logic [WAddrW-1:0] p1_ab_d;
  logic [BAddrW-1:0] p1_baddr_d;

  always_comb begin
    p1_layer_ok = 1'b1;
    p1_o_d      = OutW'((64'(p0_addr_q >> In1Z) * In1M) >> In1S);
    p1_w_in     = {1'b0, p0_addr_q} < (PAddrW + 1)'(Fc1Out * Fc1In);
    p1_b_in     = {1'b0, p0_addr_q} < (PAddrW + 1)'(Fc1Out);
    p1_ab_d     = WAddrW'(p0_addr_q);
    p1_baddr_d  = BAddrW'(p0_addr_q);
    unique case (p0_layer_q)
      FcLayerFc1: ;
      FcLayerFc2: begin
        p1_o_d     = OutW'((64'(p0_addr_q >> In2Z) * In2M) >> In2S);
        p1_w_in    = {1'b0, p0_addr_q} < (PAddrW + 1)'(Fc2Out * Fc2In);
        p1_b_in    = {1'b0, p0_addr_q} < (PAddrW + 1)'(Fc2Out);
        p1_ab_d    = WAddrW'(p0_addr_q) + WAddrW'(WBase2);
        p1_baddr_d = BAddrW'(p0_addr_q) + BAddrW'(BBase2);
      end
      FcLayerFc3: begin
        p1_o_d     = OutW'((64'(p0_addr_q >> In3Z) * In3M) >> In3S);
        p1_w_in    = {1'b0, p0_addr_q} < (PAddrW + 1)'(Fc3Out * Fc3In);
        p1_b_in    = {1'b0, p0_addr_q} < (PAddrW + 1)'(Fc3Out);
        p1_ab_d    = WAddrW'(p0_addr_q) + WAddrW'(WBase3);
        p1_baddr_d = BAddrW'(p0_addr_q) + BAddrW'(BBase3);
      end
      default: p1_layer_ok = 1'b0;  // the code NumFcLayers names no layer
    endcase
  end

  logic              p1_w_we_q, p1_bias_we_q, p1_rq_we_q, p1_zp_we_q;
  fc_layer_e         p1_layer_q;
  logic [OutW-1:0]   p1_o_q;
  logic [WAddrW-1:0] p1_ab_q;
  logic [BAddrW-1:0] p1_baddr_q;
  logic [31:0]       p1_wdata_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p1_w_we_q    <= 1'b0;
      p1_bias_we_q <= 1'b0;
      p1_rq_we_q   <= 1'b0;
      p1_zp_we_q   <= 1'b0;
    end else begin
      p1_w_we_q    <= p0_we_q && p1_layer_ok && (p0_sel_q == ParamWeight) && p1_w_in;
      p1_bias_we_q <= p0_we_q && p1_layer_ok && (p0_sel_q == ParamBias) && p1_b_in;
      p1_rq_we_q   <= p0_we_q && p1_layer_ok && (p0_sel_q == ParamRequant) && p1_b_in;
      p1_zp_we_q   <= p0_we_q && p1_layer_ok && (p0_sel_q == ParamZp) && (p0_addr_q == '0);
    end
  end

  always_ff @(posedge clk_i) begin
    p1_layer_q <= p0_layer_q;
    p1_o_q     <= p1_o_d;
    p1_ab_q    <= p1_ab_d;
    p1_baddr_q <= p1_baddr_d;
    p1_wdata_q <= p0_wdata_q;
  end

  assign bias_we_o  = p1_bias_we_q;
  assign rq_we_o    = p1_rq_we_q;
  assign zp_we_o    = p1_zp_we_q;
  assign b_addr_o   = p1_baddr_q;
  assign zp_layer_o = p1_layer_q;
  assign wdata_o    = p1_wdata_q;

  // ------------------------------------------------------------ P2: row, o * In
  logic [OutW-1:0]   p2_row_d;
  logic [WAddrW-1:0] p2_oin_d;

  always_comb begin
    p2_row_d = OutW'((64'(p1_o_q >> LnZ) * LnM) >> LnS);
    unique case (p1_layer_q)
      FcLayerFc2: p2_oin_d = WAddrW'(p1_o_q) * WAddrW'(Fc2In);
      FcLayerFc3: p2_oin_d = WAddrW'(p1_o_q) * WAddrW'(Fc3In);
      default:    p2_oin_d = WAddrW'(p1_o_q) * WAddrW'(Fc1In);  // fc1 (others are dropped)
    endcase
  end

  logic              p2_we_q;
  fc_layer_e         p2_layer_q;
  logic [LaneW-1:0]  p2_o_q;
  logic [OutW-1:0]   p2_row_q;
  logic [WAddrW-1:0] p2_ab_q, p2_oin_q;
  logic [7:0]        p2_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p2_we_q <= 1'b0;
    end else begin
      p2_we_q <= p1_w_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p2_layer_q <= p1_layer_q;
    p2_o_q     <= LaneW'(p1_o_q);
    p2_row_q   <= p2_row_d;
    p2_ab_q    <= p1_ab_q;
    p2_oin_q   <= p2_oin_d;
    p2_data_q  <= p1_wdata_q[7:0];
  end

  // ------------------------------------------------------------ P3: row * Lanes, row * In, WBase + i
  logic [LaneW-1:0]  p3_rl_d;
  logic [WAddrW-1:0] p3_rin_d, p3_ib_d;

  always_comb begin
    p3_rl_d = LaneW'(p2_row_q) * LaneW'(Lanes);  // modulo 2^LaneW: lane < Lanes <= 2^LaneW
    p3_ib_d = p2_ab_q - p2_oin_q;
    unique case (p2_layer_q)
      FcLayerFc2: p3_rin_d = WAddrW'(p2_row_q) * WAddrW'(Fc2In);
      FcLayerFc3: p3_rin_d = WAddrW'(p2_row_q) * WAddrW'(Fc3In);
      default:    p3_rin_d = WAddrW'(p2_row_q) * WAddrW'(Fc1In);
    endcase
  end

  logic              p3_we_q;
  logic [LaneW-1:0]  p3_o_q, p3_rl_q;
  logic [WAddrW-1:0] p3_rin_q, p3_ib_q;
  logic [7:0]        p3_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p3_we_q <= 1'b0;
    end else begin
      p3_we_q <= p2_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p3_o_q    <= p2_o_q;
    p3_rl_q   <= p3_rl_d;
    p3_rin_q  <= p3_rin_d;
    p3_ib_q   <= p3_ib_d;
    p3_data_q <= p2_data_q;
  end

  // ------------------------------------------------------------ P4: lane, weight address
  logic              p4_we_q;
  logic [LaneW-1:0]  p4_lane_q;
  logic [WAddrW-1:0] p4_addr_q;
  logic [7:0]        p4_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p4_we_q <= 1'b0;
    end else begin
      p4_we_q <= p3_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p4_lane_q <= p3_o_q - p3_rl_q;
    p4_addr_q <= p3_ib_q + p3_rin_q;
    p4_data_q <= p3_data_q;
  end

  assign w_we_o   = p4_we_q;
  assign w_lane_o = p4_lane_q;
  assign w_addr_o = p4_addr_q;
  assign w_data_o = p4_data_q;

endmodule
