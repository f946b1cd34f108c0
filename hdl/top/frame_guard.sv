// Input frame guard: turns any pixel stream into frames of exactly FramePixels beats.
//
// A frame is good when its tlast comes with its FramePixels-th beat. Two ways to be malformed:
//   * tlast early (the image ends short, or tlast in the middle of a row): the guard completes
//     the frame with FillValue pixels of its own, holding s_tready_o low meanwhile, so the
//     pipeline behind it always sees whole frames;
//   * no tlast on the FramePixels-th beat: the frame ends there by count; the beats that
//     follow start the next frame (an over-long frame's tail thus becomes a short frame, which
//     is completed as above, and the stream is back in step at the next tlast).
// With the frame's last beat out (m_tvalid_o && m_tready_i && m_tlast_o), bad_o tells
// whether the frame was malformed; the top drops the results of such frames.
module frame_guard import fashion_lenet_pkg::*; #(
  parameter int unsigned FramePixels = Pixels,
  parameter logic [7:0]  FillValue   = 8'd0
) (
  input  logic       clk_i,
  input  logic       rst_ni,
  input  logic [7:0] s_tdata_i,
  input  logic       s_tvalid_i,
  output logic       s_tready_o,
  input  logic       s_tlast_i,
  output logic [7:0] m_tdata_o,
  output logic       m_tvalid_o,
  input  logic       m_tready_i,
  output logic       m_tlast_o,
  output logic       bad_o       // valid with the frame's last output beat
);

  localparam int unsigned CntW = $clog2(FramePixels);

  logic [CntW-1:0] cnt_q;
  logic            fill_q;   // completing a short frame (early tlast) with FillValue pixels
  logic            last_beat, m_fire;

  assign last_beat  = (cnt_q == CntW'(FramePixels - 1));
  assign m_tvalid_o = fill_q || s_tvalid_i;
  assign m_tdata_o  = fill_q ? FillValue : s_tdata_i;
  assign m_tlast_o  = last_beat;
  assign s_tready_o = !fill_q && m_tready_i;
  assign m_fire     = m_tvalid_o && m_tready_i;
  // a completed short frame is bad; a passed-through last beat is bad without tlast
  assign bad_o      = fill_q || !s_tlast_i;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cnt_q  <= '0;
      fill_q <= 1'b0;
    end else if (m_fire) begin
      if (last_beat) begin
        cnt_q  <= '0;
        fill_q <= 1'b0;
      end else begin
        cnt_q <= cnt_q + CntW'(1);
        if (!fill_q && s_tlast_i) fill_q <= 1'b1;
      end
    end
  end

endmodule
