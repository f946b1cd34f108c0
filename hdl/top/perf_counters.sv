// Per-image performance counters of the accelerator top.
//
// A free-running cycle counter is sampled when the first pixel of an image is accepted; the
// timestamp waits in a small FIFO (several images overlap in the pipeline) until that image's
// last result beat is accepted, then LAST_CYCLES = now - start. The FIFO depth bounds the
// images in flight: when it is full, `hold_o` asks the top to stall the first pixel of the
// next image, so no timestamp is ever lost.
//
// Each entry also carries its frame's malformed flag (frame_guard's bad_o at the frame's last
// pixel): `drop_o` tells the top to swallow the result beats of the oldest image in flight, and
// such an image neither counts in IMAGES_DONE nor updates LAST_CYCLES. Malformed frames are
// counted in `frame_errors_o` until `frame_errors_clear_i`.
//
// The handshakes arrive late in the cycle (behind the stream ready chains), so they only set
// registered events (and the first-pixel flag); the occupancy, the write pointer, the timestamps,
// the malformed flags and the counters follow those one cycle later. hold_o and busy_o add the
// registered events to the occupancy, so they are exact; LAST_CYCLES is exact (both ends equally
// late). drop_o is a register that follows the oldest entry's flag a cycle late: a frame's flag
// reaches it three cycles after the frame's last pixel, the next image's flag a cycle after the
// previous image's last result beat; both are long before the image's first result beat.
module perf_counters #(
  parameter int unsigned Depth = 8  // images in flight (power of two)
) (
  input  logic        clk_i,
  input  logic        rst_ni,
  // input stream handshake (as seen after gating with hold_o)
  input  logic        in_fire_i,
  input  logic        in_last_i,
  input  logic        in_bad_i,       // with in_last_i: the frame was malformed
  // result stream handshake (before dropping)
  input  logic        out_fire_i,
  input  logic        out_last_i,
  output logic        hold_o,         // stall the next image's first pixel
  output logic        busy_o,         // an image is in flight
  output logic        drop_o,         // the oldest image's results are to be dropped
  input  logic        frame_errors_clear_i,
  output logic [31:0] frame_errors_o,
  output logic [31:0] images_done_o,
  output logic [31:0] last_cycles_o,
  output logic [31:0] cycle_count_o
);

  localparam int unsigned PtrW = $clog2(Depth);

  logic [31:0]      cycle_q, images_q, last_q, errors_q;
  logic [31:0]      stamp_q [Depth];
  logic [Depth-1:0] bad_q;
  // wr_last_q: the newest entry; rd_last_q: the entry popped last
  logic [PtrW-1:0]  wr_ptr_q, wr_last_q, rd_ptr_q, rd_last_q;
  logic [Depth-1:0] occ_q, occ;  // occupancy, thermometer code: occ[k] = more than k in flight
  logic             first_q;     // next accepted input beat is an image's first pixel
  logic             drop_q;
  logic             pop;
  // registered events: an image's first pixel, a frame's last pixel (with its malformed flag;
  // once more registered for the flag's write), an image's last result beat (with its drop flag)
  logic             push_q, in_end_q, in_bad_q, end_q, end_bad_q, pop_q, pop_drop_q;

  // images in flight, exact: occ_q misses the events registered in the cycle before (a
  // thermometer code, so that "none" and "Depth" are one LUT from the registers)
  always_comb begin
    unique case ({push_q, pop_q})
      2'b10:   occ = {occ_q[Depth-2:0], 1'b1};
      2'b01:   occ = {1'b0, occ_q[Depth-1:1]};
      default: occ = occ_q;
    endcase
  end
  assign pop = out_fire_i && out_last_i && occ[0];

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cycle_q    <= '0;
      images_q   <= '0;
      last_q     <= '0;
      wr_ptr_q   <= '0;
      wr_last_q  <= '0;
      rd_ptr_q   <= '0;
      rd_last_q  <= '0;
      occ_q      <= '0;
      first_q    <= 1'b1;
      errors_q   <= '0;
      bad_q      <= '0;
      drop_q     <= 1'b0;
      push_q     <= 1'b0;
      in_end_q   <= 1'b0;
      in_bad_q   <= 1'b0;
      end_q      <= 1'b0;
      end_bad_q  <= 1'b0;
      pop_q      <= 1'b0;
      pop_drop_q <= 1'b0;
    end else begin
      cycle_q    <= cycle_q + 32'd1;
      if (in_fire_i) first_q <= in_last_i;
      push_q     <= in_fire_i && first_q;
      in_end_q   <= in_fire_i && in_last_i;
      in_bad_q   <= in_bad_i;
      end_q      <= in_end_q;
      end_bad_q  <= in_bad_q;
      pop_q      <= pop;
      pop_drop_q <= drop_q;
      occ_q      <= occ;
      if (push_q) begin
        wr_ptr_q  <= wr_ptr_q + 1'b1;
        wr_last_q <= wr_ptr_q;
      end
      // the frame's entry is the newest one two cycles after its last pixel (wr_last_q)
      if (end_q) bad_q[wr_last_q] <= end_bad_q;
      if (pop) begin
        rd_ptr_q  <= rd_ptr_q + 1'b1;
        rd_last_q <= rd_ptr_q;
      end
      // the oldest entry's flag, from registers only (the handshake stays out of it)
      drop_q     <= bad_q[rd_ptr_q];
      // a cycle after the pop
      if (pop_q && !pop_drop_q) begin
        images_q <= images_q + 32'd1;
        last_q   <= cycle_q - stamp_q[rd_last_q];
      end
      if (frame_errors_clear_i) begin
        errors_q <= '0;
      end else if (in_end_q && in_bad_q) begin
        errors_q <= errors_q + 32'd1;
      end
    end
  end

  // Timestamp storage: no reset needed (guarded by the occupancy). Written a cycle after the
  // push with the cycle count of then, read a cycle after the pop: the difference is exact.
  always_ff @(posedge clk_i) begin
    if (push_q) stamp_q[wr_ptr_q] <= cycle_q;
  end

  assign hold_o         = first_q && occ[Depth-1];
  assign busy_o         = occ[0];
  // no result beat is offered while no image is in flight: drop_o needs no busy term
  assign drop_o         = drop_q;
  assign frame_errors_o = errors_q;
  assign images_done_o  = images_q;
  assign last_cycles_o  = last_q;
  assign cycle_count_o  = cycle_q;

endmodule
