// Fast end-to-end regression harness for fashion_lenet_accel (test bench only, not synthesizable).
//
// Everything that runs per clock cycle lives here in HDL, so a cocotb test only waits for
// `done` (one value-change callback) and Python is never woken per clock edge:
//
//   * clock (10 ns) and reset generated in HDL (needs Verilator --timing);
//   * image ROM: +IMAGES_FILE=<file> (one pixel byte per line, hex, Pixels = 784 per image, row-major),
//     +NUM_IMAGES=<n> images (<= MaxImages), loaded with $readmemh: one build serves any set;
//   * stream driver on s_axis: Pixels beats per image back to back, tlast on the last, optional
//     pseudo-random idle cycles (+IDLE_PCT=<0..99>, LFSR seeded by +SEED=<n>);
//   * result sink on m_axis: ResultBeats = 11 per image (class, fc3[0..9]), optional pseudo-random
//     backpressure (+BP_PCT=<0..99>) and a hold of each image's first beat (+SINK_HOLD=<cycles>);
//   * per-image cycle stamps (first pixel accepted, last pixel accepted, last result beat) and
//     the DUT's LAST_CYCLES CSR value after each image;
//   * +RESULTS_FILE=<file>: a line naming the fields, then one line per image as it completes:
//       <index> <class> <fc3_0> .. <fc3_9> <in_first> <in_last> <out_last> <last_cycles> <beats>
//       <in_gaps> <out_stalls> then for conv1, conv2, fc1, fc2, fc3: <sat_low> <sat_high> <big> <tie>
//     (decimal; cycles count from reset release; <beats> = result beats up to tlast);
//   * +PARAM_WRITES=<file> +NUM_WRITES=<n> (optional): AXI4-Lite writes done before the first
//     image (one 64-bit hex word per line: address << 32 | data), e.g. a whole parameter set
//     (model.export.axil_writes) or one corrupted word (fault injection); an answer other
//     than OKAY is counted in `param_errors`;
//   * functional coverage: a requant_monitor on each requant instance counts, per image and
//     layer (conv1, conv2, fc1, fc2, fc3), the beats clamped low, clamped high, with
//     |acc + bias| >= 2^24 and with a rounding tie; plus input idle cycles inside each frame
//     and output stall cycles (tvalid && !tready) per image;
//   * `done` rises when all results are in (or the +MAX_CYCLES watchdog fires, then `timeout`
//     is set as well); +FINISH calls $finish shortly after (standalone runs, no cocotb).
//
// The parameter memories are preloaded from ParamDir (model/export.py .mem files). Shapes and
// the default folding come from fashion_lenet_pkg (generated from model/network.py).
// Build/lint with --timing --timescale 1ns/1ps (the DUT's files carry no `timescale).
module regress_harness import fashion_lenet_pkg::*; #(
  // the DUT's folding (the top's defaults)
  parameter int unsigned Lanes               = DefaultLanes,
  parameter int unsigned FcInputsPar         = DefaultFcInputsPar,
  parameter int unsigned Conv1OutChannelsPar = DefaultConv1OutChannelsPar,
  parameter int unsigned Conv2InChannelsPar  = DefaultConv2InChannelsPar,
  parameter int unsigned Conv2OutChannelsPar = DefaultConv2OutChannelsPar,
  parameter int unsigned Conv1UseDsp         = DefaultConv1UseDsp,
  parameter int unsigned Conv2UseDsp         = DefaultConv2UseDsp,
  parameter string       ParamDir           = "",
  parameter int unsigned MaxImages          = 10000,
  parameter int unsigned MaxWrites          = 131072
) ();

  localparam int unsigned ClkHalfNs   = 5;
  localparam int unsigned ResetCycles = 4;
  localparam int unsigned NumEvents   = 4;    // sat_low, sat_high, big, tie
  // requant beats per image and layer (index = layer_e): conv before pooling (C x H x W), fc neurons
  localparam int unsigned BeatsPerImage [NumLayers] = '{Conv1Out * Conv1OutSize * Conv1OutSize,
      Conv2Out * Conv2OutSize * Conv2OutSize, Fc1Out, Fc2Out, Fc3Out};

  // ------------------------------------------------------------ plusargs
  string       images_file, results_file, writes_file;
  int unsigned num_images, idle_pct, bp_pct, seed, max_cycles, num_writes, sink_hold;
  bit          finish_on_done;
  int          res_fd;

  logic [7:0]  rom [MaxImages * Pixels];
  logic [63:0] writes_rom [MaxWrites];

  initial begin
    if (!$value$plusargs("IMAGES_FILE=%s", images_file)) $fatal(1, "regress_harness: +IMAGES_FILE missing");
    if (!$value$plusargs("RESULTS_FILE=%s", results_file)) results_file = "results.txt";
    if (!$value$plusargs("NUM_IMAGES=%d", num_images)) $fatal(1, "regress_harness: +NUM_IMAGES missing");
    if (!$value$plusargs("IDLE_PCT=%d", idle_pct)) idle_pct = 0;
    if (!$value$plusargs("BP_PCT=%d", bp_pct)) bp_pct = 0;
    if (!$value$plusargs("SEED=%d", seed)) seed = 1;
    if (!$value$plusargs("SINK_HOLD=%d", sink_hold)) sink_hold = 0;
    // 4.8k (default folding) to 10.2k cycles per image back to back; 4x margin plus the fill
    if (!$value$plusargs("MAX_CYCLES=%d", max_cycles)) max_cycles = num_images * 50000 + 100000;
    finish_on_done = $test$plusargs("FINISH");
    if (num_images < 1 || num_images > MaxImages) begin
      $fatal(1, "regress_harness: +NUM_IMAGES=%0d outside 1..%0d", num_images, MaxImages);
    end
    $readmemh(images_file, rom, 0, num_images * Pixels - 1);
    if ($value$plusargs("PARAM_WRITES=%s", writes_file)) begin
      if (!$value$plusargs("NUM_WRITES=%d", num_writes) || num_writes < 1 || num_writes > MaxWrites) begin
        $fatal(1, "regress_harness: +PARAM_WRITES needs +NUM_WRITES=1..%0d", MaxWrites);
      end
      $readmemh(writes_file, writes_rom, 0, num_writes - 1);
      $display("regress_harness: %0d AXI4-Lite writes from %s before the first image", num_writes, writes_file);
    end else begin
      num_writes = 0;
    end
    res_fd = $fopen(results_file, "w");
    if (res_fd == 0) $fatal(1, "regress_harness: cannot open %s", results_file);
    $display("regress_harness: %0d images from %s, idle %0d%%, backpressure %0d%%, seed %0d -> %s",
             num_images, images_file, idle_pct, bp_pct, seed, results_file);
  end

  // ------------------------------------------------------------ clock and reset
  logic clk, rst_n;

  initial begin
    clk = 1'b0;
    forever #(ClkHalfNs) clk = ~clk;
  end

  initial begin
    rst_n = 1'b0;
    repeat (ResetCycles) @(posedge clk);
    @(negedge clk);  // release away from the active edge
    rst_n = 1'b1;
  end

  // ------------------------------------------------------------ DUT
  logic [7:0]  s_axis_tdata, m_axis_tdata;
  logic        s_axis_tvalid, s_axis_tready, s_axis_tlast;
  logic        m_axis_tvalid, m_axis_tready, m_axis_tlast;
  logic        axil_awvalid, axil_wvalid;
  logic [AddrWidth-1:0] axil_awaddr;
  logic [31:0] axil_wdata;
  logic        axil_awready, axil_wready, axil_bvalid, axil_arready, axil_rvalid;
  logic [1:0]  axil_bresp, axil_rresp;
  logic [31:0] axil_rdata;

`ifdef MUTATION
  // scripts/mutate.py: the DUT is Yosys's flattened netlist carrying every mutant, selected by
  // its extra `mutsel` input (0 = the design as written); no preload, no parameters
  logic [15:0] mutsel;
  initial begin
    if (!$value$plusargs("MUTSEL=%d", mutsel)) mutsel = '0;
  end

  fashion_lenet_accel u_dut (
    .mutsel,
`else
  fashion_lenet_accel #(
    .Lanes               (Lanes),
    .FcInputsPar         (FcInputsPar),
    .Conv1OutChannelsPar (Conv1OutChannelsPar),
    .Conv2InChannelsPar  (Conv2InChannelsPar),
    .Conv2OutChannelsPar (Conv2OutChannelsPar),
    .Conv1UseDsp         (Conv1UseDsp),
    .Conv2UseDsp         (Conv2UseDsp),
    .ParamDir            (ParamDir)
  ) u_dut (
`endif
    .clk_i          (clk),
    .rst_ni         (rst_n),
    .s_axis_tdata,
    .s_axis_tvalid,
    .s_axis_tready,
    .s_axis_tlast,
    .m_axis_tdata,
    .m_axis_tvalid,
    .m_axis_tready,
    .m_axis_tlast,
    .s_axil_awaddr  (axil_awaddr),
    .s_axil_awprot  ('0),
    .s_axil_awvalid (axil_awvalid),
    .s_axil_awready (axil_awready),
    .s_axil_wdata   (axil_wdata),
    .s_axil_wstrb   (4'hF),
    .s_axil_wvalid  (axil_wvalid),
    .s_axil_wready  (axil_wready),
    .s_axil_bresp   (axil_bresp),
    .s_axil_bvalid  (axil_bvalid),
    .s_axil_bready  (1'b1),
    .s_axil_araddr  ('0),
    .s_axil_arprot  ('0),
    .s_axil_arvalid (1'b0),
    .s_axil_arready (axil_arready),
    .s_axil_rdata   (axil_rdata),
    .s_axil_rresp   (axil_rresp),
    .s_axil_rvalid  (axil_rvalid),
    .s_axil_rready  (1'b1)
  );

  logic unused_axil;
  assign unused_axil = ^{axil_arready, axil_rvalid, axil_rresp, axil_rdata};

  // ------------------------------------------------------------ parameter writes (AXI4-Lite)
  // One write at a time: address and data offered together, the next after the response.
  logic [31:0] pw_idx_q;
  logic        pw_aw_done_q, pw_w_done_q, pw_active, params_done;
  logic [31:0] param_errors /* verilator public_flat_rd */;

  assign pw_active    = rst_n && (pw_idx_q < num_writes);
  assign params_done  = !pw_active && rst_n;
  assign axil_awvalid = pw_active && !pw_aw_done_q;
  assign axil_wvalid  = pw_active && !pw_w_done_q;
  assign axil_awaddr  = writes_rom[pw_idx_q[16:0]][55:32];
  assign axil_wdata   = writes_rom[pw_idx_q[16:0]][31:0];

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      pw_idx_q     <= '0;
      pw_aw_done_q <= 1'b0;
      pw_w_done_q  <= 1'b0;
      param_errors <= '0;
    end else begin
      if (axil_awvalid && axil_awready) pw_aw_done_q <= 1'b1;
      if (axil_wvalid && axil_wready)   pw_w_done_q  <= 1'b1;
      if (axil_bvalid) begin  // bready is tied high
        if (axil_bresp != 2'b00) begin
          param_errors <= param_errors + 32'd1;
          $display("ERROR regress_harness: parameter write %0d (address 0x%06x) answered %0d",
                   pw_idx_q, axil_awaddr, axil_bresp);
        end
        pw_aw_done_q <= 1'b0;
        pw_w_done_q  <= 1'b0;
        pw_idx_q     <= pw_idx_q + 32'd1;
      end
    end
  end

  // ------------------------------------------------------------ cycle counter, LFSRs
  logic [31:0] cycle_q;
  logic [31:0] lfsr_in_q, lfsr_out_q;

  // 32-bit Galois LFSR (taps 32, 22, 2, 1), one step per cycle
  function automatic logic [31:0] lfsr_step(logic [31:0] v);
    return {1'b0, v[31:1]} ^ (v[0] ? 32'h8020_0003 : 32'h0);
  endfunction

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      cycle_q    <= '0;
      lfsr_in_q  <= (seed == 0) ? 32'h1 : 32'(seed);
      lfsr_out_q <= 32'h9E37_79B9 ^ ((seed == 0) ? 32'h1 : 32'(seed) * 32'd2654435761);
    end else begin
      cycle_q    <= cycle_q + 32'd1;
      lfsr_in_q  <= lfsr_step(lfsr_in_q);
      lfsr_out_q <= lfsr_step(lfsr_out_q);
    end
  end

  logic idle_now, stall_now;
  assign idle_now  = (idle_pct != 0) && ((lfsr_in_q[31:8] % 24'd100) < 24'(idle_pct));
  assign stall_now = (bp_pct != 0) && ((lfsr_out_q[31:8] % 24'd100) < 24'(bp_pct));

  // ------------------------------------------------------------ stream driver (s_axis)
  // go_q may only drop after a handshake, so tvalid never falls without tready (AXI4-Stream).
  logic [31:0] in_img_q, in_pix_q, in_addr_q;
  logic        go_q, in_more, in_fire;

  assign in_more       = (in_img_q < num_images) && params_done;
  assign s_axis_tvalid = in_more && go_q;
  assign s_axis_tdata  = rom[in_addr_q];
  assign s_axis_tlast  = (in_pix_q == Pixels - 1);
  assign in_fire       = s_axis_tvalid && s_axis_tready;

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      in_img_q  <= '0;
      in_pix_q  <= '0;
      in_addr_q <= '0;
      go_q      <= 1'b0;
    end else begin
      if (!go_q || in_fire) go_q <= !idle_now;
      if (in_fire) begin
        in_addr_q <= in_addr_q + 32'd1;
        if (s_axis_tlast) begin
          in_pix_q <= '0;
          in_img_q <= in_img_q + 32'd1;
        end else begin
          in_pix_q <= in_pix_q + 32'd1;
        end
      end
    end
  end

  // per-image input stamps (images leave in order, so they are indexed by image)
  logic [31:0] in_first_q [MaxImages];
  logic [31:0] in_last_q  [MaxImages];

  logic [31:0] in_gaps_q  [MaxImages];  // idle cycles inside the frame (tvalid low)

  always_ff @(posedge clk) begin
    if (in_fire && in_pix_q == 0) in_first_q[in_img_q] <= cycle_q;
    if (in_fire && s_axis_tlast)  in_last_q[in_img_q]  <= cycle_q;
    if (in_img_q < num_images) begin
      if (in_fire && in_pix_q == 0) in_gaps_q[in_img_q] <= '0;
      else if (in_pix_q != 0 && !s_axis_tvalid) in_gaps_q[in_img_q] <= in_gaps_q[in_img_q] + 32'd1;
    end
  end

  // ------------------------------------------------------------ result sink (m_axis)
  logic [31:0] out_img_q, out_beat_q, out_last_cyc_q, out_nbeats_q;
  logic [7:0]  beats_q [ResultBeats], rec_beats_q [ResultBeats];
  logic        out_fire, rec_q, rec2_q;
  logic        done /* verilator public_flat_rd */;
  logic        timeout /* verilator public_flat_rd */;
  logic [31:0] images_out /* verilator public_flat_rd */;
  logic [31:0] cycles /* verilator public_flat_rd */;
  logic [31:0] tlast_errors /* verilator public_flat_rd */;
  int unsigned finish_wait;

  // +SINK_HOLD=n: each image's first result beat waits n cycles (the later images fill the
  // pipeline behind it); then the LFSR backpressure as usual
  logic [31:0] hold_cnt_q;
  logic        hold_now;
  assign hold_now = (sink_hold != 0) && m_axis_tvalid && (out_beat_q == 0) && (hold_cnt_q < sink_hold);

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n)                           hold_cnt_q <= '0;
    else if (out_fire && out_beat_q == 0) hold_cnt_q <= '0;
    else if (hold_now)                    hold_cnt_q <= hold_cnt_q + 32'd1;
  end

  assign m_axis_tready = rst_n && !stall_now && !hold_now;
  assign out_fire      = m_axis_tvalid && m_axis_tready;
  assign images_out    = out_img_q;
  assign cycles        = cycle_q;

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      out_img_q      <= '0;
      out_beat_q     <= '0;
      out_last_cyc_q <= '0;
      out_nbeats_q   <= '0;
      rec_q          <= 1'b0;
      rec2_q         <= 1'b0;
      tlast_errors   <= '0;
    end else begin
      rec_q  <= 1'b0;
      rec2_q <= rec_q;
      // the beats as they were at the last one: the next image's may arrive meanwhile
      if (rec_q) rec_beats_q <= beats_q;
      if (out_fire) begin
        if (out_beat_q < ResultBeats) beats_q[out_beat_q[3:0]] <= m_axis_tdata;
        if (m_axis_tlast || out_beat_q == ResultBeats - 1) begin
          // a frame ends at tlast; a missing tlast is cut at 11 beats and counted as an error
          if (!m_axis_tlast || out_beat_q != ResultBeats - 1) tlast_errors <= tlast_errors + 32'd1;
          out_beat_q     <= '0;
          out_last_cyc_q <= cycle_q;
          out_nbeats_q   <= out_beat_q + 32'd1;
          rec_q          <= 1'b1;  // the record is written 2 cycles later (LAST_CYCLES settled)
        end else begin
          out_beat_q <= out_beat_q + 32'd1;
        end
      end
      if (rec2_q) out_img_q <= out_img_q + 32'd1;
    end
  end

  // output stall cycles per image; from the cycle after the last beat (rec_q, rec2_q) beats
  // already belong to the next
  logic [31:0] out_stalls_q [MaxImages];
  logic [31:0] out_cur_img;
  assign out_cur_img = out_img_q + {31'd0, rec_q || rec2_q};

  initial begin
    for (int i = 0; i < MaxImages; i++) out_stalls_q[i] = '0;
  end

  always_ff @(posedge clk) begin
    if (m_axis_tvalid && !m_axis_tready && out_cur_img < num_images) begin
      out_stalls_q[out_cur_img] <= out_stalls_q[out_cur_img] + 32'd1;
    end
  end

  // ------------------------------------------------------------ requant coverage events
  // one monitor per requant unit: conv1's and conv2's (one per parallel output channel), then
  // fc_engine's
  localparam int unsigned NumMon = Conv1OutChannelsPar + Conv2OutChannelsPar + 1;
  localparam int unsigned MonW   = $clog2(NumMon + 1);

  logic                 mon_fire  [NumMon];
  layer_e               mon_layer [NumMon];
  logic [NumEvents-1:0] mon_ev    [NumMon];

`ifdef MUTATION
  // the flattened netlist has no u_dut.u_conv1... hierarchy: no coverage events
  for (genvar m = 0; m < NumMon; m++) begin : g_no_mon
    assign mon_fire[m]  = 1'b0;
    assign mon_layer[m] = LayerConv1;
    assign mon_ev[m]    = '0;
  end
`else
  // RQ: the requant instance's hierarchical path, M: the monitor's index
`define REQUANT_MONITOR(RQ, LAYER, M) \
  requant_monitor u_mon ( \
    .clk_i (clk), .rst_ni (rst_n), \
    .in_fire_i     (RQ.in_fire), \
    .layer_i       (LAYER), \
    .big_i         (|RQ.s2_abs_q[32:24]), \
    .pm_i          (RQ.s10_pm_q), \
    .r_i           ($signed({RQ.s9_s_q[6], RQ.s9_s_q}) + 8'sd16), \
    .clamp_valid_i (RQ.valid_q[10]), \
    .sum_i         ($signed({{2{RQ.s11_side.neg && RQ.s11_sum[8]}}, RQ.s11_sum})), \
    .relu_neg_i    (RQ.s11_side.relu && RQ.s11_side.neg), \
    .lo_i          (RQ.side_q[10].relu ? $signed({3'b000, RQ.side_q[10].zp}) : 11'sd0), \
    .fire_o (mon_fire[M]), .layer_o (mon_layer[M]), \
    .sat_low_o (mon_ev[M][0]), .sat_high_o (mon_ev[M][1]), .big_o (mon_ev[M][2]), .tie_o (mon_ev[M][3]) \
  );

  for (genvar u = 0; u < Conv1OutChannelsPar; u++) begin : g_mon_conv1
    `REQUANT_MONITOR(u_dut.u_conv1.g_rq[u].u_requant, LayerConv1, u)
  end
  for (genvar u = 0; u < Conv2OutChannelsPar; u++) begin : g_mon_conv2
    `REQUANT_MONITOR(u_dut.u_conv2.g_rq[u].u_requant, LayerConv2, Conv1OutChannelsPar + u)
  end
  if (1) begin : g_mon_fc  // fc_layer_e -> layer_e
    `REQUANT_MONITOR(u_dut.u_fc.u_requant, layer_e'(LayerFc1 + u_dut.u_fc.u_sequencer.layer_q), NumMon - 1)
  end
`undef REQUANT_MONITOR
`endif

  // per layer: the image its requant beats belong to (beats of one image leave in order; the
  // units of a conv layer take an output channel group together, so an image's beats end on
  // a group)
  logic [MonW-1:0]      lay_fire [NumLayers];  // beats of the layer this cycle
  logic [MonW-1:0]      lay_ev   [NumLayers][NumEvents];
  logic [31:0]          rq_beat_q [NumLayers];
  logic [31:0]          rq_images [NumLayers] /* verilator public_flat_rd */;
  logic [15:0]          ev_q [NumLayers][NumEvents][MaxImages];

  always_comb begin
    for (int l = 0; l < NumLayers; l++) begin
      lay_fire[l] = '0;
      for (int e = 0; e < NumEvents; e++) lay_ev[l][e] = '0;
      for (int m = 0; m < NumMon; m++) begin
        if (mon_fire[m] && mon_layer[m] == layer_e'(l)) begin
          lay_fire[l] = lay_fire[l] + 1'b1;
          for (int e = 0; e < NumEvents; e++) lay_ev[l][e] = lay_ev[l][e] + MonW'(mon_ev[m][e]);
        end
      end
    end
  end

  initial begin
    for (int l = 0; l < NumLayers; l++)
      for (int e = 0; e < NumEvents; e++)
        for (int i = 0; i < MaxImages; i++) ev_q[l][e][i] = '0;
  end

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      for (int l = 0; l < NumLayers; l++) begin
        rq_beat_q[l] <= '0;
        rq_images[l] <= '0;
      end
    end else begin
      for (int l = 0; l < NumLayers; l++) begin
        if (lay_fire[l] != '0 && rq_images[l] < MaxImages) begin
          for (int e = 0; e < NumEvents; e++) begin
            ev_q[l][e][rq_images[l]] <= ev_q[l][e][rq_images[l]] + 16'(lay_ev[l][e]);
          end
          if (rq_beat_q[l] + 32'(lay_fire[l]) >= BeatsPerImage[l]) begin
            rq_beat_q[l] <= '0;
            rq_images[l] <= rq_images[l] + 32'd1;
          end else begin
            rq_beat_q[l] <= rq_beat_q[l] + 32'(lay_fire[l]);
          end
        end
      end
    end
  end

  // one line per image, two cycles after its last result beat (perf_counters updates
  // LAST_CYCLES a cycle after the pop it registers, which is a cycle after the beat),
  // after a first line naming the fields: the one definition of the record's layout, read by
  // name (tb.bench.records.HarnessRecord)
  localparam string LayerNames [NumLayers] = '{"conv1", "conv2", "fc1", "fc2", "fc3"};
  localparam string EventNames [NumEvents] = '{"sat_low", "sat_high", "big", "tie"};

  always_ff @(posedge clk) begin
    if (rec2_q) begin
      if (out_img_q == 0) begin
        $fwrite(res_fd, "index prediction");
        for (int b = 1; b < ResultBeats; b++) $fwrite(res_fd, " fc3[%0d]", b - 1);
        $fwrite(res_fd, " in_first in_last out_last last_cycles beats in_gaps out_stalls");
        for (int l = 0; l < NumLayers; l++) begin
          for (int e = 0; e < NumEvents; e++) $fwrite(res_fd, " %s.%s", LayerNames[l], EventNames[e]);
        end
        $fwrite(res_fd, "\n");
      end
      $fwrite(res_fd, "%0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d",
              out_img_q, rec_beats_q[0], rec_beats_q[1], rec_beats_q[2], rec_beats_q[3],
              rec_beats_q[4], rec_beats_q[5], rec_beats_q[6], rec_beats_q[7], rec_beats_q[8],
              rec_beats_q[9], rec_beats_q[10],
              in_first_q[out_img_q], in_last_q[out_img_q], out_last_cyc_q,
              u_dut.last_cycles, out_nbeats_q, in_gaps_q[out_img_q], out_stalls_q[out_img_q]);
      for (int l = 0; l < NumLayers; l++) begin
        for (int e = 0; e < NumEvents; e++) $fwrite(res_fd, " %0d", ev_q[l][e][out_img_q]);
      end
      $fwrite(res_fd, "\n");
    end
  end

  // ------------------------------------------------------------ end of run
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      done        <= 1'b0;
      timeout     <= 1'b0;
      finish_wait <= 0;
    end else if (!done) begin
      if (out_img_q >= num_images && !rec_q && !rec2_q) begin
        done <= 1'b1;
        $fclose(res_fd);
        $display("regress_harness: %0d images done after %0d cycles (%0d tlast errors)",
                 out_img_q, cycle_q, tlast_errors);
      end else if (cycle_q >= max_cycles) begin
        done    <= 1'b1;
        timeout <= 1'b1;
        $fclose(res_fd);
        // $display, not $error: Verilator stops at the first $error, cocotb reports instead
        $display("ERROR regress_harness: watchdog after %0d cycles, %0d of %0d images done",
               cycle_q, out_img_q, num_images);
      end
    end else if (finish_on_done) begin
      finish_wait <= finish_wait + 1;
      if (finish_wait == 10) $finish;
    end
  end

endmodule
