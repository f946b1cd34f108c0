// Streaming int8 3x3 convolution (stride 1) + requantization with fused ReLU + 2x2 max pool.
//
//   s_axis ifmap (InChannels codes per beat, raster order, tlast on a frame's last pixel)
//   -> conv_padder (Padding pixels = zp_in) -> line_buffer (one 3x3 window per output pixel)
//   -> 9*InChannelsPar MACs: InChannelsPar input channels per cycle, so one output channel
//      takes Passes = InChannels / InChannelsPar cycles, acc = sum (x - zp_in) * w
//   -> requant (bias, m24/shift, zp_out, ReLU) -> gather the OutChannels codes of a pixel
//   -> maxpool2x2 -> m_axis pooled ofmap (OutChannels codes per beat).
//
// Cycle behaviour: a window occupies the MACs for OutChannels*Passes cycles; the line buffer
// is stalled meanwhile (s_axis_tready low), so a frame takes about
// Ho*Wo*OutChannels*Passes + (Hp*Wp - Ho*Wo) cycles (Hp/Wp padded, Ho/Wo conv output size),
// with frames back to back. Latency window -> gathered pixel: 6 MAC stages + the requant
// unit's stages + OutChannels*Passes cycles of gathering.
//
// Parameter memories are written through the parameter port (element index addressing,
// PyTorch order) or preloaded with $readmemh when ParamDir != "". They are not reset (a
// reset must not wipe a preload) and must only be written while no frame is in flight:
// once a frame's last pooled beat has left, the block is empty (the padder does not start
// the next frame's top border before that frame's first pixel is offered).
//
// AXI4-Stream ports keep their AMBA names (s_axis_*/m_axis_*) so cocotbext-axi binds by prefix.
module conv3x3_relu_pool import fashion_lenet_pkg::*; #(
  parameter int unsigned InChannels    = Conv1In,
  parameter int unsigned InChannelsPar = InChannels,  // input channels per cycle; divides InChannels
  parameter int unsigned OutChannels   = Conv1Out,
  parameter int unsigned Width         = Conv1Size,
  parameter int unsigned Height        = Conv1Size,
  parameter int unsigned Padding       = Conv1Padding,  // 0 or 1
  parameter string       ParamDir      = "",
  parameter string       LayerName     = "conv1"
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
  localparam int unsigned PassW       = (Passes > 1) ? $clog2(Passes) : 1;
  localparam int unsigned NumWeights  = OutChannels * KernelElems;
  localparam int unsigned WAddrW      = $clog2(NumWeights);
  localparam int unsigned PAddrW      = ParamIndexWidth;  // parameter element index bits
  // Weights are stored one row per (output channel, pass): the 9*InChannelsPar int8 weights
  // one MAC cycle multiplies, so a read is one row (oc_q*Passes + pass_q), not 9*InChannelsPar
  // independently indexed bytes (which synthesis builds as NumWeights-to-1 multiplexers).
  // Element index a = oc*KernelElems + ic*9 + k = row*RowElems + (ic mod InChannelsPar)*9 + k.
  localparam int unsigned RowElems    = 9 * InChannelsPar;
  localparam int unsigned NumRows     = OutChannels * Passes;
  localparam int unsigned RowW        = (NumRows > 1) ? $clog2(NumRows) : 1;
  localparam int unsigned ElemW       = $clog2(RowElems);
  localparam int unsigned OcW         = (OutChannels > 1) ? $clog2(OutChannels) : 1;
  localparam int unsigned CntW        = $clog2(OutChannels + 1);
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

  // ------------------------------------------------------------ parameter memories
  logic [RowElems*8-1:0] weight_q [NumRows];  // row oc*Passes + pass: [j][ky][kx] int8, j = ic mod InChannelsPar
  logic [31:0] bias_q    [OutChannels];  // int32
  logic [31:0] requant_q [OutChannels];  // shift << 24 | m24
  logic [15:0] zp_q      [1];            // zp_out << 8 | zp_in (array for $readmemh)

  initial begin
    if (ParamDir != "") begin
      logic [7:0] weight_init [NumWeights];  // the export's order: [oc][ic][ky][kx]
      $readmemh({ParamDir, "/", LayerName, "_weight.mem"}, weight_init);
      for (int unsigned a = 0; a < NumWeights; a++) begin
        weight_q[a / RowElems][(a % RowElems) * 8 +: 8] = weight_init[a];
      end
      $readmemh({ParamDir, "/", LayerName, "_bias.mem"}, bias_q);
      $readmemh({ParamDir, "/", LayerName, "_requant.mem"}, requant_q);
      $readmemh({ParamDir, "/", LayerName, "_zp.mem"}, zp_q);
    end
  end

  // Parameter writes, pipelined (writes are rare; the decode must not limit the clock):
  //   P0      the port, registered
  //   D1..Dn  a weight's element index a split into row a / RowElems and byte lane
  //           a % RowElems by restoring division, one quotient bit per stage (a subtraction of
  //           a constant and a select): n = RowW stages, exact since a < NumWeights <=
  //           RowElems << n
  //   E       the lane decoded into byte enables
  // then the row's byte is written: a weight lands RowW + 2 clock edges after the port sampled
  // it, a bias, requant or zero-point word 1 edge after. One write per cycle, in order.
  // Out-of-range addresses are ignored.
  localparam int unsigned DivSteps = RowW;
  localparam int unsigned DivW     = WAddrW + 2;  // RowElems << (RowW - 1) < 2^(WAddrW+1), a sign

  if (DivSteps + 2 > ParamWriteLatency) begin : g_err_latency
    $fatal(1, "conv3x3_relu_pool: %0d weight write stages exceed ParamWriteLatency = %0d",
           DivSteps + 2, ParamWriteLatency);
  end

  logic              p_we_q;
  param_kind_e       p_sel_q;
  logic [PAddrW-1:0] p_addr_q;
  logic [31:0]       p_wdata_q;
  logic              p_oc_in_q, p_zero_q;  // index < OutChannels, index == 0

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p_we_q <= 1'b0;
    end else begin
      p_we_q <= param_we_i;
    end
  end

  always_ff @(posedge clk_i) begin
    p_sel_q   <= param_sel_i;
    p_addr_q  <= param_addr_i;
    p_wdata_q <= param_wdata_i;
    p_oc_in_q <= (param_addr_i < PAddrW'(OutChannels));
    p_zero_q  <= (param_addr_i == '0);
  end

  always_ff @(posedge clk_i) begin
    if (p_we_q) begin
      unique case (p_sel_q)
        ParamBias:    if (p_oc_in_q) bias_q[OcW'(p_addr_q)] <= p_wdata_q;
        ParamRequant: if (p_oc_in_q) requant_q[OcW'(p_addr_q)] <= p_wdata_q;
        ParamZp:      if (p_zero_q) zp_q[0] <= p_wdata_q[15:0];
        default:      ;  // ParamWeight: through the division stages
      endcase
    end
  end

  // Division stage s holds the remainder after the quotient bits RowW-1 .. RowW-s; [0] is P0's.
  logic [DivSteps:0]             dv_we;
  logic [DivSteps:0][WAddrW-1:0] dv_rem;
  logic [DivSteps:0][RowW-1:0]   dv_row;
  logic [DivSteps:0][7:0]        dv_data;

  assign dv_we[0]   = p_we_q && (p_sel_q == ParamWeight) && (p_addr_q < PAddrW'(NumWeights));
  assign dv_rem[0]  = WAddrW'(p_addr_q);
  assign dv_row[0]  = '0;
  assign dv_data[0] = p_wdata_q[7:0];

  for (genvar s = 1; s <= DivSteps; s++) begin : g_div
    localparam int unsigned     Bit = DivSteps - s;
    localparam logic [DivW-1:0] Sub = DivW'(RowElems) << Bit;

    // remainder < 2 * Sub (the stage before took the multiples of 2 * Sub)
    logic [DivW-1:0]   diff;
    logic              we_q;
    logic [WAddrW-1:0] rem_q;
    logic [RowW-1:0]   row_q;
    logic [7:0]        data_q;

    assign diff = DivW'(dv_rem[s-1]) - Sub;

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        we_q <= 1'b0;
      end else begin
        we_q <= dv_we[s-1];
      end
    end

    always_ff @(posedge clk_i) begin
      rem_q  <= diff[DivW-1] ? dv_rem[s-1] : WAddrW'(diff);
      row_q  <= dv_row[s-1] | (RowW'(!diff[DivW-1]) << Bit);
      data_q <= dv_data[s-1];
    end

    assign dv_we[s]   = we_q;
    assign dv_rem[s]  = rem_q;
    assign dv_row[s]  = row_q;
    assign dv_data[s] = data_q;
  end

  // E: one write enable per byte lane of the row.
  logic [RowElems-1:0] w_en_q;
  logic [RowW-1:0]     w_row_q;
  logic [7:0]          w_data_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      w_en_q <= '0;
    end else begin
      for (int unsigned e = 0; e < RowElems; e++) begin
        w_en_q[e] <= dv_we[DivSteps] && (ElemW'(dv_rem[DivSteps]) == ElemW'(e));  // rem < RowElems
      end
    end
  end

  always_ff @(posedge clk_i) begin
    w_row_q  <= dv_row[DivSteps];
    w_data_q <= dv_data[DivSteps];
  end

  always_ff @(posedge clk_i) begin
    // constant byte lanes with a select each: a byte-enable write of one row
    for (int unsigned e = 0; e < RowElems; e++) begin
      if (w_en_q[e]) weight_q[w_row_q][e * 8 +: 8] <= w_data_q;
    end
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

  // ------------------------------------------------------------ MACs (6 stages)
  // Stall-all flow control: every MAC stage advances unless the requant unit refuses the
  // accumulator's beat. Pass p of output channel oc multiplies input channels
  // p*InChannelsPar .. +InChannelsPar-1. Stages after the issue cycle:
  //   1, 2  the 9*InChannelsPar products, each a mul_reg (registered inputs and product)
  //   3     per input channel, three sums of 3 products
  //   4     per input channel, the sum of its 9 products
  //   5     the sum over the pass's input channels
  //   6     the accumulator: that sum added to the earlier passes' sum; handed to requant
  //         after the last pass
  // The control bits of a beat travel beside its data in ctl_q (stages 1..5).
  localparam int unsigned MacStages = 5;  // stages before the accumulator
  localparam int unsigned Prod3W    = ProdW + 2;
  localparam int unsigned ChSumW    = PsumW + ((InChannelsPar > 1) ? $clog2(InChannelsPar) : 0);

  typedef struct packed {
    logic           valid;
    logic           first;  // first pass of an output channel: restart the sum
    logic           plast;  // last pass: hand the sum to requant
    logic           last;   // the window is the frame's last
    logic [OcW-1:0] oc;
  } ctl_t;

  // Pipeline registers are packed arrays: shift registers, not memories.
  logic                 en, issue, rq_in_ready, pass_last;
  logic [OcW-1:0]       oc_q;
  logic [PassW-1:0]     pass_q;
  ctl_t                 ctl_in;
  ctl_t [MacStages-1:0] ctl_q;
  logic                 acc_valid_q, acc_last_q;
  logic [OcW-1:0]       acc_oc_q;
  logic signed [31:0]   acc, acc_q;

  assign en        = !acc_valid_q || rq_in_ready;
  assign issue     = win_valid && en;
  assign pass_last = (pass_q == PassW'(Passes - 1));
  // The window is released with the last pass of its last output channel.
  assign win_ready = en && (oc_q == OcW'(OutChannels - 1)) && pass_last;
  assign ctl_in    = '{valid: issue, first: (pass_q == '0), plast: pass_last, last: win_last,
                       oc: oc_q};

  // Issue: per input channel of pass pass_q, the 9 operand pairs of the window and kernel oc_q.
  logic [RowElems*8-1:0] w_rd;
  assign w_rd = weight_q[RowW'(32'(oc_q) * Passes + 32'(pass_q))];

  logic signed [8:0]       xc   [InChannelsPar][9];
  logic signed [7:0]       wt   [InChannelsPar][9];
  logic signed [ProdW-1:0] prod [InChannelsPar][9];

  always_comb begin
    int unsigned ic;
    for (int j = 0; j < InChannelsPar; j++) begin
      ic = 32'(pass_q) * InChannelsPar + 32'(j);
      for (int k = 0; k < 9; k++) begin
        xc[j][k] = $signed({1'b0, win_data[(32'(k) * InChannels + ic) * 8 +: 8]})
                 - $signed({1'b0, zp_in});
        wt[j][k] = $signed(w_rd[(j * 9 + k) * 8 +: 8]);
      end
    end
  end

  // Stages 1, 2: |x - zp_in| <= 255, |w| <= 128: each product is exact in 17 bits.
  for (genvar j = 0; j < InChannelsPar; j++) begin : g_ch
    for (genvar k = 0; k < 9; k++) begin : g_tap
      mul_reg #(
        .AWidth  (9),
        .BWidth  (8),
        .ASigned (1'b1),
        .BSigned (1'b1)
      ) u_mul (
        .clk_i,
        .en_i (en),
        .a_i  (xc[j][k]),
        .b_i  (wt[j][k]),
        .p_o  (prod[j][k])
      );
    end
  end

  // Stages 3..5: the adder tree.
  logic [InChannelsPar-1:0][2:0][Prod3W-1:0] sum3_q;
  logic [InChannelsPar-1:0][PsumW-1:0]       psum_q;
  logic signed [ChSumW-1:0]                  chsum, chsum_q;

  always_comb begin
    chsum = '0;
    for (int j = 0; j < InChannelsPar; j++) begin
      chsum = chsum + ChSumW'($signed(psum_q[j]));
    end
  end

  // Stage 6: the accumulator. Only a real pass may touch the running sum (no bubble
  // arrives between passes: the window stays valid until its last pass has issued).
  assign acc = (ctl_q[MacStages-1].first ? 32'sd0 : acc_q) + 32'(chsum_q);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      oc_q        <= '0;
      pass_q      <= '0;
      ctl_q       <= '0;
      acc_valid_q <= 1'b0;
    end else if (en) begin
      ctl_q[0] <= ctl_in;
      for (int s = 1; s < MacStages; s++) begin
        ctl_q[s] <= ctl_q[s - 1];
      end
      acc_valid_q <= ctl_q[MacStages-1].valid && ctl_q[MacStages-1].plast;
      if (issue) begin
        pass_q <= pass_last ? '0 : pass_q + 1'b1;
        if (pass_last) begin
          oc_q <= (oc_q == OcW'(OutChannels - 1)) ? '0 : oc_q + 1'b1;
        end
      end
    end
  end

  always_ff @(posedge clk_i) begin
    if (en) begin
      for (int j = 0; j < InChannelsPar; j++) begin
        for (int m = 0; m < 3; m++) begin
          sum3_q[j][m] <= Prod3W'(prod[j][3*m]) + Prod3W'(prod[j][3*m+1]) + Prod3W'(prod[j][3*m+2]);
        end
        psum_q[j] <= PsumW'($signed(sum3_q[j][0])) + PsumW'($signed(sum3_q[j][1]))
                   + PsumW'($signed(sum3_q[j][2]));
      end
      chsum_q    <= chsum;
      acc_oc_q   <= ctl_q[MacStages-1].oc;
      acc_last_q <= ctl_q[MacStages-1].last;
      if (ctl_q[MacStages-1].valid) begin
        acc_q <= acc;
      end
    end
  end

  // ------------------------------------------------------------ requantization
  logic       rq_out_valid, rq_out_ready, rq_out_last;
  logic [7:0] rq_out;
  logic [31:0] rq_word;
  assign rq_word = requant_q[acc_oc_q];

  requant #(
    .TagWidth (1)
  ) u_requant (
    .clk_i,
    .rst_ni,
    .in_valid_i  (acc_valid_q),
    .in_ready_o  (rq_in_ready),
    .acc_i       (acc_q),
    .bias_i      (bias_q[acc_oc_q]),
    .m24_i       (rq_word[23:0]),
    .shift_i     (rq_word[29:24]),
    .zp_out_i    (zp_out),
    .relu_i      (1'b1),  // conv layers always fuse ReLU
    .tag_i       (acc_last_q),
    .out_valid_o (rq_out_valid),
    .out_ready_i (rq_out_ready),
    .out_o       (rq_out),
    .tag_o       (rq_out_last)
  );

  // rq_word[31:30] are always zero (shift <= 62).
  logic unused_rq_word;
  assign unused_rq_word = ^rq_word[31:30];

  // ------------------------------------------------------------ gather one pixel
  // Codes arrive in channel order and shift in from the top: after OutChannels shifts
  // channel c sits at [8c +: 8]. The full beat may be replaced in the cycle it is taken.
  logic [OutChannels*8-1:0] beat_q;
  logic [CntW-1:0]          cnt_q;
  logic                     beat_last_q, beat_full, rq_hs;
  logic [OutChannels*8-1:0] pool_tdata;
  logic                     pool_tvalid, pool_tready, pool_tlast;

  assign beat_full    = (cnt_q == CntW'(OutChannels));
  assign rq_out_ready = !beat_full || pool_tready;
  assign rq_hs        = rq_out_valid && rq_out_ready;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cnt_q <= '0;
    end else if (rq_hs) begin
      cnt_q <= beat_full ? CntW'(1) : cnt_q + 1'b1;
    end else if (beat_full && pool_tready) begin
      cnt_q <= '0;
    end
  end

  always_ff @(posedge clk_i) begin
    if (rq_hs) begin
      beat_q      <= (OutChannels * 8)'({rq_out, beat_q} >> 8);
      beat_last_q <= rq_out_last;
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
