// Fast end-to-end regression harness for fashion_lenet_accel (test bench only, not synthesizable).
//
// Everything that runs per clock cycle lives here in HDL, so a cocotb test only waits for
// `done` (one value-change callback) and Python is never woken per clock edge:
//
//   * clock (10 ns) and reset generated in HDL (needs Verilator --timing);
//   * image ROM: +IMAGES_FILE=<file> (one pixel byte per line, hex, 784 per image, row-major),
//     +NUM_IMAGES=<n> images (<= MaxImages), loaded with $readmemh: one build serves any set;
//   * stream driver on s_axis: 784 beats per image back to back, tlast on the last, optional
//     pseudo-random idle cycles (+IDLE_PCT=<0..99>, LFSR seeded by +SEED=<n>);
//   * result sink on m_axis: 11 beats per image (class, fc3[0..9]), optional pseudo-random
//     backpressure (+BP_PCT=<0..99>);
//   * per-image cycle stamps (first pixel accepted, last pixel accepted, last result beat) and
//     the DUT's LAST_CYCLES CSR value after each image;
//   * +RESULTS_FILE=<file>: one text line per image, written as each image completes:
//       <index> <class> <fc3_0> .. <fc3_9> <in_first> <in_last> <out_last> <last_cycles> <beats>
//     (decimal; cycles count from reset release; <beats> = result beats up to tlast);
//   * `done` rises when all results are in (or the +MAX_CYCLES watchdog fires, then `timeout`
//     is set as well); +FINISH calls $finish shortly after (standalone runs, no cocotb).
//
// The parameter memories are preloaded from ParamDir (model/export.py .mem files).
// Build/lint with --timing --timescale 1ns/1ps (the DUT's files carry no `timescale).
module regress_harness #(
  parameter int unsigned Lanes     = 8,
  parameter string       ParamDir  = "",
  parameter int unsigned MaxImages = 10000
) ();

  localparam int unsigned Pixels      = 784;  // 28x28 per image
  localparam int unsigned ResultBeats = 11;   // class, fc3[0..9]
  localparam int unsigned ClkHalfNs   = 5;
  localparam int unsigned ResetCycles = 4;

  // ------------------------------------------------------------ plusargs
  string       images_file, results_file;
  int unsigned num_images, idle_pct, bp_pct, seed, max_cycles;
  bit          finish_on_done;
  int          res_fd;

  logic [7:0]  rom [MaxImages * Pixels];

  initial begin
    if (!$value$plusargs("IMAGES_FILE=%s", images_file)) $fatal(1, "regress_harness: +IMAGES_FILE missing");
    if (!$value$plusargs("RESULTS_FILE=%s", results_file)) results_file = "results.txt";
    if (!$value$plusargs("NUM_IMAGES=%d", num_images)) $fatal(1, "regress_harness: +NUM_IMAGES missing");
    if (!$value$plusargs("IDLE_PCT=%d", idle_pct)) idle_pct = 0;
    if (!$value$plusargs("BP_PCT=%d", bp_pct)) bp_pct = 0;
    if (!$value$plusargs("SEED=%d", seed)) seed = 1;
    // ~12.5k cycles per image back to back; 4x margin plus the pipeline fill
    if (!$value$plusargs("MAX_CYCLES=%d", max_cycles)) max_cycles = num_images * 50000 + 100000;
    finish_on_done = $test$plusargs("FINISH");
    if (num_images < 1 || num_images > MaxImages) begin
      $fatal(1, "regress_harness: +NUM_IMAGES=%0d outside 1..%0d", num_images, MaxImages);
    end
    $readmemh(images_file, rom, 0, num_images * Pixels - 1);
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
  logic        axil_awready, axil_wready, axil_bvalid, axil_arready, axil_rvalid;
  logic [1:0]  axil_bresp, axil_rresp;
  logic [31:0] axil_rdata;

  fashion_lenet_accel #(
    .Lanes    (Lanes),
    .ParamDir (ParamDir)
  ) u_dut (
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
    .s_axil_awaddr  ('0),
    .s_axil_awprot  ('0),
    .s_axil_awvalid (1'b0),
    .s_axil_awready (axil_awready),
    .s_axil_wdata   ('0),
    .s_axil_wstrb   ('0),
    .s_axil_wvalid  (1'b0),
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
  assign unused_axil = ^{axil_awready, axil_wready, axil_bvalid, axil_arready, axil_rvalid,
                         axil_bresp, axil_rresp, axil_rdata};

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

  assign in_more       = (in_img_q < num_images);
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

  always_ff @(posedge clk) begin
    if (in_fire && in_pix_q == 0) in_first_q[in_img_q] <= cycle_q;
    if (in_fire && s_axis_tlast)  in_last_q[in_img_q]  <= cycle_q;
  end

  // ------------------------------------------------------------ result sink (m_axis)
  logic [31:0] out_img_q, out_beat_q, out_last_cyc_q, out_nbeats_q;
  logic [7:0]  beats_q [ResultBeats];
  logic        out_fire, rec_q;
  logic        done /* verilator public_flat_rd */;
  logic        timeout /* verilator public_flat_rd */;
  logic [31:0] images_out /* verilator public_flat_rd */;
  logic [31:0] cycles /* verilator public_flat_rd */;
  logic [31:0] tlast_errors /* verilator public_flat_rd */;
  int unsigned finish_wait;

  assign m_axis_tready = rst_n && !stall_now;
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
      tlast_errors   <= '0;
    end else begin
      rec_q <= 1'b0;
      if (out_fire) begin
        if (out_beat_q < ResultBeats) beats_q[out_beat_q[3:0]] <= m_axis_tdata;
        if (m_axis_tlast || out_beat_q == ResultBeats - 1) begin
          // a frame ends at tlast; a missing tlast is cut at 11 beats and counted as an error
          if (!m_axis_tlast || out_beat_q != ResultBeats - 1) tlast_errors <= tlast_errors + 32'd1;
          out_beat_q     <= '0;
          out_last_cyc_q <= cycle_q;
          out_nbeats_q   <= out_beat_q + 32'd1;
          rec_q          <= 1'b1;  // write the record next cycle (beats_q and LAST_CYCLES settled)
        end else begin
          out_beat_q <= out_beat_q + 32'd1;
        end
      end
      if (rec_q) out_img_q <= out_img_q + 32'd1;
    end
  end

  // one line per image, in the cycle after its last result beat (LAST_CYCLES updated by then)
  always_ff @(posedge clk) begin
    if (rec_q) begin
      $fwrite(res_fd, "%0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d %0d\n",
              out_img_q, beats_q[0], beats_q[1], beats_q[2], beats_q[3], beats_q[4],
              beats_q[5], beats_q[6], beats_q[7], beats_q[8], beats_q[9], beats_q[10],
              in_first_q[out_img_q], in_last_q[out_img_q], out_last_cyc_q,
              u_dut.last_cycles, out_nbeats_q);
    end
  end

  // ------------------------------------------------------------ end of run
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      done        <= 1'b0;
      timeout     <= 1'b0;
      finish_wait <= 0;
    end else if (!done) begin
      if (out_img_q >= num_images && !rec_q) begin
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
