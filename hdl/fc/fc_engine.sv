// Fully connected back end of FashionLeNet: fc1 (ReLU) -> fc2 (ReLU) -> fc3 -> argmax.
//
// Input: one AXI4-Stream beat per pixel with all InChannels channels (channel c in tdata[8c+7:8c]),
// InPixels beats per image. The frame is delimited by the beat count; s_axis_tlast is not used
// (the producer's framing is trusted). Beat p is stored as word p of an input buffer bank, so the
// flattened activation i = c*InPixels + p (PyTorch flatten order) is byte c of word p.
//
// Compute: Lanes MAC lanes (fc_lane), lane l computes neuron o = g*Lanes + l of
// group g; a group takes Steps = ceil(In / InputsPar) steps, one per cycle, each reading
// InputsPar (K) activations that all lanes share (K multipliers and an adder tree per lane).
// fc1: step s = j*InPixels + p reads channels j*K .. j*K+K-1 of input word p (K divides
// InChannels); fc2 / fc3: act1 / act2 hold K codes per word (neuron o in word o / K, byte
// o % K) and step s reads word s; the tail step of a layer whose In is not a multiple of K
// zeroes its missing activations (the memories are not reset, the products must be 0).
// acc = sum (x - zp_in) * w. At the end of a group the sums are copied to the lanes'
// hold registers and fed serially through one shared `requant` unit (Lanes cycles,
// hidden behind the next group's steps when there are enough) into the next activation buffer:
//   input buffer --fc1--> act1 --fc2--> act2 --fc3--> result registers.
// The input buffer has two banks (ping-pong): the producer fills one while fc1 reads the
// other, so the next image is taken in while fc1..fc3 run on the current one; a bank is
// free again once fc1 has issued its last read of it.
//
// Output: m_axis, 1 + Fc3Out beats per image: class index, then the Fc3Out fc3
// codes; tlast on the last. fc3 of the next image waits until they are sent.
//
// Cycles per image back to back (input/output beats overlap the MACs):
//   1 + sum over the layers of Steps + (G - 1) * max(Steps, Lanes + 7 + T)
//         + (Out - (G - 1) * Lanes) + FC_LAYER_DRAIN + T
// with G = ceil(Out / Lanes) groups and T = ceil(log2(K) / 2) adder tree stages: a group's
// last step waits until the previous group's sums have left the hold registers (Lanes + 7 + T
// cycles after that group's last step; only when Steps is short, e.g. fc2 / fc3 at K = 16),
// then the last group's requant feed (a cycle per neuron) and the drain (lane pipeline and
// requant's latency, model.network.FC_LAYER_DRAIN). The cycle model
// (model.network.Folding.stage_cycles): Lanes = 8: 15 x 576 + 11 x 120 + 2 x 84 = 10128
// MAC cycles, 10209 per image; Lanes = 18: 7 x 576 + 5 x 120 + 1 x 84 =
// 4716 MAC cycles, 4817 per image; Lanes = 6, K = 16: 20 x 36 + 8 + 13 x 15 + 6 + 15 = 944
// MAC cycles, 1033 per image.
//
// Parts: fc_param_decode (parameter port -> memory writes), fc_sequencer (layers, groups,
// read addresses), fc_lane x Lanes (weight banks, MACs), fc_requant_feeder (hold registers ->
// requant), requant, fc_result_tx (running argmax, output stream). This module holds the buffers and
// the bias / requant / zero-point memories and wires the parts.
//
// Parameters: per-layer memories written through the parameter port (fc_param_decode: one
// word per cycle, no backpressure; a word presented in cycle t is written at the end of
// cycle t+9 if a weight, t+2 otherwise; write them while the engine is idle) or preloaded
// from {ParamDir, "/fc<k>_{weight,bias,requant,zp}.mem"}. Weight index = o*In + i.
//
// AXI4-Stream ports keep their AMBA names (s_axis_*, m_axis_*) so cocotbext-axi binds by prefix.
module fc_engine import fashion_lenet_pkg::*; #(
  parameter int unsigned Lanes      = 8,
  parameter int unsigned InputsPar  = 1,   // K: activations per step, a power of two dividing InChannels
  parameter int unsigned InChannels = Conv2Out,                       // pool2 channels
  parameter int unsigned InPixels   = Conv2PoolSize * Conv2PoolSize,  // pool2 pixels
  /* verilator lint_off VARHIDDEN */  // the engine's own sizes hide the package's network sizes
  parameter int unsigned Fc1Out     = fashion_lenet_pkg::Fc1Out,
  parameter int unsigned Fc2Out     = fashion_lenet_pkg::Fc2Out,
  parameter int unsigned Fc3Out     = fashion_lenet_pkg::Fc3Out,
  parameter string       ParamDir   = ""
) (
  input  logic                    clk_i,
  input  logic                    rst_ni,

  input  logic [InChannels*8-1:0] s_axis_tdata,
  input  logic                    s_axis_tvalid,
  output logic                    s_axis_tready,
  /* verilator lint_off UNUSEDSIGNAL */  // framing is by beat count (see header)
  input  logic                    s_axis_tlast,
  /* verilator lint_on UNUSEDSIGNAL */

  output logic [7:0]              m_axis_tdata,
  output logic                    m_axis_tvalid,
  input  logic                    m_axis_tready,
  output logic                    m_axis_tlast,

  input  logic                    param_we_i,
  input  fc_layer_e               param_layer_i,  // FcLayerFc1 .. FcLayerFc3; others ignored
  input  param_kind_e             param_sel_i,
  input  logic [ParamIndexWidth-1:0] param_addr_i,
  input  logic [31:0]             param_wdata_i
);

  // ------------------------------------------------------------ geometry
  function automatic int unsigned cw(input int unsigned n);  // counter width for 0..n-1
    return (n > 1) ? $clog2(n) : 1;
  endfunction

  function automatic int unsigned max3(input int unsigned a, input int unsigned b,
                                       input int unsigned c);
    int unsigned m;
    m = (a > b) ? a : b;
    return (m > c) ? m : c;
  endfunction

  localparam int unsigned Fc1In     = InChannels * InPixels;
  localparam int unsigned Fc2In     = Fc1Out;
  localparam int unsigned Fc3In     = Fc2Out;  /* verilator lint_on VARHIDDEN */
  localparam int unsigned Fc1Groups = (Fc1Out + Lanes - 1) / Lanes;
  localparam int unsigned Fc2Groups = (Fc2Out + Lanes - 1) / Lanes;
  localparam int unsigned Fc3Groups = (Fc3Out + Lanes - 1) / Lanes;
  localparam int unsigned K         = InputsPar;
  localparam int unsigned Chunks    = InChannels / K;  // fc1 steps per input word
  localparam int unsigned Fc1Steps  = Chunks * InPixels;
  localparam int unsigned Fc2Steps  = (Fc2In + K - 1) / K;
  localparam int unsigned Fc3Steps  = (Fc3In + K - 1) / K;
  // inputs of the tail step (K when In is a multiple of K)
  localparam int unsigned Fc2Tail   = Fc2In - (Fc2Steps - 1) * K;
  localparam int unsigned Fc3Tail   = Fc3In - (Fc3Steps - 1) * K;

  // Weight bank address map (per lane, K bytes per word): fc1 groups, then fc2, then fc3.
  localparam int unsigned WBase2 = Fc1Groups * Fc1Steps;
  localparam int unsigned WBase3 = WBase2 + Fc2Groups * Fc2Steps;
  localparam int unsigned WDepth = WBase3 + Fc3Groups * Fc3Steps;
  // Bias / requant memories: fc1 neurons, then fc2, then fc3.
  localparam int unsigned BBase2 = Fc1Out;
  localparam int unsigned BBase3 = Fc1Out + Fc2Out;
  localparam int unsigned BDepth = BBase3 + Fc3Out;

  localparam int unsigned MaxIn     = max3(Fc1In, Fc2In, Fc3In);
  localparam int unsigned MaxOut    = max3(Fc1Out, Fc2Out, Fc3Out);
  localparam int unsigned MaxGroups = max3(Fc1Groups, Fc2Groups, Fc3Groups);
  // |acc| <= 255 * 128 * MaxIn < 2^15 * MaxIn
  localparam int unsigned AccW      = 16 + $clog2(MaxIn);

  localparam int unsigned WAddrW = cw(WDepth);
  localparam int unsigned BAddrW = cw(BDepth);
  localparam int unsigned IdxW   = cw(max3(Fc1Steps, Fc2Steps, Fc3Steps));
  localparam int unsigned GrpW   = cw(MaxGroups);
  localparam int unsigned NW     = cw(MaxGroups * Lanes);  // neuron index incl. padding lanes
  localparam int unsigned OutW   = cw(MaxOut);
  localparam int unsigned A1W    = cw(Fc2Steps);  // act1 word index
  localparam int unsigned A2W    = cw(Fc3Steps);  // act2 word index
  localparam int unsigned A3W    = cw(Fc3Out);   // result index
  localparam int unsigned ActW   = (A1W > A2W) ? A1W : A2W;
  localparam int unsigned LaneW  = cw(Lanes);
  localparam int unsigned PixW   = cw(InPixels);
  localparam int unsigned InAW   = cw(2 * InPixels);  // input buffer address (two banks)
  localparam int unsigned ChW    = cw(Chunks);
  localparam int unsigned ByteW  = cw(K);            // byte of a K-byte word

  if ((K & (K - 1)) != 0 || InChannels % K != 0) begin : g_err_par
    $fatal(1, "fc_engine: InputsPar = %0d must be a power of two dividing InChannels", K);
  end
  if (AccW > 32) begin : g_err_acc
    $fatal(1, "fc_engine: In = %0d too large for 32-bit accumulators", MaxIn);
  end
  if (Fc1Out * Fc1In > (1 << ParamIndexWidth) || Fc2Out * Fc2In > (1 << ParamIndexWidth)
      || Fc3Out * Fc3In > (1 << ParamIndexWidth)) begin : g_err_addr
    $fatal(1, "fc_engine: weight count exceeds the %0d-bit parameter address", ParamIndexWidth);
  end
  if (Fc3Out < 2 || Fc3Out > 255) begin : g_err_out
    $fatal(1, "fc_engine: Fc3Out must be 2..255");
  end
  // fc2 runs with fc1's ReLU setting (cur_relu below), fc3 with its own.
  if (Fc2Relu != Fc1Relu) begin : g_err_relu
    $fatal(1, "fc_engine: fc1 and fc2 must agree on ReLU");
  end

  // ------------------------------------------------------------ parameter port
  logic [Lanes-1:0]             w_we;
  logic [Lanes-1:0][WAddrW-1:0] w_addr;
  logic [Lanes-1:0][ByteW-1:0]  w_byte;
  logic [Lanes-1:0][7:0]        w_data;
  logic              bias_we, rq_we, zp_we;
  logic [BAddrW-1:0] b_waddr;
  fc_layer_e         zp_wlayer;
  logic [31:0]       p_wdata;

  fc_param_decode #(
    .Lanes     (Lanes),
    .InputsPar (K),
    .InPixels  (InPixels),
    .ByteW     (ByteW),
    .Fc1In  (Fc1In),
    .Fc1Out (Fc1Out),
    .Fc2Out (Fc2Out),
    .Fc3Out (Fc3Out),
    .WBase2 (WBase2),
    .WBase3 (WBase3),
    .WAddrW (WAddrW),
    .BBase2 (BBase2),
    .BBase3 (BBase3),
    .BAddrW (BAddrW),
    .OutW   (OutW),
    .LaneW  (LaneW)
  ) u_param_decode (
    .clk_i,
    .rst_ni,
    .param_we_i,
    .param_layer_i,
    .param_sel_i,
    .param_addr_i,
    .param_wdata_i,
    .w_we_o     (w_we),
    .w_addr_o   (w_addr),
    .w_byte_o   (w_byte),
    .w_data_o   (w_data),
    .bias_we_o  (bias_we),
    .rq_we_o    (rq_we),
    .b_addr_o   (b_waddr),
    .zp_we_o    (zp_we),
    .zp_layer_o (zp_wlayer),
    .wdata_o    (p_wdata)
  );

  // ------------------------------------------------------------ bias / requant / zp memories
  logic [31:0] bias_mem [BDepth];
  logic [29:0] rq_mem [BDepth];   // shift << 24 | m24
  logic [15:0] zp_mem [NumFcLayers];  // zp_out << 8 | zp_in, per layer (register file)

  logic              f_rd_en;
  logic [BAddrW-1:0] f_raddr;
  logic [31:0]       bias_rd_q;
  logic [29:0]       rq_rd_q;

  always_ff @(posedge clk_i) begin
    if (bias_we) begin
      bias_mem[b_waddr] <= p_wdata;
    end
    if (rq_we) begin
      rq_mem[b_waddr] <= p_wdata[29:0];
    end
    if (zp_we) begin
      zp_mem[zp_wlayer] <= p_wdata[15:0];
    end
    if (f_rd_en) begin
      bias_rd_q <= bias_mem[f_raddr];
      rq_rd_q   <= rq_mem[f_raddr];
    end
  end

  if (ParamDir != "") begin : g_preload
    logic [31:0] rq_file [BDepth];
    initial begin
      $readmemh({ParamDir, "/fc1_bias.mem"}, bias_mem, 0, BBase2 - 1);
      $readmemh({ParamDir, "/fc2_bias.mem"}, bias_mem, BBase2, BBase3 - 1);
      $readmemh({ParamDir, "/fc3_bias.mem"}, bias_mem, BBase3, BDepth - 1);
      $readmemh({ParamDir, "/fc1_requant.mem"}, rq_file, 0, BBase2 - 1);
      $readmemh({ParamDir, "/fc2_requant.mem"}, rq_file, BBase2, BBase3 - 1);
      $readmemh({ParamDir, "/fc3_requant.mem"}, rq_file, BBase3, BDepth - 1);
      for (int unsigned k = 0; k < BDepth; k++) begin
        rq_mem[k] = rq_file[k][29:0];
      end
      $readmemh({ParamDir, "/fc1_zp.mem"}, zp_mem, FcLayerFc1, FcLayerFc1);
      $readmemh({ParamDir, "/fc2_zp.mem"}, zp_mem, FcLayerFc2, FcLayerFc2);
      $readmemh({ParamDir, "/fc3_zp.mem"}, zp_mem, FcLayerFc3, FcLayerFc3);
    end
  end

  // ------------------------------------------------------------ input buffer
  // Two banks of InPixels words in one RAM: bank b holds words b*InPixels .. +InPixels-1.
  logic [InChannels*8-1:0] in_buf [2 * InPixels];
  logic [1:0]              in_full_q;     // per bank: a complete image waits for / is read by fc1
  logic                    in_wbank_q;    // bank the producer fills
  logic                    in_rbank_q;    // bank fc1 reads (the older full one)
  logic [PixW-1:0]         in_pix_q;
  logic                    in_hs, in_done;
  logic [InAW-1:0]         in_waddr;
  logic                    fc1_release;   // fc1 has issued its last read of its bank

  assign s_axis_tready = !in_full_q[in_wbank_q];
  assign in_hs         = s_axis_tvalid && s_axis_tready;
  assign in_done       = in_hs && (in_pix_q == PixW'(InPixels - 1));
  assign in_waddr      = in_wbank_q ? InAW'(InPixels) + InAW'(in_pix_q) : InAW'(in_pix_q);

  always_ff @(posedge clk_i) begin
    if (in_hs) begin
      in_buf[in_waddr] <= s_axis_tdata;
    end
  end

  // A bank is filled only when it is empty and released only when it is full, so
  // in_done and fc1_release of the same cycle always concern different banks.
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      in_full_q  <= '0;
      in_wbank_q <= 1'b0;
      in_rbank_q <= 1'b0;
      in_pix_q   <= '0;
    end else begin
      if (in_hs) begin
        in_pix_q <= in_done ? '0 : in_pix_q + PixW'(1);
      end
      if (in_done) begin
        in_full_q[in_wbank_q] <= 1'b1;
        in_wbank_q            <= !in_wbank_q;
      end
      if (fc1_release) begin
        in_full_q[in_rbank_q] <= 1'b0;
        in_rbank_q            <= !in_rbank_q;
      end
    end
  end

  // ------------------------------------------------------------ sequencer
  fc_layer_e         layer;
  logic              issue;
  logic [ActW-1:0]   act_idx;
  logic [InAW-1:0]   in_raddr;
  logic [WAddrW-1:0] lane_raddr;
  logic              lane_valid, lane_first, lane_last, acc_load;
  logic [ChW-1:0]    sa_ch;
  logic              sa_last;
  logic [NW-1:0]     acc_obase;
  logic              hold_valid, feeder_idle;
  logic              out_busy, out_start;

  fc_sequencer #(
    .Lanes      (Lanes),
    .InputsPar  (K),
    .InChannels (InChannels),
    .InPixels   (InPixels),
    .Fc1Out     (Fc1Out),
    .Fc2Out     (Fc2Out),
    .Fc3Out     (Fc3Out),
    .WBase2     (WBase2),
    .WBase3     (WBase3),
    .WAddrW     (WAddrW),
    .IdxW       (IdxW),
    .ActW       (ActW),
    .GrpW       (GrpW),
    .NW         (NW),
    .PixW       (PixW),
    .ChW        (ChW),
    .InAW       (InAW)
  ) u_sequencer (
    .clk_i,
    .rst_ni,
    .in_full_i     (in_full_q[in_rbank_q]),
    .in_rbank_i    (in_rbank_q),
    .hold_valid_i  (hold_valid),
    .feeder_idle_i (feeder_idle),
    .out_busy_i    (out_busy),
    .layer_o       (layer),
    .issue_o       (issue),
    .act_idx_o     (act_idx),
    .in_raddr_o    (in_raddr),
    .waddr_o       (lane_raddr),
    .fc1_release_o (fc1_release),
    .sa_ch_o       (sa_ch),
    .sa_last_o     (sa_last),
    .lane_valid_o  (lane_valid),
    .lane_first_o  (lane_first),
    .lane_last_o   (lane_last),
    .acc_load_o    (acc_load),
    .acc_obase_o   (acc_obase),
    .out_start_o   (out_start)
  );

  // Constants of the running layer for requant and the lanes, in registers: a layer's
  // first step reaches SB (zp_in) and its first sum requant (zp_out) cycles after the
  // sequencer has switched layers.
  logic       cur_relu;
  logic [7:0] cur_zp_in, cur_zp_out;

  always_ff @(posedge clk_i) begin
    cur_relu   <= (layer == FcLayerFc3) ? Fc3Relu : Fc1Relu;  // fc2 = fc1 (checked above)
    cur_zp_in  <= zp_mem[layer][7:0];
    cur_zp_out <= zp_mem[layer][15:8];
  end

  // ------------------------------------------------------------ activation buffers
  // Stages as in fc_sequencer: the buffers' read data (S1) is copied into plain registers
  // (SA) before the chunk select and the zero-point subtraction (SB): the input buffer is a
  // block RAM without output register. act1 / act2: K codes per word (neuron o: word o / K,
  // byte o % K).
  logic [InChannels*8-1:0] in_rd_q, in_sa_q;
  logic [8*K-1:0]          act1 [Fc2Steps];  // fc1 out / fc2 in
  logic [8*K-1:0]          act2 [Fc3Steps];  // fc2 out / fc3 in
  logic [8*K-1:0]          act1_rd_q, act2_rd_q, act1_sa_q, act2_sa_q;
  logic [7:0]              res_q [Fc3Out];  // fc3 out
  logic                    rq_out_valid;
  logic [7:0]              rq_out;
  logic [OutW-1:0]         rq_tag;

  always_ff @(posedge clk_i) begin
    // Only the running layer's buffer is read (separate RAMs, read enables).
    if (issue && (layer == FcLayerFc1)) begin
      in_rd_q <= in_buf[in_raddr];
    end
    if (issue && (layer == FcLayerFc2)) begin
      act1_rd_q <= act1[A1W'(act_idx)];
    end
    if (issue && (layer == FcLayerFc3)) begin
      act2_rd_q <= act2[A2W'(act_idx)];
    end
    in_sa_q   <= in_rd_q;
    act1_sa_q <= act1_rd_q;
    act2_sa_q <= act2_rd_q;
    if (rq_out_valid) begin
      unique case (layer)
        FcLayerFc1: act1[A1W'(rq_tag / OutW'(K))][8*(rq_tag % OutW'(K)) +: 8] <= rq_out;
        FcLayerFc2: act2[A2W'(rq_tag / OutW'(K))][8*(rq_tag % OutW'(K)) +: 8] <= rq_out;
        default:    res_q[A3W'(rq_tag)] <= rq_out;
      endcase
    end
  end

  // ------------------------------------------------------------ MAC lanes
  // SB: the K centred activations, shared by all lanes (0 past the tail step's last input);
  // the weight read is issued a cycle later (S1) than the activation read so that both
  // reach the multipliers together.
  logic [K-1:0][7:0] x_sa;
  logic [K-1:0]      x_keep;
  logic [K-1:0][8:0] xc_sb_q;
  logic              w_re_q;
  logic [WAddrW-1:0] w_raddr_q;

  always_comb begin
    unique case (layer)
      FcLayerFc1: x_sa = in_sa_q[8*K*sa_ch +: 8*K];
      FcLayerFc2: x_sa = act1_sa_q;
      default:    x_sa = act2_sa_q;
    endcase
    for (int unsigned b = 0; b < K; b++) begin
      unique case (layer)
        FcLayerFc2: x_keep[b] = !sa_last || (b < Fc2Tail);
        FcLayerFc3: x_keep[b] = !sa_last || (b < Fc3Tail);
        default:    x_keep[b] = 1'b1;
      endcase
    end
  end

  always_ff @(posedge clk_i) begin
    for (int unsigned b = 0; b < K; b++) begin
      xc_sb_q[b] <= x_keep[b] ? 9'($signed({1'b0, x_sa[b]}) - $signed({1'b0, cur_zp_in})) : '0;
    end
    w_re_q    <= issue;
    w_raddr_q <= lane_raddr;
  end

  logic [Lanes-1:0][AccW-1:0] hold;

  for (genvar l = 0; l < Lanes; l++) begin : g_lane
    fc_lane #(
      .Lane      (l),
      .Lanes     (Lanes),
      .InputsPar (K),
      .InPixels  (InPixels),
      .ByteW     (ByteW),
      .Fc1In    (Fc1In),
      .Fc1Out   (Fc1Out),
      .Fc2Out   (Fc2Out),
      .Fc3Out   (Fc3Out),
      .WBase2   (WBase2),
      .WBase3   (WBase3),
      .WDepth   (WDepth),
      .WAddrW   (WAddrW),
      .AccW     (AccW),
      .ParamDir (ParamDir)
    ) u_lane (
      .clk_i      (clk_i),
      .we_i       (w_we[l]),
      .waddr_i    (w_addr[l]),
      .wbyte_i    (w_byte[l]),
      .wdata_i    (w_data[l]),
      .re_i       (w_re_q),
      .raddr_i    (w_raddr_q),
      .xc_i       (xc_sb_q),
      .s2_valid_i (lane_valid),
      .s2_first_i (lane_first),
      .s2_last_i  (lane_last),
      .hold_o     (hold[l])
    );
  end

  // ------------------------------------------------------------ requant
  logic                   rq_in_valid, rq_in_ready;
  logic signed [AccW-1:0] rq_acc;
  logic [OutW-1:0]        rq_in_tag;

  fc_requant_feeder #(
    .Lanes  (Lanes),
    .Fc1Out (Fc1Out),
    .Fc2Out (Fc2Out),
    .Fc3Out (Fc3Out),
    .BBase2 (BBase2),
    .BBase3 (BBase3),
    .BAddrW (BAddrW),
    .AccW   (AccW),
    .NW     (NW),
    .LaneW  (LaneW),
    .OutW   (OutW)
  ) u_feeder (
    .clk_i,
    .rst_ni,
    .layer_i        (layer),
    .load_i         (acc_load),
    .obase_i        (acc_obase),
    .hold_i         (hold),
    .hold_valid_o   (hold_valid),
    .idle_o         (feeder_idle),
    .rd_en_o        (f_rd_en),
    .rd_addr_o      (f_raddr),
    .rq_valid_o     (rq_in_valid),
    .rq_ready_i     (rq_in_ready),
    .acc_o          (rq_acc),
    .tag_o          (rq_in_tag),
    .rq_out_valid_i (rq_out_valid)
  );

  // RQ: one register stage between the feeder (and the bias / requant block RAMs, which have
  // no output register) and requant. It has no backpressure: requant's output is always
  // accepted, so its FIFO stays empty and in_ready_o stays high; a beat the feeder hands
  // over (rq_in_valid && rq_in_ready) reaches requant one cycle later.
  logic                   rs_valid_q;
  logic signed [AccW-1:0] rs_acc_q;
  logic [OutW-1:0]        rs_tag_q;
  logic [31:0]            rs_bias_q;
  logic [29:0]            rs_rq_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rs_valid_q <= 1'b0;
    end else begin
      rs_valid_q <= rq_in_valid && rq_in_ready;
    end
  end

  always_ff @(posedge clk_i) begin
    rs_acc_q  <= rq_acc;
    rs_tag_q  <= rq_in_tag;
    rs_bias_q <= bias_rd_q;
    rs_rq_q   <= rq_rd_q;
  end

  requant #(
    .TagWidth (OutW)
  ) u_requant (
    .clk_i       (clk_i),
    .rst_ni      (rst_ni),
    .in_valid_i  (rs_valid_q),
    .in_ready_o  (rq_in_ready),
    .acc_i       (32'(rs_acc_q)),
    .bias_i      (rs_bias_q),
    .m24_i       (rs_rq_q[23:0]),
    .shift_i     (rs_rq_q[29:24]),
    .zp_out_i    (cur_zp_out),
    .relu_i      (cur_relu),
    .tag_i       (rs_tag_q),
    .out_valid_o (rq_out_valid),
    .out_ready_i (1'b1),          // the activation buffers always accept
    .out_o       (rq_out),
    .tag_o       (rq_tag)
  );

  // ------------------------------------------------------------ argmax + output stream
  logic [Fc3Out*8-1:0] res_flat;

  always_comb begin
    for (int unsigned k = 0; k < Fc3Out; k++) begin
      res_flat[8*k +: 8] = res_q[k];
    end
  end

  fc_result_tx #(
    .Fc3Out (Fc3Out)
  ) u_result_tx (
    .clk_i,
    .rst_ni,
    .wr_i          (rq_out_valid && (layer == FcLayerFc3)),
    .wr_idx_i      (A3W'(rq_tag)),
    .wr_code_i     (rq_out),
    .start_i       (out_start),
    .res_i         (res_flat),
    .busy_o        (out_busy),
    .m_axis_tdata,
    .m_axis_tvalid,
    .m_axis_tready,
    .m_axis_tlast
  );

endmodule
