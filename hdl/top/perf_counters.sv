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

  logic [31:0]     cycle_q, images_q, last_q, errors_q;
  logic [31:0]     stamp_q [Depth];
  logic [Depth-1:0] bad_q;
  logic [PtrW-1:0] wr_ptr_q, rd_ptr_q;
  logic [PtrW:0]   count_q;
  logic            first_q;  // next accepted input beat is an image's first pixel
  logic            push, pop;

  assign push = in_fire_i && first_q;
  assign pop  = out_fire_i && out_last_i && (count_q != '0);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cycle_q  <= '0;
      images_q <= '0;
      last_q   <= '0;
      wr_ptr_q <= '0;
      rd_ptr_q <= '0;
      count_q  <= '0;
      first_q  <= 1'b1;
      errors_q <= '0;
      bad_q    <= '0;
    end else begin
      cycle_q <= cycle_q + 32'd1;
      if (in_fire_i) first_q <= in_last_i;
      if (push) wr_ptr_q <= wr_ptr_q + 1'b1;
      if (pop) begin
        rd_ptr_q <= rd_ptr_q + 1'b1;
        if (!drop_o) begin
          images_q <= images_q + 32'd1;
          last_q   <= cycle_q - stamp_q[rd_ptr_q];
        end
      end
      // the frame's entry: the one pushed now (one-beat frame) or the newest one
      if (in_fire_i && in_last_i) bad_q[push ? wr_ptr_q : wr_ptr_q - 1'b1] <= in_bad_i;
      if (frame_errors_clear_i) begin
        errors_q <= '0;
      end else if (in_fire_i && in_last_i && in_bad_i) begin
        errors_q <= errors_q + 32'd1;
      end
      count_q <= count_q + (PtrW+1)'(push) - (PtrW+1)'(pop);
    end
  end

  // Timestamp storage: no reset needed (guarded by count_q).
  always_ff @(posedge clk_i) begin
    if (push) stamp_q[wr_ptr_q] <= cycle_q;
  end

  assign hold_o         = first_q && (count_q == (PtrW+1)'(Depth));
  assign busy_o         = (count_q != '0);
  assign drop_o         = busy_o && bad_q[rd_ptr_q];
  assign frame_errors_o = errors_q;
  assign images_done_o  = images_q;
  assign last_cycles_o  = last_q;
  assign cycle_count_o  = cycle_q;

endmodule
