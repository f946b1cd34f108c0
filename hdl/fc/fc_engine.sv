// Fully connected back end of FashionLeNet: fc1 (ReLU) -> fc2 (ReLU) -> fc3 -> argmax.
//
// Input: one AXI4-Stream beat per pixel with all InChannels channels (channel c in tdata[8c+7:8c]),
// InPixels beats per image. The frame is delimited by the beat count; s_axis_tlast is not used
// (the producer's framing is trusted). Beat p is stored as word p of an input buffer bank, so the
// flattened activation i = c*InPixels + p (PyTorch flatten order) is byte c of word p.
//
// Compute: Lanes MAC lanes (fc_lane), lane l computes neuron o = g*Lanes + l of
// group g; a group reads one activation per cycle for In cycles, all lanes share it.
// acc = sum (x - zp_in) * w. At the end of a group the sums are copied to the lanes'
// hold registers and fed serially through one shared `requant` unit (Lanes cycles,
// hidden behind the next group's In cycles) into the next activation buffer:
//   input buffer --fc1--> act1 --fc2--> act2 --fc3--> result registers.
// The input buffer has two banks (ping-pong): the producer fills one while fc1 reads the
// other, so the next image is taken in while fc1..fc3 run on the current one; a bank is
// free again once fc1 has issued its last read of it.
//
// Output: m_axis, 1 + Fc3Out beats per image: class index, then the Fc3Out fc3
// codes; tlast on the last. fc3 of the next image waits until they are sent.
//
// Cycles per image back to back: per layer ceil(Out / Lanes) groups x In, then the last
// group's requant feed (a cycle per neuron) and ~8 of drain; input/output beats overlap the
// MACs. Measured (tb/test_fc_engine.py, default sizes), per image and last input -> last
// output beat: Lanes = 8: 15 x 576 + 11 x 120 + 2 x 84 = 10128 MAC cycles, 10167, 10179;
// Lanes = 18 (the top's default): 7 x 576 + 5 x 120 + 1 x 84 = 4716, 4775, 4787.
//
// Parameters: per-layer memories written through the parameter port (registered,
// applied one cycle later; write them while the engine is idle) or preloaded from
// {ParamDir, "/fc<k>_{weight,bias,requant,zp}.mem"}. Weight address = o*In + i.
//
// AXI4-Stream ports keep their AMBA names (s_axis_*, m_axis_*) so cocotbext-axi binds by prefix.
module fc_engine import fashion_lenet_pkg::*; #(
  parameter int unsigned Lanes      = 8,
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

  // Weight bank address map (per lane): fc1 groups, then fc2, then fc3.
  localparam int unsigned WBase2 = Fc1Groups * Fc1In;
  localparam int unsigned WBase3 = WBase2 + Fc2Groups * Fc2In;
  localparam int unsigned WDepth = WBase3 + Fc3Groups * Fc3In;
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
  localparam int unsigned IdxW   = cw(MaxIn);
  localparam int unsigned GrpW   = cw(MaxGroups);
  localparam int unsigned NW     = cw(MaxGroups * Lanes);  // neuron index incl. padding lanes
  localparam int unsigned OutW   = cw(MaxOut);
  localparam int unsigned A1W    = cw(Fc1Out);   // act1 index
  localparam int unsigned A2W    = cw(Fc2Out);   // act2 index
  localparam int unsigned A3W    = cw(Fc3Out);   // result index
  localparam int unsigned LaneW  = cw(Lanes);
  localparam int unsigned PixW   = cw(InPixels);
  localparam int unsigned InAW   = cw(2 * InPixels);  // input buffer address (two banks)
  localparam int unsigned ChW    = cw(InChannels);
  localparam int unsigned BeatW  = cw(Fc3Out + 1);
  localparam int unsigned ClsW   = $clog2(Fc3Out);

  // Parameter address o*In + i -> (o, i) without a divider: o = (a * Mult) >> Shift
  // with Mult = ceil(2^Shift / In), Shift = PAddrW + clog2(In), exact for every
  // a < 2^PAddrW (Granlund & Montgomery 1994, theorem 4.2).
  localparam int unsigned PAddrW = ParamIndexWidth;
  function automatic longint unsigned div_shift(input int unsigned d);
    return 64'(PAddrW) + 64'($clog2(d));
  endfunction
  function automatic longint unsigned div_mult(input int unsigned d);
    return ((64'd1 << div_shift(d)) + longint'(d) - 64'd1) / longint'(d);
  endfunction
  localparam longint unsigned Div1Shift = div_shift(Fc1In);
  localparam longint unsigned Div2Shift = div_shift(Fc2In);
  localparam longint unsigned Div3Shift = div_shift(Fc3In);
  localparam longint unsigned Div1Mult  = div_mult(Fc1In);
  localparam longint unsigned Div2Mult  = div_mult(Fc2In);
  localparam longint unsigned Div3Mult  = div_mult(Fc3In);

  if (AccW > 32) begin : g_err_acc
    $fatal(1, "fc_engine: In = %0d too large for 32-bit accumulators", MaxIn);
  end
  if (Fc1Out * Fc1In > (1 << PAddrW) || Fc2Out * Fc2In > (1 << PAddrW)
      || Fc3Out * Fc3In > (1 << PAddrW)) begin : g_err_addr
    $fatal(1, "fc_engine: weight count exceeds the %0d-bit parameter address", PAddrW);
  end
  if (Fc3Out < 2 || Fc3Out > 255) begin : g_err_out
    $fatal(1, "fc_engine: Fc3Out must be 2..255");
  end

  // ------------------------------------------------------------ parameter port
  // Registered, then decoded: the decode (constant multiplies) gets its own cycle.
  logic        p_we_q;
  fc_layer_e   p_layer_q;
  param_kind_e p_sel_q;
  logic [PAddrW-1:0] p_addr_q;
  logic [31:0] p_wdata_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      p_we_q <= 1'b0;
    end else begin
      p_we_q <= param_we_i;
    end
  end

  always_ff @(posedge clk_i) begin
    p_layer_q <= param_layer_i;
    p_sel_q   <= param_sel_i;
    p_addr_q  <= param_addr_i;
    p_wdata_q <= param_wdata_i;
  end

  logic              p_layer_ok;
  logic [PAddrW-1:0] p_in, p_out, p_quot;
  logic [WAddrW-1:0] p_wbase;
  logic [BAddrW-1:0] p_bbase;
  logic [63:0]       p_prod;

  always_comb begin
    p_layer_ok = 1'b1;
    p_in       = PAddrW'(Fc1In);
    p_out      = PAddrW'(Fc1Out);
    p_wbase    = '0;
    p_bbase    = '0;
    p_prod     = 64'(p_addr_q) * Div1Mult;
    p_quot     = PAddrW'(p_prod >> Div1Shift);
    unique case (p_layer_q)
      FcLayerFc2: begin
        p_in    = PAddrW'(Fc2In);
        p_out   = PAddrW'(Fc2Out);
        p_wbase = WAddrW'(WBase2);
        p_bbase = BAddrW'(BBase2);
        p_prod  = 64'(p_addr_q) * Div2Mult;
        p_quot  = PAddrW'(p_prod >> Div2Shift);
      end
      FcLayerFc3: begin
        p_in    = PAddrW'(Fc3In);
        p_out   = PAddrW'(Fc3Out);
        p_wbase = WAddrW'(WBase3);
        p_bbase = BAddrW'(BBase3);
        p_prod  = 64'(p_addr_q) * Div3Mult;
        p_quot  = PAddrW'(p_prod >> Div3Shift);
      end
      fc_layer_e'(NumFcLayers): p_layer_ok = 1'b0;  // no such layer
      default: ;
    endcase
  end

  // Weight write: neuron o = p_quot, input i; bank o % Lanes, row o / Lanes.
  logic              w_we;
  logic [LaneW-1:0]  w_lane;
  logic [WAddrW-1:0] w_addr;
  logic [PAddrW-1:0] w_i;
  logic [PAddrW-1:0] w_row;

  always_comb begin
    w_i    = p_addr_q - PAddrW'(p_quot * p_in);
    w_row  = p_quot / PAddrW'(Lanes);
    w_lane = LaneW'(p_quot % PAddrW'(Lanes));
    w_addr = p_wbase + WAddrW'(w_row * p_in + w_i);
    w_we   = p_we_q && p_layer_ok && (p_sel_q == ParamWeight) && (p_quot < p_out);
  end

  logic              b_we, r_we, z_we;
  logic [BAddrW-1:0] b_waddr;

  always_comb begin
    b_waddr = p_bbase + BAddrW'(p_addr_q);
    b_we    = p_we_q && p_layer_ok && (p_sel_q == ParamBias) && (p_addr_q < p_out);
    r_we    = p_we_q && p_layer_ok && (p_sel_q == ParamRequant) && (p_addr_q < p_out);
    z_we    = p_we_q && p_layer_ok && (p_sel_q == ParamZp) && (p_addr_q == '0);  // one word per layer
  end

  // ------------------------------------------------------------ bias / requant / zp memories
  logic [31:0] bias_mem [BDepth];
  logic [29:0] rq_mem [BDepth];   // shift << 24 | m24
  logic [15:0] zp_mem [NumFcLayers];  // zp_out << 8 | zp_in, per layer (register file)

  logic              f_issue;
  logic [BAddrW-1:0] f_raddr;
  logic [31:0]       bias_rd_q;
  logic [29:0]       rq_rd_q;

  always_ff @(posedge clk_i) begin
    if (b_we) begin
      bias_mem[b_waddr] <= p_wdata_q;
    end
    if (r_we) begin
      rq_mem[b_waddr] <= p_wdata_q[29:0];
    end
    if (z_we) begin
      zp_mem[p_layer_q] <= p_wdata_q[15:0];
    end
    if (f_issue) begin
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
  typedef enum logic [1:0] {SeqIdle, SeqIssue, SeqDrain} seq_e;

  seq_e              seq_q;
  fc_layer_e         layer_q;
  logic [GrpW-1:0]   grp_q;
  logic [IdxW-1:0]   idx_q;
  logic [PixW-1:0]   pix_q;
  logic [ChW-1:0]    ch_q;
  logic [WAddrW-1:0] waddr_q;

  // Per-layer constants of the running layer.
  logic [IdxW-1:0]   cur_in_last;
  logic [GrpW-1:0]   cur_grp_last;
  logic [NW-1:0]     cur_out;
  logic [BAddrW-1:0] cur_bbase;
  logic              cur_relu;
  logic [7:0]        cur_zp_in, cur_zp_out;

  always_comb begin
    cur_in_last  = IdxW'(Fc1In - 1);
    cur_grp_last = GrpW'(Fc1Groups - 1);
    cur_out      = NW'(Fc1Out);
    cur_bbase    = '0;
    cur_relu     = Fc1Relu;  // and fc2's (checked at the end)
    unique case (layer_q)
      FcLayerFc2: begin
        cur_in_last  = IdxW'(Fc2In - 1);
        cur_grp_last = GrpW'(Fc2Groups - 1);
        cur_out      = NW'(Fc2Out);
        cur_bbase    = BAddrW'(BBase2);
      end
      FcLayerFc3: begin
        cur_in_last  = IdxW'(Fc3In - 1);
        cur_grp_last = GrpW'(Fc3Groups - 1);
        cur_out      = NW'(Fc3Out);
        cur_bbase    = BAddrW'(BBase3);
        cur_relu     = Fc3Relu;
      end
      default: ;
    endcase
    cur_zp_in  = zp_mem[layer_q][7:0];
    cur_zp_out = zp_mem[layer_q][15:8];
  end

  // MAC pipeline state (valid/first/last of S1 and S2; data lives in fc_lane).
  logic            s1_valid_q, s1_first_q, s1_last_q;
  logic            s2_valid_q, s2_first_q, s2_last_q;
  logic [ChW-1:0]  s1_ch_q;
  logic [NW-1:0]   s1_obase_q, s2_obase_q;

  // Lane hold registers -> requant feeder.
  logic            hold_valid_q;
  logic [NW-1:0]   hold_obase_q;
  logic            f1_valid_q;
  logic [5:0]      rq_cnt_q;       // beats inside requant
  logic            drained;

  logic            out_busy_q;     // result registers are being sent
  logic            out_start;

  logic issue, issue_last, issue_stall;

  assign issue_last  = (idx_q == cur_in_last);
  // A group's final sums may only enter the hold registers once the previous group's
  // sums have been fed to requant: stall the last input of a group until then
  // (never happens when In >= Lanes + 3).
  assign issue_stall = issue_last && (hold_valid_q || s1_last_q || s2_last_q);
  assign issue       = (seq_q == SeqIssue) && !issue_stall;
  assign fc1_release = issue && issue_last && (grp_q == cur_grp_last) && (layer_q == FcLayerFc1);

  assign drained = !s1_valid_q && !s2_valid_q && !hold_valid_q && !f1_valid_q
                && (rq_cnt_q == '0);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      seq_q     <= SeqIdle;
      layer_q   <= FcLayerFc1;
      grp_q     <= '0;
      idx_q     <= '0;
      pix_q     <= '0;
      ch_q      <= '0;
      waddr_q   <= '0;
      out_start <= 1'b0;
    end else begin
      out_start <= 1'b0;
      unique case (seq_q)
        SeqIdle: begin
          if (in_full_q[in_rbank_q]) begin
            seq_q   <= SeqIssue;
            layer_q <= FcLayerFc1;
            grp_q   <= '0;
            idx_q   <= '0;
            pix_q   <= '0;
            ch_q    <= '0;
            waddr_q <= '0;
          end
        end
        SeqIssue: begin
          if (issue) begin
            waddr_q <= waddr_q + WAddrW'(1);
            if (issue_last) begin
              idx_q <= '0;
              pix_q <= '0;
              ch_q  <= '0;
              if (grp_q == cur_grp_last) begin
                grp_q <= '0;
                seq_q <= SeqDrain;
              end else begin
                grp_q <= grp_q + GrpW'(1);
              end
            end else begin
              idx_q <= idx_q + IdxW'(1);
              // fc1 walks i = c*InPixels + p: pixel inner, channel outer
              if (pix_q == PixW'(InPixels - 1)) begin
                pix_q <= '0;
                ch_q  <= ch_q + ChW'(1);
              end else begin
                pix_q <= pix_q + PixW'(1);
              end
            end
          end
        end
        SeqDrain: begin
          // The next layer reads what this one wrote: wait until requant is empty.
          if (drained) begin
            unique case (layer_q)
              FcLayerFc1: begin
                layer_q <= FcLayerFc2;
                waddr_q <= WAddrW'(WBase2);
                seq_q   <= SeqIssue;
              end
              FcLayerFc2: begin
                // fc3 overwrites the result registers: wait for the previous send.
                if (!out_busy_q) begin
                  layer_q <= FcLayerFc3;
                  waddr_q <= WAddrW'(WBase3);
                  seq_q   <= SeqIssue;
                end
              end
              default: begin
                out_start <= 1'b1;
                seq_q     <= SeqIdle;
              end
            endcase
          end
        end
        default: seq_q <= SeqIdle;
      endcase
    end
  end

  // ------------------------------------------------------------ activation buffers
  logic [InChannels*8-1:0] in_rd_q;
  logic [7:0]              act1 [Fc1Out];   // fc1 out / fc2 in
  logic [7:0]              act2 [Fc2Out];   // fc2 out / fc3 in
  logic [7:0]              act1_rd_q, act2_rd_q;
  logic [7:0]              res_q [Fc3Out];  // fc3 out
  logic                    rq_out_valid;
  logic [7:0]              rq_out;
  logic [OutW-1:0]         rq_tag;
  logic [InAW-1:0]         in_raddr;

  assign in_raddr = in_rbank_q ? InAW'(InPixels) + InAW'(pix_q) : InAW'(pix_q);

  always_ff @(posedge clk_i) begin
    // Only the running layer's buffer is read (separate RAMs, read enables).
    if (issue && (layer_q == FcLayerFc1)) begin
      in_rd_q <= in_buf[in_raddr];
    end
    if (issue && (layer_q == FcLayerFc2)) begin
      act1_rd_q <= act1[A1W'(idx_q)];
    end
    if (issue && (layer_q == FcLayerFc3)) begin
      act2_rd_q <= act2[A2W'(idx_q)];
    end
    if (rq_out_valid) begin
      unique case (layer_q)
        FcLayerFc1: act1[A1W'(rq_tag)] <= rq_out;
        FcLayerFc2: act2[A2W'(rq_tag)] <= rq_out;
        default:    res_q[A3W'(rq_tag)] <= rq_out;
      endcase
    end
  end

  // ------------------------------------------------------------ MAC lanes
  logic [7:0]        x_s1;
  logic signed [8:0] xc_s1;

  always_comb begin
    unique case (layer_q)
      FcLayerFc1: x_s1 = in_rd_q[8*s1_ch_q +: 8];
      FcLayerFc2: x_s1 = act1_rd_q;
      default:    x_s1 = act2_rd_q;
    endcase
    xc_s1 = $signed({1'b0, x_s1}) - $signed({1'b0, cur_zp_in});
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      s1_valid_q <= 1'b0;
      s1_first_q <= 1'b0;
      s1_last_q  <= 1'b0;
      s2_valid_q <= 1'b0;
      s2_first_q <= 1'b0;
      s2_last_q  <= 1'b0;
      s1_ch_q    <= '0;
      s1_obase_q <= '0;
      s2_obase_q <= '0;
    end else begin
      s1_valid_q <= issue;
      s1_first_q <= issue && (idx_q == '0);
      s1_last_q  <= issue && issue_last;
      s1_ch_q    <= ch_q;
      s1_obase_q <= NW'(grp_q * Lanes);
      s2_valid_q <= s1_valid_q;
      s2_first_q <= s1_first_q;
      s2_last_q  <= s1_last_q;
      s2_obase_q <= s1_obase_q;
    end
  end

  logic signed [AccW-1:0] hold [Lanes];

  for (genvar l = 0; l < Lanes; l++) begin : g_lane
    fc_lane #(
      .Lane     (l),
      .Lanes    (Lanes),
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
      .we_i       (w_we && (w_lane == LaneW'(l))),
      .waddr_i    (w_addr),
      .wdata_i    (p_wdata_q[7:0]),
      .re_i       (issue),
      .raddr_i    (waddr_q),
      .s1_valid_i (s1_valid_q),
      .xc_i       (xc_s1),
      .s2_valid_i (s2_valid_q),
      .s2_first_i (s2_first_q),
      .s2_last_i  (s2_last_q),
      .hold_o     (hold[l])
    );
  end

  // ------------------------------------------------------------ requant feeder
  // Walks the hold registers lane by lane: F0 reads bias/requant (f_issue), F1 feeds
  // requant. Lanes past the layer's last neuron are skipped.
  logic [LaneW-1:0]       f_k_q;
  logic [NW-1:0]          f_o;
  logic                   f_adv, f_end;
  logic signed [AccW-1:0] f1_acc_q;
  logic [OutW-1:0]        f1_tag_q;
  logic                   rq_in_ready;

  assign f_o     = hold_obase_q + NW'(f_k_q);
  assign f_adv   = !f1_valid_q || rq_in_ready;
  assign f_issue = hold_valid_q && f_adv;
  assign f_end   = (f_k_q == LaneW'(Lanes - 1)) || (f_o == cur_out - NW'(1));
  assign f_raddr = cur_bbase + BAddrW'(f_o);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      hold_valid_q <= 1'b0;
      hold_obase_q <= '0;
      f_k_q        <= '0;
      f1_valid_q   <= 1'b0;
      rq_cnt_q     <= '0;
    end else begin
      // issue_stall guarantees the hold registers are free when a group ends.
      if (s2_valid_q && s2_last_q) begin
        hold_valid_q <= 1'b1;
        hold_obase_q <= s2_obase_q;
      end else if (f_issue && f_end) begin
        hold_valid_q <= 1'b0;
      end
      if (f_issue) begin
        f_k_q <= f_end ? '0 : f_k_q + LaneW'(1);
      end
      if (f_adv) begin
        f1_valid_q <= f_issue;
      end
      rq_cnt_q <= rq_cnt_q + 6'(f1_valid_q && rq_in_ready) - 6'(rq_out_valid);
    end
  end

  always_ff @(posedge clk_i) begin
    if (f_issue) begin
      f1_acc_q <= hold[f_k_q];
      f1_tag_q <= OutW'(f_o);
    end
  end

  requant #(
    .TagWidth (OutW)
  ) u_requant (
    .clk_i       (clk_i),
    .rst_ni      (rst_ni),
    .in_valid_i  (f1_valid_q),
    .in_ready_o  (rq_in_ready),
    .acc_i       (32'(f1_acc_q)),
    .bias_i      (bias_rd_q),
    .m24_i       (rq_rd_q[23:0]),
    .shift_i     (rq_rd_q[29:24]),
    .zp_out_i    (cur_zp_out),
    .relu_i      (cur_relu),
    .tag_i       (f1_tag_q),
    .out_valid_o (rq_out_valid),
    .out_ready_i (1'b1),          // the activation buffers always accept
    .out_o       (rq_out),
    .tag_o       (rq_tag)
  );

  // ------------------------------------------------------------ argmax + output stream
  logic [Fc3Out*8-1:0] res_flat;
  logic [ClsW-1:0]     cls;
  logic [ClsW-1:0]     cls_q;
  logic [BeatW-1:0]    beat_q;

  always_comb begin
    for (int unsigned k = 0; k < Fc3Out; k++) begin
      res_flat[8*k +: 8] = res_q[k];
    end
  end

  argmax #(
    .N     (Fc3Out),
    .Width (8)
  ) u_argmax (
    .values_i (res_flat),
    .index_o  (cls)
  );

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      out_busy_q <= 1'b0;
      beat_q     <= '0;
      cls_q      <= '0;
    end else if (out_start) begin
      out_busy_q <= 1'b1;
      beat_q     <= '0;
      cls_q      <= cls;
    end else if (out_busy_q && m_axis_tready) begin
      if (m_axis_tlast) begin
        out_busy_q <= 1'b0;
        beat_q     <= '0;
      end else begin
        beat_q <= beat_q + BeatW'(1);
      end
    end
  end

  assign m_axis_tvalid = out_busy_q;
  assign m_axis_tlast  = (beat_q == BeatW'(Fc3Out));
  assign m_axis_tdata  = (beat_q == '0) ? 8'(cls_q) : res_flat[8*(beat_q - BeatW'(1)) +: 8];

  // fc2 runs with fc1's ReLU setting (cur_relu above), fc3 with its own.
  if (Fc2Relu != Fc1Relu) begin : g_err_relu
    $fatal(1, "fc_engine: fc1 and fc2 must agree on ReLU");
  end

endmodule
