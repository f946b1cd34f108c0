// Parameter port of fc_engine -> writes of its memories: a weight byte into one lane's bank,
// bias and requant words, a layer's zero points.
//
// Weight word k = o*In + i of a layer (neuron o, input i, PyTorch order) lives in lane
// o % Lanes, word WBase + (o / Lanes)*Steps + s, byte b (fc_lane's bank layout): fc2 / fc3
// s = i / InputsPar, b = i % InputsPar; fc1 (i = c*InPixels + p) s = j*InPixels + p with
// c = j*InputsPar + b. fc1 takes q = k / InPixels = o*C + c (C = InChannels) from k
// directly, beside o. No stage divides: each does at most one constant multiply, one
// multiply of two registered operands, or one add/subtract/compare (per layer, the three
// layers' results selected by the layer code); InputsPar is a power of two, so / and % by it
// are wiring:
//   P0  port register
//   P1  range and kind checks; the bias/requant address BBase + k; the
//       operands of o = k / In, the layer's k >> z and reciprocal m, and of q = k / InPixels.
//       Bias, requant and zero-point writes leave here.
//   P2  the products (k >> z) * m, (k >> zp) * mp
//   P3  o = product >> s (the layer's shift); q = product >> sp
//   P4  row = o / Lanes (reciprocal multiply); om = o * C (fc1) or o * In (registered in
//       P1); qp = q * InPixels; x = q (fc1) or k
//   P5  rl = row * Lanes; rin = row * Steps; d = x - om (fc1 c, else i); e = k - qp
//       (fc1: p)
//   P6  lane = o - rl; b = d % InputsPar; t = (d / InputsPar) * InPixels (fc1) or
//       d / InputsPar; r = rin + e (fc1, WBase 0) or rin + WBase
//   P7  waddr = r + t
//   P8  per lane: write enable (lane == l), address, byte, data. Weight writes leave here.
// Addresses are computed modulo 2^WAddrW: the true address is below WDepth <= 2^WAddrW.
//
// Contract: one write per cycle, no backpressure, fixed latency. A write presented in cycle t
// (param_we_i high) appears on the registered outputs in cycle t+2 (bias_we_o, rq_we_o,
// zp_we_o) or t+9 (w_we_o), and the memory takes it at the end of that cycle
// (ParamWriteLatency edges after the port sampled it, at the latest); writes in consecutive
// cycles all land, in order. Writes to a layer code other than FcLayerFc1..3, past the end of
// a memory or to a zero-point index other than 0 are dropped. fc_engine must be idle while its
// parameters are written.
module fc_param_decode import fashion_lenet_pkg::*; #(
  parameter int unsigned Lanes     = 8,
  parameter int unsigned InputsPar = 1,     // bytes per bank word (a power of two)
  parameter int unsigned InPixels  = 36,    // fc1: In = InChannels * InPixels
  /* verilator lint_off VARHIDDEN */  // fc_engine's sizes hide the package's network sizes
  parameter int unsigned Fc1In     = fashion_lenet_pkg::Fc1In,
  parameter int unsigned Fc1Out    = fashion_lenet_pkg::Fc1Out,
  parameter int unsigned Fc2Out    = fashion_lenet_pkg::Fc2Out,
  parameter int unsigned Fc3Out    = fashion_lenet_pkg::Fc3Out,
  parameter int unsigned WBase2    = 8640,  // fc_engine's weight bank map
  parameter int unsigned WBase3    = 9960,
  parameter int unsigned WAddrW    = 14,
  parameter int unsigned ByteW     = 1,     // bits of a byte index in a bank word
  parameter int unsigned BBase2    = 120,   // fc_engine's bias / requant map
  parameter int unsigned BBase3    = 204,
  parameter int unsigned BAddrW    = 8,
  parameter int unsigned OutW      = 7,     // bits of a neuron index (max Out)
  parameter int unsigned LaneW     = 3      // bits of a lane index
) (
  input  logic                       clk_i,
  input  logic                       rst_ni,

  input  logic                       param_we_i,
  input  fc_layer_e                  param_layer_i,
  input  param_kind_e                param_sel_i,
  input  logic [ParamIndexWidth-1:0] param_addr_i,
  input  logic [31:0]                param_wdata_i,

  // per lane: weight byte w_data_o[l] into byte w_byte_o[l] of word w_addr_o[l]
  output logic [Lanes-1:0]             w_we_o,
  output logic [Lanes-1:0][WAddrW-1:0] w_addr_o,
  output logic [Lanes-1:0][ByteW-1:0]  w_byte_o,
  output logic [Lanes-1:0][7:0]        w_data_o,

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
  localparam int unsigned K      = InputsPar;
  localparam int unsigned LgK    = $clog2(K);
  localparam int unsigned C      = Fc1In / InPixels;  // fc1 input channels
  localparam int unsigned Fc1Steps = C / K * InPixels;
  localparam int unsigned Fc2Steps = (Fc2In + K - 1) / K;
  localparam int unsigned Fc3Steps = (Fc3In + K - 1) / K;

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
  // x * c for a small constant c as adds of shifted x (one per set bit of c): synthesis would
  // otherwise put the product in a DSP block without its registers, slow to and from the fabric.
  function automatic logic [WAddrW-1:0] times(input logic [WAddrW-1:0] x, input int unsigned c);
    times = '0;
    for (int unsigned b = 0; b < WAddrW; b++) begin
      if (c[b]) times = times + (x << b);
    end
  endfunction
  function automatic int unsigned max3(input int unsigned a, input int unsigned b,
                                       input int unsigned c);
    int unsigned m;
    m = (a > b) ? a : b;
    return (m > c) ? m : c;
  endfunction

  localparam int unsigned     In1Z = dz(Fc1In), In1S = ds(PAddrW, Fc1In);
  localparam int unsigned     In2Z = dz(Fc2In), In2S = ds(PAddrW, Fc2In);
  localparam int unsigned     In3Z = dz(Fc3In), In3S = ds(PAddrW, Fc3In);
  localparam int unsigned     PxZ  = dz(InPixels), PxS = ds(PAddrW, InPixels);
  localparam int unsigned     LnZ  = dz(Lanes), LnS  = ds(OutW, Lanes);
  localparam longint unsigned In1M = dm(PAddrW, Fc1In);
  localparam longint unsigned In2M = dm(PAddrW, Fc2In);
  localparam longint unsigned In3M = dm(PAddrW, Fc3In);
  localparam longint unsigned PxM  = dm(PAddrW, InPixels);
  localparam longint unsigned LnM  = dm(OutW, Lanes);
  // the reciprocal multiply of P2: (k >> z) < 2^PAddrW times m < 2^MulMW
  localparam int unsigned     MulMW = max3($clog2(In1M + 1), $clog2(In2M + 1), $clog2(In3M + 1));
  localparam int unsigned     ProdW = PAddrW + MulMW;
  localparam int unsigned     PxMW  = $clog2(PxM + 1);
  localparam int unsigned     PxPW  = PAddrW - PxZ + PxMW;
  localparam int unsigned     InW   = $clog2(max3(Fc1In, Fc2In, Fc3In) + 1);  // a layer's In
  localparam int unsigned     QW    = (WAddrW > InW) ? WAddrW : InW;  // the bits of k, q used

  // P0 .. P8: the weight write leaves P8, ParamWriteLatency edges after the port at the latest.
  if (9 > ParamWriteLatency) begin : g_err_latency
    $fatal(1, "fc_param_decode: 9 write stages exceed ParamWriteLatency = %0d", ParamWriteLatency);
  end
  if ((K & (K - 1)) != 0 || C % K != 0) begin : g_err_par
    $fatal(1, "fc_param_decode: InputsPar = %0d must be a power of two dividing %0d", K, C);
  end

  // ------------------------------------------------------------ P0: port register
  // The conv layers register the same port values: _rep_q keeps each block's copy apart in
  // synthesis (merged, one register would drive all three blocks across the device).
  logic                 p0_we_q;
  fc_layer_e            p0_layer_q;
  param_kind_e          p0_sel_rep_q;
  logic [PAddrW-1:0]    p0_addr_rep_q;
  logic [31:0]          p0_wdata_rep_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p0_we_q <= 1'b0;
    end else begin
      p0_we_q <= param_we_i;
    end
  end

  always_ff @(posedge clk_i) begin
    p0_layer_q     <= param_layer_i;
    p0_sel_rep_q   <= param_sel_i;
    p0_addr_rep_q  <= param_addr_i;
    p0_wdata_rep_q <= param_wdata_i;
  end

  // ------------------------------------------------------------ P1: checks, multiply operands
  logic               p1_layer_ok, p1_w_in, p1_b_in;
  logic [PAddrW-1:0]  p1_a_d;
  logic [MulMW-1:0]   p1_m_d;
  logic [InW-1:0]     p1_in_d;
  logic [WAddrW-1:0]  p1_st_d;
  logic [BAddrW-1:0]  p1_baddr_d;

  always_comb begin
    p1_layer_ok = 1'b1;
    p1_a_d      = p0_addr_rep_q >> In1Z;
    p1_m_d      = MulMW'(In1M);
    p1_in_d     = InW'(C);
    p1_st_d     = WAddrW'(Fc1Steps);
    p1_w_in     = {1'b0, p0_addr_rep_q} < (PAddrW + 1)'(Fc1Out * Fc1In);
    p1_b_in     = {1'b0, p0_addr_rep_q} < (PAddrW + 1)'(Fc1Out);
    p1_baddr_d  = BAddrW'(p0_addr_rep_q);
    unique case (p0_layer_q)
      FcLayerFc1: ;
      FcLayerFc2: begin
        p1_a_d     = p0_addr_rep_q >> In2Z;
        p1_m_d     = MulMW'(In2M);
        p1_in_d    = InW'(Fc2In);
        p1_st_d    = WAddrW'(Fc2Steps);
        p1_w_in    = {1'b0, p0_addr_rep_q} < (PAddrW + 1)'(Fc2Out * Fc2In);
        p1_b_in    = {1'b0, p0_addr_rep_q} < (PAddrW + 1)'(Fc2Out);
        p1_baddr_d = BAddrW'(p0_addr_rep_q) + BAddrW'(BBase2);
      end
      FcLayerFc3: begin
        p1_a_d     = p0_addr_rep_q >> In3Z;
        p1_m_d     = MulMW'(In3M);
        p1_in_d    = InW'(Fc3In);
        p1_st_d    = WAddrW'(Fc3Steps);
        p1_w_in    = {1'b0, p0_addr_rep_q} < (PAddrW + 1)'(Fc3Out * Fc3In);
        p1_b_in    = {1'b0, p0_addr_rep_q} < (PAddrW + 1)'(Fc3Out);
        p1_baddr_d = BAddrW'(p0_addr_rep_q) + BAddrW'(BBase3);
      end
      default: p1_layer_ok = 1'b0;  // the code NumFcLayers names no layer
    endcase
  end

  logic              p1_w_we_q, p1_bias_we_q, p1_rq_we_q, p1_zp_we_q;
  fc_layer_e         p1_layer_q;
  logic [PAddrW-1:0] p1_a_q;
  logic [QW-1:0]     p1_k_q;
  logic [PAddrW-PxZ-1:0] p1_ap_q;
  logic [MulMW-1:0]  p1_m_q;
  logic [InW-1:0]    p1_in_q;   // C (fc1) or the layer's In, a registered operand of o * it
  logic [WAddrW-1:0] p1_st_q;  // p1_st_q: the layer's Steps, an operand of row * it
  logic [BAddrW-1:0] p1_baddr_q;
  logic [31:0]       p1_wdata_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p1_w_we_q    <= 1'b0;
      p1_bias_we_q <= 1'b0;
      p1_rq_we_q   <= 1'b0;
      p1_zp_we_q   <= 1'b0;
    end else begin
      p1_w_we_q    <= p0_we_q && p1_layer_ok && (p0_sel_rep_q == ParamWeight) && p1_w_in;
      p1_bias_we_q <= p0_we_q && p1_layer_ok && (p0_sel_rep_q == ParamBias) && p1_b_in;
      p1_rq_we_q   <= p0_we_q && p1_layer_ok && (p0_sel_rep_q == ParamRequant) && p1_b_in;
      p1_zp_we_q   <= p0_we_q && p1_layer_ok && (p0_sel_rep_q == ParamZp) && (p0_addr_rep_q == '0);
    end
  end

  always_ff @(posedge clk_i) begin
    p1_layer_q <= p0_layer_q;
    p1_a_q     <= p1_a_d;
    p1_k_q     <= QW'(p0_addr_rep_q);
    p1_ap_q    <= (PAddrW - PxZ)'(p0_addr_rep_q >> PxZ);
    p1_m_q     <= p1_m_d;
    p1_in_q    <= p1_in_d;
    p1_st_q    <= p1_st_d;
    p1_baddr_q <= p1_baddr_d;
    p1_wdata_q <= p0_wdata_rep_q;
  end

  assign bias_we_o  = p1_bias_we_q;
  assign rq_we_o    = p1_rq_we_q;
  assign zp_we_o    = p1_zp_we_q;
  assign b_addr_o   = p1_baddr_q;
  assign zp_layer_o = p1_layer_q;
  assign wdata_o    = p1_wdata_q;

  // ------------------------------------------------------------ P2: (k >> z) * m, (k >> zp) * mp
  // The layer's operands are selected before this register, so one multiplier with registered
  // operands serves the three layers (no layer multiplexer in front of it or behind it).
  logic              p2_we_q;
  fc_layer_e         p2_layer_q;
  logic [InW-1:0]    p2_in_q;
  logic [ProdW-1:0]  p2_prod_q;
  logic [PxPW-1:0]   p2_pprod_q;
  logic [QW-1:0]     p2_k_q;
  logic [WAddrW-1:0] p2_st_q;
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
    p2_in_q    <= p1_in_q;
    p2_prod_q  <= ProdW'(p1_a_q) * ProdW'(p1_m_q);
    p2_pprod_q <= PxPW'(p1_ap_q) * PxPW'(PxM);
    p2_k_q     <= p1_k_q;
    p2_st_q    <= p1_st_q;
    p2_data_q  <= p1_wdata_q[7:0];
  end

  // ------------------------------------------------------------ P3: o, q
  logic [OutW-1:0] p3_o_d;

  always_comb begin
    unique case (p2_layer_q)
      FcLayerFc2: p3_o_d = OutW'(p2_prod_q >> In2S);
      FcLayerFc3: p3_o_d = OutW'(p2_prod_q >> In3S);
      default:    p3_o_d = OutW'(p2_prod_q >> In1S);  // fc1 (others are dropped)
    endcase
  end

  logic              p3_we_q;
  fc_layer_e         p3_layer_q;
  logic [InW-1:0]    p3_in_q;
  logic [OutW-1:0]   p3_o_q;
  logic [QW-1:0]     p3_q_q, p3_k_q;
  logic [WAddrW-1:0] p3_st_q;
  logic [7:0]        p3_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p3_we_q <= 1'b0;
    end else begin
      p3_we_q <= p2_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p3_layer_q <= p2_layer_q;
    p3_in_q    <= p2_in_q;
    p3_o_q     <= p3_o_d;
    p3_q_q     <= QW'(p2_pprod_q >> PxS);
    p3_k_q     <= p2_k_q;
    p3_st_q    <= p2_st_q;
    p3_data_q  <= p2_data_q;
  end

  // ------------------------------------------------------------ P4: row, o * C or o * In, q * InPixels
  logic [OutW-1:0]   p4_row_d;
  logic [InW-1:0]    p4_om_d;
  logic [WAddrW-1:0] p4_qp_d;

  assign p4_row_d = OutW'((64'(p3_o_q >> LnZ) * LnM) >> LnS);
  assign p4_om_d  = InW'(p3_o_q) * p3_in_q;        // modulo 2^InW: the difference d < In
  assign p4_qp_d  = times(WAddrW'(p3_q_q), InPixels);

  logic              p4_we_q;
  fc_layer_e         p4_layer_q;
  logic [LaneW-1:0]  p4_o_q;
  logic [OutW-1:0]   p4_row_q;
  logic [InW-1:0]    p4_om_q, p4_x_q;
  logic [WAddrW-1:0] p4_k_q, p4_qp_q, p4_st_q;
  logic [7:0]        p4_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p4_we_q <= 1'b0;
    end else begin
      p4_we_q <= p3_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p4_layer_q <= p3_layer_q;
    p4_o_q     <= LaneW'(p3_o_q);
    p4_row_q   <= p4_row_d;
    p4_om_q    <= p4_om_d;
    p4_x_q     <= (p3_layer_q == FcLayerFc1) ? InW'(p3_q_q) : InW'(p3_k_q);
    p4_k_q     <= WAddrW'(p3_k_q);
    p4_qp_q    <= p4_qp_d;
    p4_st_q    <= p3_st_q;
    p4_data_q  <= p3_data_q;
  end

  // ------------------------------------------------------------ P5: row * Lanes, row * Steps, d, e
  logic [LaneW-1:0]  p5_rl_d;
  logic [WAddrW-1:0] p5_rin_d;

  assign p5_rl_d  = LaneW'(times(WAddrW'(p4_row_q), Lanes));  // modulo 2^LaneW: lane < Lanes <= 2^LaneW
  assign p5_rin_d = WAddrW'(p4_row_q) * p4_st_q;

  logic              p5_we_q;
  fc_layer_e         p5_layer_q;
  logic [LaneW-1:0]  p5_o_q, p5_rl_q;
  logic [WAddrW-1:0] p5_rin_q, p5_e_q;
  logic [InW-1:0]    p5_d_q;    // fc1: channel c; fc2 / fc3: input i
  logic [7:0]        p5_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p5_we_q <= 1'b0;
    end else begin
      p5_we_q <= p4_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p5_layer_q <= p4_layer_q;
    p5_o_q     <= p4_o_q;
    p5_rl_q    <= p5_rl_d;
    p5_rin_q   <= p5_rin_d;
    p5_d_q     <= p4_x_q - p4_om_q;
    p5_e_q     <= p4_k_q - p4_qp_q;
    p5_data_q  <= p4_data_q;
  end

  // ------------------------------------------------------------ P6: lane, byte, step parts
  logic [InW-1:0]    p6_j_d;
  logic [WAddrW-1:0] p6_t_d, p6_r_d;

  assign p6_j_d = p5_d_q >> LgK;

  always_comb begin
    unique case (p5_layer_q)
      FcLayerFc2: begin
        p6_t_d = WAddrW'(p6_j_d);
        p6_r_d = p5_rin_q + WAddrW'(WBase2);
      end
      FcLayerFc3: begin
        p6_t_d = WAddrW'(p6_j_d);
        p6_r_d = p5_rin_q + WAddrW'(WBase3);
      end
      default: begin  // fc1
        p6_t_d = times(WAddrW'(p6_j_d), InPixels);
        p6_r_d = p5_rin_q + p5_e_q;
      end
    endcase
  end

  logic              p6_we_q;
  logic [LaneW-1:0]  p6_lane_q;
  logic [ByteW-1:0]  p6_byte_q;
  logic [WAddrW-1:0] p6_t_q, p6_r_q;
  logic [7:0]        p6_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p6_we_q <= 1'b0;
    end else begin
      p6_we_q <= p5_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p6_lane_q <= p5_o_q - p5_rl_q;
    p6_byte_q <= ByteW'(p5_d_q % InW'(K));
    p6_t_q    <= p6_t_d;
    p6_r_q    <= p6_r_d;
    p6_data_q <= p5_data_q;
  end

  // ------------------------------------------------------------ P7: weight address
  logic              p7_we_q;
  logic [LaneW-1:0]  p7_lane_q;
  logic [ByteW-1:0]  p7_byte_q;
  logic [WAddrW-1:0] p7_addr_q;
  logic [7:0]        p7_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p7_we_q <= 1'b0;
    end else begin
      p7_we_q <= p6_we_q;
    end
  end

  always_ff @(posedge clk_i) begin
    p7_lane_q <= p6_lane_q;
    p7_byte_q <= p6_byte_q;
    p7_addr_q <= p6_r_q + p6_t_q;
    p7_data_q <= p6_data_q;
  end

  // ------------------------------------------------------------ P8: per-lane write registers
  // Each lane's bank gets its own enable, address and data flip-flops (no one register
  // fanning out to every lane's block RAMs). A lane's address and data registers load only
  // with that lane's writes: loaded every cycle they would be copies of one another, which
  // synthesis merges back into one register.
  logic [Lanes-1:0]             p8_we_q;
  logic [Lanes-1:0][WAddrW-1:0] p8_addr_q;
  logic [Lanes-1:0][ByteW-1:0]  p8_byte_q;
  logic [Lanes-1:0][7:0]        p8_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p8_we_q <= '0;
    end else begin
      for (int unsigned l = 0; l < Lanes; l++) begin
        p8_we_q[l] <= p7_we_q && (p7_lane_q == LaneW'(l));
      end
    end
  end

  always_ff @(posedge clk_i) begin
    for (int unsigned l = 0; l < Lanes; l++) begin
      if (p7_we_q && (p7_lane_q == LaneW'(l))) begin
        p8_addr_q[l] <= p7_addr_q;
        p8_byte_q[l] <= p7_byte_q;
        p8_data_q[l] <= p7_data_q;
      end
    end
  end

  assign w_we_o   = p8_we_q;
  assign w_addr_o = p8_addr_q;
  assign w_byte_o = p8_byte_q;
  assign w_data_o = p8_data_q;

endmodule
