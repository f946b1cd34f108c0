// Streaming int8 3x3 convolution (stride 1) + requantization with fused ReLU + 2x2 max pool.
//
//   s_axis ifmap (InChannels codes per beat, raster order, tlast on a frame's last pixel)
//   -> conv_padder (Padding pixels = zp_in) -> line_buffer (one 3x3 window per output pixel)
//   -> centred window register (9*InChannels values x - zp_in)
//   -> 9*InChannelsPar*OutChannelsPar MACs: per cycle OutChannelsPar output channels (a
//      channel group) x InChannelsPar input channels, so a group takes
//      Passes = InChannels / InChannelsPar cycles, acc = sum (x - zp_in) * w
//   -> OutChannelsPar requant units (bias, m24/shift, zp_out, ReLU), one per channel of the
//      group -> gather the OutChannels codes of a pixel -> maxpool2x2
//   -> m_axis pooled ofmap (OutChannels codes per beat).
//
// Cycle behaviour: a window occupies the MACs for N = Groups * Passes cycles
// (Groups = OutChannels / OutChannelsPar). The window register frees the line buffer as soon
// as the MACs take a window, so the pixels between two windows (k of them) enter while the
// MACs work: consecutive windows issue max(N, k + 1) cycles apart. With Ho/Wo the conv
// output size and Wp the padded width (k = 0 within a row, 2 between rows, 2*Wp + 2 between
// frames), a frame takes, back to back,
//   Ho*(Wo - 1)*N + (Ho - 1)*max(N, 3) + max(N, 2*Wp + 3)
// cycles (= Hp*Wp, one per padded pixel, at N = 1), as long as the output is taken. Latency
// window -> gathered pixel: the window register, 6 MAC stages (one more with the multipliers
// in logic, one more with over 3 input channels per cycle), the requant unit's stages and N
// cycles of gathering. The MAC pipeline has no stall: a group issues only with a credit, a
// free place in the requant units' output FIFOs.
//
// Parameter memories are written through the parameter port (element index addressing,
// PyTorch order) or preloaded with $readmemh when ParamDir != "". They are not reset (a
// reset must not wipe a preload) and must only be written while no frame is in flight:
// once a frame's last pooled beat has left, the block is empty (the padder does not start
// the next frame's top border before that frame's first pixel is offered).
//
// AXI4-Stream ports keep their AMBA names (s_axis_*/m_axis_*) so cocotbext-axi binds by prefix.
module conv3x3_relu_pool import fashion_lenet_pkg::*; #(
  parameter int unsigned InChannels     = Conv1In,
  parameter int unsigned InChannelsPar  = InChannels,  // input channels per cycle; divides InChannels
  parameter int unsigned OutChannels    = Conv1Out,
  parameter int unsigned OutChannelsPar = 1,  // output channels per cycle; divides OutChannels
  parameter int unsigned Width          = Conv1Size,
  parameter int unsigned Height         = Conv1Size,
  parameter int unsigned Padding        = Conv1Padding,  // 0 or 1
  parameter bit          UseDsp         = 1'b1,  // MAC multipliers: DSP blocks, else logic
  parameter string       ParamDir       = "",
  parameter string       LayerName      = "conv1"
) (
  input  logic                     clk_i,
  input  logic                     rst_ni,

  input  logic [InChannels*8-1:0]  s_axis_tdata,
  input  logic                     s_axis_tvalid,
  output logic                     s_axis_tready,
  input  logic                     s_axis_tlast,

  output logic [OutChannels*8-1:0] m_axis_tdata,
  output logic                     m_axis_tvalid,
  input  logic                     m_axis_tready,
  output logic                     m_axis_tlast,

  // param_sel_i: ParamWeight .. ParamZp (param_kind_e; word formats: docs/register-map.md)
  input  logic                     param_we_i,
  input  param_kind_e              param_sel_i,
  input  logic [ParamIndexWidth-1:0] param_addr_i,
  input  logic [31:0]              param_wdata_i
);

  localparam int unsigned KernelElems = InChannels * 9;
  localparam int unsigned Passes      = (InChannelsPar > 0) ? InChannels / InChannelsPar : 1;
  localparam int unsigned Groups      = (OutChannelsPar > 0) ? OutChannels / OutChannelsPar : 1;
  localparam int unsigned Ocp         = (OutChannelsPar > 0) ? OutChannelsPar : 1;
  localparam int unsigned PassW       = (Passes > 1) ? $clog2(Passes) : 1;
  localparam int unsigned GrpW        = (Groups > 1) ? $clog2(Groups) : 1;
  localparam int unsigned UnitW       = (Ocp > 1) ? $clog2(Ocp) : 1;
  localparam int unsigned NumWeights  = OutChannels * KernelElems;
  localparam int unsigned WAddrW      = $clog2(NumWeights);
  localparam int unsigned PAddrW      = ParamIndexWidth;  // parameter element index bits
  // Weights are read one row per (channel group, pass): the 9*InChannelsPar*OutChannelsPar
  // int8 weights one MAC cycle multiplies, so a read is one row (g*Passes + pass), not that
  // many independently indexed bytes (which synthesis builds as NumWeights-to-1 multiplexers).
  // Element index a = oc*KernelElems + ic*9 + k with oc = g*OutChannelsPar + u and
  // ic = pass*InChannelsPar + j lands in row g*Passes + pass, lane u*PassElems + j*9 + k; a
  // row's lanes m*9 .. m*9+8 are held by weight memory m (g_wmem, below).
  localparam int unsigned PassElems   = 9 * InChannelsPar;  // one output channel's share of a row
  localparam int unsigned RowElems    = PassElems * Ocp;
  localparam int unsigned NumRows     = Groups * Passes;
  localparam int unsigned RowW        = (NumRows > 1) ? $clog2(NumRows) : 1;
  localparam int unsigned ElemW       = $clog2(PassElems);
  localparam int unsigned OcW         = (OutChannels > 1) ? $clog2(OutChannels) : 1;
  localparam int unsigned CntW        = $clog2(Groups + 1);
  localparam int unsigned PadW        = Width + 2 * Padding;
  localparam int unsigned PadH        = Height + 2 * Padding;
  localparam int unsigned OutW        = PadW - 2;
  localparam int unsigned OutH        = PadH - 2;
  // |x - zp_in| <= 255, |w| <= 128: a product fits 17 bits signed, 9 of them 20 bits.
  localparam int unsigned ProdW       = 17;
  localparam int unsigned PsumW       = 20;

  if (InChannelsPar == 0 || Passes * InChannelsPar != InChannels) begin : g_err_par
    $fatal(1, "conv3x3_relu_pool: InChannelsPar = %0d does not divide InChannels = %0d",
           InChannelsPar, InChannels);
  end
  if (OutChannelsPar == 0 || Groups * OutChannelsPar != OutChannels) begin : g_err_opar
    $fatal(1, "conv3x3_relu_pool: OutChannelsPar = %0d does not divide OutChannels = %0d",
           OutChannelsPar, OutChannels);
  end

  // ------------------------------------------------------------ parameter memories
  // The weights are NumMems memories (g_wmem[m].weight_q), one per MAC group of 9 taps
  // (m = u*InChannelsPar + j, row lanes m*9 .. m*9+8), each with its own row counter: one
  // shared row address would fan out to every weight cell of the layer and limit the clock.
  // Memory m keeps row r at (r + m) mod NumRows, so that its counters (read and write) hold
  // other values than the other memories' and synthesis keeps them apart.
  localparam int unsigned NumMems = Ocp * InChannelsPar;
  logic [31:0] bias_q    [OutChannels];  // int32
  logic [31:0] requant_q [OutChannels];  // shift << 24 | m24
  logic [15:0] zp_q      [1];            // zp_out << 8 | zp_in (array for $readmemh)

  initial begin
    if (ParamDir != "") begin
      $readmemh({ParamDir, "/", LayerName, "_bias.mem"}, bias_q);
      $readmemh({ParamDir, "/", LayerName, "_requant.mem"}, requant_q);
      $readmemh({ParamDir, "/", LayerName, "_zp.mem"}, zp_q);
    end
  end

  // Parameter writes, pipelined (writes are rare; the decode must not limit the clock):
  //   P0      the port, registered
  //   D1..Dn  a weight's element index a split into its digits g (a / (OutChannelsPar *
  //           KernelElems)), u (output channel in the group), pass and the remainder
  //           j*9 + k by restoring division, one quotient bit per stage (a subtraction of a
  //           constant and a select): n = GrpBits + UnitBits + PassBits stages, exact since
  //           each digit's range fits its bits
  //   E       the row g*Passes + pass, the lane decoded into byte enables
  // then the row's byte is written: a weight lands n + 2 clock edges after the port sampled
  // it, a bias, requant or zero-point word 1 edge after. One write per cycle, in order.
  // Out-of-range addresses are ignored.
  localparam int unsigned GrpBits  = (Groups > 1) ? $clog2(Groups) : 0;
  localparam int unsigned UnitBits = (Ocp > 1) ? $clog2(Ocp) : 0;
  localparam int unsigned PassBits = (Passes > 1) ? $clog2(Passes) : 0;
  localparam int unsigned DivSteps = GrpBits + UnitBits + PassBits;
  localparam int unsigned DivW     = WAddrW + 2;  // every subtracted constant < NumWeights, a sign

  if (DivSteps + 2 > ParamWriteLatency) begin : g_err_latency
    $fatal(1, "conv3x3_relu_pool: %0d weight write stages exceed ParamWriteLatency = %0d",
           DivSteps + 2, ParamWriteLatency);
  end

  // The other blocks register the same port values: _rep_q keeps each block's copy apart in
  // synthesis (merged, one register would drive all three blocks across the device).
  logic              p_we_q;
  param_kind_e       p_sel_rep_q;
  logic [PAddrW-1:0] p_addr_rep_q;
  logic [31:0]       p_wdata_rep_q;
  logic              p_oc_in_q, p_zero_q;  // index < OutChannels, index == 0

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p_we_q <= 1'b0;
    end else begin
      p_we_q <= param_we_i;
    end
  end

  always_ff @(posedge clk_i) begin
    p_sel_rep_q   <= param_sel_i;
    p_addr_rep_q  <= param_addr_i;
    p_wdata_rep_q <= param_wdata_i;
    p_oc_in_q     <= (param_addr_i < PAddrW'(OutChannels));
    p_zero_q      <= (param_addr_i == '0);
  end

  always_ff @(posedge clk_i) begin
    if (p_we_q) begin
      unique case (p_sel_rep_q)
        ParamBias:    if (p_oc_in_q) bias_q[OcW'(p_addr_rep_q)] <= p_wdata_rep_q;
        ParamRequant: if (p_oc_in_q) requant_q[OcW'(p_addr_rep_q)] <= p_wdata_rep_q;
        ParamZp:      if (p_zero_q) zp_q[0] <= p_wdata_rep_q[15:0];
        default:      ;  // ParamWeight: through the division stages
      endcase
    end
  end

  // Division stage s holds the remainder after the quotient bits of stages 1..s; [0] is P0's.
  logic [DivSteps:0]             dv_we;
  logic [DivSteps:0][WAddrW-1:0] dv_rem;
  logic [DivSteps:0][GrpW-1:0]   dv_grp;
  logic [DivSteps:0][UnitW-1:0]  dv_unit;
  logic [DivSteps:0][PassW-1:0]  dv_pass;
  logic [DivSteps:0][7:0]        dv_data;

  assign dv_we[0]   = p_we_q && (p_sel_rep_q == ParamWeight) && (p_addr_rep_q < PAddrW'(NumWeights));
  assign dv_rem[0]  = WAddrW'(p_addr_rep_q);
  assign dv_grp[0]  = '0;
  assign dv_unit[0] = '0;
  assign dv_pass[0] = '0;
  assign dv_data[0] = p_wdata_rep_q[7:0];

  for (genvar s = 1; s <= DivSteps; s++) begin : g_div
    // the digit this stage resolves (0: g, 1: u, 2: pass), its bit and divisor
    localparam int unsigned Digit = (s <= GrpBits) ? 0 : (s <= GrpBits + UnitBits) ? 1 : 2;
    localparam int unsigned Bit   = (Digit == 0) ? GrpBits - s :
                                    (Digit == 1) ? GrpBits + UnitBits - s : DivSteps - s;
    localparam int unsigned Div   = (Digit == 0) ? Ocp * KernelElems :
                                    (Digit == 1) ? KernelElems : PassElems;
    localparam logic [DivW-1:0] Sub = DivW'(Div) << Bit;

    // remainder < 2 * Sub (the stage before took the multiples of 2 * Sub, or of the
    // previous digit's divisor, which is at most 2 * Sub)
    logic [DivW-1:0]   diff;
    logic              take;
    logic              we_q;
    logic [WAddrW-1:0] rem_q;
    logic [GrpW-1:0]   grp_q;
    logic [UnitW-1:0]  unit_q;
    logic [PassW-1:0]  pass_q;
    logic [7:0]        data_q;

    assign diff = DivW'(dv_rem[s-1]) - Sub;
    assign take = !diff[DivW-1];

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        we_q <= 1'b0;
      end else begin
        we_q <= dv_we[s-1];
      end
    end

    always_ff @(posedge clk_i) begin
      rem_q  <= take ? WAddrW'(diff) : dv_rem[s-1];
      grp_q  <= dv_grp[s-1]  | ((Digit == 0) ? GrpW'(take) << Bit : '0);
      unit_q <= dv_unit[s-1] | ((Digit == 1) ? UnitW'(take) << Bit : '0);
      pass_q <= dv_pass[s-1] | ((Digit == 2) ? PassW'(take) << Bit : '0);
      data_q <= dv_data[s-1];
    end

    assign dv_we[s]   = we_q;
    assign dv_rem[s]  = rem_q;
    assign dv_grp[s]  = grp_q;
    assign dv_unit[s] = unit_q;
    assign dv_pass[s] = pass_q;
    assign dv_data[s] = data_q;
  end

  // E: one write enable per byte lane of a row (lane u*PassElems + rem); each memory's row
  // and data (its own registers, loaded only with its writes: registers loaded every cycle
  // with the same value would be merged by synthesis into one, fanning out to every memory)
  // in g_wmem.
  logic [RowElems-1:0] w_en_d, w_en_q;

  always_comb begin
    for (int unsigned e = 0; e < RowElems; e++) begin
      w_en_d[e] = dv_we[DivSteps] && (dv_unit[DivSteps] == UnitW'(e / PassElems))
               && (ElemW'(dv_rem[DivSteps]) == ElemW'(e % PassElems));  // rem < PassElems
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      w_en_q <= '0;
    end else begin
      w_en_q <= w_en_d;
    end
  end

  // Row counters advance with the issue cycles (declared with the MACs below).
  logic                  issue, pass_last, grp_last;
  logic [NumMems*72-1:0] w_rd;  // memory m's row: taps [m*72 + k*8 +: 8]

  for (genvar m = 0; m < NumMems; m++) begin : g_wmem
    localparam int unsigned Off = m % NumRows;
    logic [71:0]     weight_q [NumRows];  // row (g*Passes + pass + Off) mod NumRows: [ky][kx] int8
    logic [RowW-1:0] wr_row_q, rd_row_q;
    logic [7:0]      wr_data_q;
    logic [31:0]     wr_row;

    initial begin
      if (ParamDir != "") begin
        logic [7:0] weight_init [NumWeights];  // the export's order: [oc][ic][ky][kx]
        int unsigned oc, e, lane;
        $readmemh({ParamDir, "/", LayerName, "_weight.mem"}, weight_init);
        for (int unsigned a = 0; a < NumWeights; a++) begin
          oc   = a / KernelElems;
          e    = a % KernelElems;  // ic*9 + k = pass*PassElems + j*9 + k
          lane = (oc % Ocp) * PassElems + e % PassElems;
          if (lane / 9 == m) begin
            weight_q[((oc / Ocp) * Passes + e / PassElems + Off) % NumRows][(lane % 9) * 8 +: 8]
              = weight_init[a];
          end
        end
      end
    end

    assign wr_row = 32'(dv_grp[DivSteps]) * Passes + 32'(dv_pass[DivSteps]) + Off;

    always_ff @(posedge clk_i) begin
      if (|w_en_d[m * 9 +: 9]) begin
        wr_row_q  <= RowW'((wr_row >= NumRows) ? wr_row - NumRows : wr_row);
        wr_data_q <= dv_data[DivSteps];
      end
      // constant byte lanes with a select each: a byte-enable write of one row
      for (int unsigned k = 0; k < 9; k++) begin
        if (w_en_q[m * 9 + k]) weight_q[wr_row_q][k * 8 +: 8] <= wr_data_q;
      end
    end

    // the row of the next issue cycle: (g*Passes + pass + Off) mod NumRows
    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        rd_row_q <= RowW'(Off);
      end else if (issue) begin
        rd_row_q <= (32'(rd_row_q) == NumRows - 1) ? '0 : rd_row_q + 1'b1;
      end
    end

    assign w_rd[m * 72 +: 72] = weight_q[rd_row_q];
  end

  logic [7:0] zp_in, zp_out;
  assign zp_in  = zp_q[0][7:0];
  assign zp_out = zp_q[0][15:8];

  // ------------------------------------------------------------ padding + windows
  logic [InChannels*8-1:0]   pad_tdata;
  logic                      pad_tvalid, pad_tready, pad_tlast;
  logic [9*InChannels*8-1:0] win_data;
  logic                      win_valid, win_ready, win_last;

  conv_padder #(
    .Channels (InChannels),
    .Width    (Width),
    .Height   (Height),
    .Padding  (Padding)
  ) u_padder (
    .clk_i,
    .rst_ni,
    .zp_i          (zp_in),
    .s_axis_tdata,
    .s_axis_tvalid,
    .s_axis_tready,
    .s_axis_tlast,
    .m_axis_tdata  (pad_tdata),
    .m_axis_tvalid (pad_tvalid),
    .m_axis_tready (pad_tready),
    .m_axis_tlast  (pad_tlast)
  );

  line_buffer #(
    .Channels (InChannels),
    .Width    (PadW),
    .Height   (PadH)
  ) u_line_buffer (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (pad_tdata),
    .s_axis_tvalid (pad_tvalid),
    .s_axis_tready (pad_tready),
    .s_axis_tlast  (pad_tlast),
    .m_axis_tdata  (win_data),
    .m_axis_tvalid (win_valid),
    .m_axis_tready (win_ready),
    .m_axis_tlast  (win_last)
  );

  // ------------------------------------------------------------ centred window register
  // x - zp_in once per window (the zero point fans out to these subtractors only, not to one
  // in front of every multiplier), held while the MACs issue the window's N cycles; the line
  // buffer meanwhile moves on to the next window. Element (k, ic) at [k*InChannels + ic].
  logic [9*InChannels-1:0][8:0] xw_q;
  logic                         xw_valid_q, xw_last_q, win_hs, issue_end;

  assign win_hs = win_valid && win_ready;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      xw_valid_q <= 1'b0;
    end else if (win_hs) begin
      xw_valid_q <= 1'b1;
    end else if (issue_end) begin
      xw_valid_q <= 1'b0;
    end
  end

  always_ff @(posedge clk_i) begin
    if (win_hs) begin
      for (int unsigned i = 0; i < 9 * InChannels; i++) begin
        xw_q[i] <= {1'b0, win_data[i * 8 +: 8]} - {1'b0, zp_in};
      end
      xw_last_q <= win_last;
    end
  end

  // ------------------------------------------------------------ MACs (6 stages)
  // The MAC pipeline free-runs (no clock enable: a stall signal would fan out to every
  // multiplier and adder register). Flow control is by credits instead: a group issues its
  // first pass only while the requant units have room for its result, so the accumulators'
  // beat is always taken. credits_q counts RqDepth minus the groups issued and not yet taken
  // from the requant units; RqDepth covers the issue -> take round trip (MacStages + 1, the
  // requant stages, the output register), so credits do not limit one group per cycle.
  // Issue cycle (g, p) multiplies output channels g*OutChannelsPar ..
  // +OutChannelsPar-1 (unit u = channel g*OutChannelsPar + u) by input channels
  // p*InChannelsPar .. +InChannelsPar-1; the passes of a group issue back to back, the
  // groups in order. Stages after the issue cycle:
  //   1, 2  the 9*InChannelsPar*OutChannelsPar products, each a mul_reg (registered inputs
  //         and product)
  //   3     per unit and input channel, three sums of 3 products
  //   4     per unit and input channel, the sum of its 9 products
  //   5     per unit, the sum over the pass's input channels (5, 5b with more than 3: partial
  //         sums of 3 channels, then their sum)
  //   6     the accumulators: that sum added to the earlier passes' sum; handed to the
  //         requant units after the last pass
  // A stage 0 of operand registers comes first. The control bits of a beat travel beside its
  // data in ctl_q (stages 1..MacStages).
  localparam int unsigned OpStages  = 1;  // operand registers
  // the sum over a pass's input channels: one stage for up to 3, else partial sums of 3 first
  localparam int unsigned ChParts   = (InChannelsPar + 2) / 3;
  localparam int unsigned ChStages  = (ChParts > 1) ? 2 : 1;
  localparam int unsigned MacStages = 4 + ChStages + OpStages;  // stages before the accumulator
  localparam int unsigned RqDepth   = 32;  // requant output FIFO: >= 8 + RequantLatency + 2
  localparam int unsigned CredW     = $clog2(RqDepth + 1);
  localparam int unsigned Prod3W    = ProdW + 2;
  localparam int unsigned ChSumW    = PsumW + ((InChannelsPar > 1) ? $clog2(InChannelsPar) : 0);

  typedef struct packed {
    logic            valid;
    logic            first;  // first pass of a group: restart the sums
    logic            plast;  // last pass: hand the sums to requant
    logic            last;   // the window is the frame's last
    logic [GrpW-1:0] grp;
  } ctl_t;

  // Pipeline registers are packed arrays: shift registers, not memories.
  logic                 grp_start, credit_ok, rq_in_ready, rq_out_take;
  logic [CredW-1:0]     credits_q;
  logic [GrpW-1:0]      grp_q;
  logic [PassW-1:0]     pass_q;
  ctl_t                 ctl_in;
  ctl_t [MacStages-1:0] ctl_q;
  logic                 acc_valid_q, acc_last_q;
  logic [GrpW-1:0]      acc_grp_q;

  assign credit_ok = (credits_q != '0);
  assign issue     = xw_valid_q && (pass_q != '0 || credit_ok);
  assign grp_start = issue && (pass_q == '0);
  assign pass_last = (pass_q == PassW'(Passes - 1));
  assign grp_last  = (grp_q == GrpW'(Groups - 1));
  assign issue_end = issue && pass_last && grp_last;
  // The register takes the next window when empty or with the last issue of its window.
  assign win_ready = !xw_valid_q || issue_end;
  assign ctl_in    = '{valid: issue, first: (pass_q == '0), plast: pass_last, last: xw_last_q,
                       grp: grp_q};

  // Issue: the input channels of pass pass_q, the weights of row (grp_q, pass_q).
  logic signed [8:0]       xc   [InChannelsPar][9];
  logic signed [7:0]       wt   [Ocp][InChannelsPar][9];
  logic signed [ProdW-1:0] prod [Ocp][InChannelsPar][9];

  always_comb begin
    int unsigned ic;
    for (int j = 0; j < InChannelsPar; j++) begin
      ic = 32'(pass_q) * InChannelsPar + 32'(j);
      for (int k = 0; k < 9; k++) begin
        xc[j][k] = $signed(xw_q[32'(k) * InChannels + ic]);
      end
    end
    for (int u = 0; u < Ocp; u++) begin
      for (int j = 0; j < InChannelsPar; j++) begin
        for (int k = 0; k < 9; k++) begin
          wt[u][j][k] = $signed(w_rd[((u * InChannelsPar + j) * 9 + k) * 8 +: 8]);  // memory u*ICP + j
        end
      end
    end
  end

  // Stage 0: operand registers, one set per multiplier. The window register and the weight
  // memories then drive registers, not the multipliers of several output channels spread over
  // the device (DSP blocks sit at fixed sites); a multiplier's own operands are a whole cycle
  // away from their source. The x copies of the output channels hold equal values: the
  // _rep_q suffix asks synthesis (scripts/synth.py) to keep them apart.
  logic signed [8:0] xm_rep_q [Ocp][InChannelsPar][9];
  logic signed [7:0] wm_q     [Ocp][InChannelsPar][9];

  always_ff @(posedge clk_i) begin
    for (int u = 0; u < Ocp; u++) begin
      for (int j = 0; j < InChannelsPar; j++) begin
        for (int k = 0; k < 9; k++) begin
          xm_rep_q[u][j][k] <= xc[j][k];
          wm_q[u][j][k]     <= wt[u][j][k];
        end
      end
    end
  end

  // Stages 1, 2: |x - zp_in| <= 255, |w| <= 128: each product is
  // exact in 17 bits.
  for (genvar u = 0; u < Ocp; u++) begin : g_unit
    for (genvar j = 0; j < InChannelsPar; j++) begin : g_ch
      for (genvar k = 0; k < 9; k++) begin : g_tap
        mul_reg #(
          .AWidth  (9),
          .BWidth  (8),
          .ASigned (1'b1),
          .BSigned (1'b1),
          .UseDsp  (UseDsp)
        ) u_mul (
          .clk_i,
          .en_i (1'b1),
          .a_i  (xm_rep_q[u][j][k]),
          .b_i  (wm_q[u][j][k]),
          .p_o  (prod[u][j][k])
        );
      end
    end
  end

  // Stages 3..5 (5 and 5b with more than 3 input channels per pass): the adder trees.
  logic [Ocp-1:0][InChannelsPar-1:0][2:0][Prod3W-1:0] sum3_q;
  logic [Ocp-1:0][InChannelsPar-1:0][PsumW-1:0]       psum_q;
  logic signed [ChSumW-1:0]                           chpart  [Ocp][ChParts];
  logic signed [ChSumW-1:0]                           chsum   [Ocp];
  logic [Ocp-1:0][ChSumW-1:0]                         chsum_q;

  always_comb begin
    for (int u = 0; u < Ocp; u++) begin
      for (int p = 0; p < ChParts; p++) begin
        chpart[u][p] = '0;
        for (int j = 3 * p; j < 3 * p + 3 && j < InChannelsPar; j++) begin
          chpart[u][p] = chpart[u][p] + ChSumW'($signed(psum_q[u][j]));
        end
      end
    end
  end

  if (ChStages == 2) begin : g_chsum2
    logic [Ocp-1:0][ChParts-1:0][ChSumW-1:0] chpart_q;

    always_ff @(posedge clk_i) begin
      for (int u = 0; u < Ocp; u++) begin
        for (int p = 0; p < ChParts; p++) begin
          chpart_q[u][p] <= chpart[u][p];
        end
      end
    end

    always_comb begin
      for (int u = 0; u < Ocp; u++) begin
        chsum[u] = '0;
        for (int p = 0; p < ChParts; p++) begin
          chsum[u] = chsum[u] + $signed(chpart_q[u][p]);
        end
      end
    end
  end else begin : g_chsum1
    always_comb begin
      for (int u = 0; u < Ocp; u++) begin
        chsum[u] = chpart[u][0];
      end
    end
  end

  // Stage 6: the accumulators. Only a real pass may touch the running sums (no bubble
  // arrives between passes: the window stays valid until its last pass has issued).
  // Each unit has its own copy of the stage's valid and first bits (kept apart in synthesis,
  // _rep_q), so that one register does not drive the accumulators of all units.
  logic signed [31:0]         acc [Ocp];
  logic [Ocp-1:0][31:0]       acc_q;
  logic [Ocp-1:0]             acc_en_rep_q, acc_first_rep_q;

  always_ff @(posedge clk_i) begin
    for (int u = 0; u < Ocp; u++) begin
      acc_en_rep_q[u]    <= ctl_q[MacStages-2].valid;
      acc_first_rep_q[u] <= ctl_q[MacStages-2].first;
    end
  end

  always_comb begin
    for (int u = 0; u < Ocp; u++) begin
      acc[u] = (acc_first_rep_q[u] ? 32'sd0 : $signed(acc_q[u])) + 32'($signed(chsum_q[u]));
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ctl_q       <= '0;
      acc_valid_q <= 1'b0;
      credits_q   <= CredW'(RqDepth);
    end else begin
      ctl_q[0] <= ctl_in;
      for (int s = 1; s < MacStages; s++) begin
        ctl_q[s] <= ctl_q[s - 1];
      end
      acc_valid_q <= ctl_q[MacStages-1].valid && ctl_q[MacStages-1].plast;
      credits_q   <= credits_q - CredW'(grp_start) + CredW'(rq_out_take);
    end
  end

  // The pass and group counters exist only where they count: a register held at 0 would still
  // fan out to every operand multiplexer it selects (synthesis cannot drop a register whose
  // value before the first reset is unknown).
  if (Passes > 1) begin : g_pass_cnt
    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        pass_q <= '0;
      end else if (issue) begin
        pass_q <= pass_last ? '0 : pass_q + 1'b1;
      end
    end
  end else begin : g_one_pass
    assign pass_q = '0;
  end

  if (Groups > 1) begin : g_grp_cnt
    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        grp_q <= '0;
      end else if (issue && pass_last) begin
        grp_q <= grp_last ? '0 : grp_q + 1'b1;
      end
    end
  end else begin : g_one_grp
    assign grp_q = '0;
  end

  always_ff @(posedge clk_i) begin
    for (int u = 0; u < Ocp; u++) begin
      for (int j = 0; j < InChannelsPar; j++) begin
        for (int m = 0; m < 3; m++) begin
          sum3_q[u][j][m] <= Prod3W'(prod[u][j][3*m]) + Prod3W'(prod[u][j][3*m+1])
                           + Prod3W'(prod[u][j][3*m+2]);
        end
        psum_q[u][j] <= PsumW'($signed(sum3_q[u][j][0])) + PsumW'($signed(sum3_q[u][j][1]))
                      + PsumW'($signed(sum3_q[u][j][2]));
      end
      chsum_q[u] <= chsum[u];
      if (acc_en_rep_q[u]) begin
        acc_q[u] <= acc[u];
      end
    end
    acc_grp_q  <= ctl_q[MacStages-1].grp;
    acc_last_q <= ctl_q[MacStages-1].last;
  end

  // ------------------------------------------------------------ requantization
  // One unit per channel of a group; they take and give beats together (lockstep), so each
  // handshake is qualified by all of them. The credits guarantee rq_in_ready whenever
  // acc_valid_q is high: a beat that met a full unit would be lost. Unit u reads the words of channel
  // g*OutChannelsPar + u: one read port per unit (as one memory, not flip-flops).
  logic [Ocp-1:0]       rq_in_rdy, rq_out_vld, rq_out_last;
  logic [Ocp-1:0][7:0]  rq_out;
  logic                 rq_in_valid, rq_out_valid, rq_out_ready;

  assign rq_in_ready  = &rq_in_rdy;
  assign rq_in_valid  = acc_valid_q;

`ifndef SYNTHESIS
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
    end else if (acc_valid_q && !rq_in_ready) begin
      $error("conv3x3_relu_pool: an accumulator beat met a full requant unit (credits broken)");
    end
  end
`else
  logic unused_rq_in_ready;
  assign unused_rq_in_ready = rq_in_ready;
`endif
  assign rq_out_valid = &rq_out_vld;
  assign rq_out_take  = rq_out_valid && rq_out_ready;

  for (genvar u = 0; u < Ocp; u++) begin : g_rq
    logic [OcW-1:0] oc;
    logic [31:0]    rq_word;

    assign oc      = (Groups > 1) ? OcW'(32'(acc_grp_q) * Ocp + u) : OcW'(u);
    assign rq_word = requant_q[oc];

    requant #(
      .TagWidth (1),
      .Depth    (RqDepth)
    ) u_requant (
      .clk_i,
      .rst_ni,
      .in_valid_i  (rq_in_valid),
      .in_ready_o  (rq_in_rdy[u]),
      .acc_i       (acc_q[u]),
      .bias_i      (bias_q[oc]),
      .m24_i       (rq_word[23:0]),
      .shift_i     (rq_word[29:24]),
      .zp_out_i    (zp_out),
      .relu_i      (1'b1),  // conv layers always fuse ReLU
      .tag_i       (acc_last_q),
      .out_valid_o (rq_out_vld[u]),
      .out_ready_i (rq_out_take),
      .out_o       (rq_out[u]),
      .tag_o       (rq_out_last[u])
    );

    // rq_word[31:30] are always zero (shift <= 62); the tags are all equal (unit 0's used).
    logic unused_rq;
    assign unused_rq = ^{rq_word[31:30], (u > 0) ? rq_out_last[u] : 1'b0};
  end

  // ------------------------------------------------------------ gather one pixel
  // Groups arrive in order, OutChannelsPar codes each, and shift in from the top: after
  // Groups shifts channel c sits at [8c +: 8]. The full beat may be replaced in the cycle it
  // is taken.
  logic [OutChannels*8-1:0] beat_q;
  logic [CntW-1:0]          cnt_q;
  logic                     beat_last_q, beat_full;
  logic [OutChannels*8-1:0] pool_tdata;
  logic                     pool_tvalid, pool_tready, pool_tlast;

  assign beat_full    = (cnt_q == CntW'(Groups));
  assign rq_out_ready = !beat_full || pool_tready;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cnt_q <= '0;
    end else if (rq_out_take) begin
      cnt_q <= beat_full ? CntW'(1) : cnt_q + 1'b1;
    end else if (beat_full && pool_tready) begin
      cnt_q <= '0;
    end
  end

  always_ff @(posedge clk_i) begin
    if (rq_out_take) begin
      beat_q      <= (OutChannels * 8)'({rq_out, beat_q} >> (Ocp * 8));
      beat_last_q <= rq_out_last[0];
    end
  end

  assign pool_tdata  = beat_q;
  assign pool_tvalid = beat_full;
  assign pool_tlast  = beat_last_q;

  // ------------------------------------------------------------ 2x2 max pool
  maxpool2x2 #(
    .Channels (OutChannels),
    .Width    (OutW),
    .Height   (OutH)
  ) u_pool (
    .clk_i,
    .rst_ni,
    .s_axis_tdata  (pool_tdata),
    .s_axis_tvalid (pool_tvalid),
    .s_axis_tready (pool_tready),
    .s_axis_tlast  (pool_tlast),
    .m_axis_tdata,
    .m_axis_tvalid,
    .m_axis_tready,
    .m_axis_tlast
  );

endmodule
