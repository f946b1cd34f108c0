// 2x2 max pool, stride 2, on an AXI4-Stream of pixels (raster order, all
// Channels of one pixel per beat, channel c in tdata[8c+7:8c], unsigned codes).
// Output: (Width/2) x (Height/2) pixels in raster order, m_axis_tlast on the
// last pooled pixel of each frame.
//
// AXI4-Stream ports keep their AMBA names (s_axis_*, m_axis_*) so that
// cocotbext-axi binds them by prefix (documented exception to the _i/_o rule).
//
// Even rows: the max of each horizontal pair goes into a (Width/2)-entry line
// buffer. Odd rows: the max of the pair and the line buffer entry is the output.
// Frames are delimited by position counters; s_axis_tlast is not needed.
// Throughput one input beat per cycle; only beats that produce an output wait
// for space in the output register, so s_axis_tready depends on m_axis_tready
// (ready-to-ready path) but m_axis_tvalid is a flop.
module maxpool2x2 #(
  parameter int unsigned Channels = 1,
  parameter int unsigned Width    = 28,  // even
  parameter int unsigned Height   = 28   // even
) (
  input  logic                  clk_i,
  input  logic                  rst_ni,

  input  logic [Channels*8-1:0] s_axis_tdata,
  input  logic                  s_axis_tvalid,
  output logic                  s_axis_tready,
  /* verilator lint_off UNUSEDSIGNAL */
  input  logic                  s_axis_tlast,  // frames come from the counters
  /* verilator lint_on UNUSEDSIGNAL */

  output logic [Channels*8-1:0] m_axis_tdata,
  output logic                  m_axis_tvalid,
  input  logic                  m_axis_tready,
  output logic                  m_axis_tlast
);

  localparam int unsigned DataW = Channels * 8;
  localparam int unsigned ColW  = (Width > 1) ? $clog2(Width) : 1;
  localparam int unsigned RowW  = (Height > 1) ? $clog2(Height) : 1;
  localparam int unsigned Half  = Width / 2;
  localparam int unsigned AddrW = (Half > 1) ? $clog2(Half) : 1;

  if ((Width % 2) != 0 || (Height % 2) != 0 || Width < 2 || Height < 2) begin : gen_param_check
    $error("maxpool2x2: Width and Height must be even and >= 2");
  end

  // Per-channel unsigned max of two beats.
  function automatic logic [DataW-1:0] max_beat(input logic [DataW-1:0] a,
                                                input logic [DataW-1:0] b);
    logic [DataW-1:0] m;
    for (int unsigned c = 0; c < Channels; c++) begin
      m[8*c +: 8] = (a[8*c +: 8] >= b[8*c +: 8]) ? a[8*c +: 8] : b[8*c +: 8];
    end
    return m;
  endfunction

  logic [ColW-1:0]  col_q;
  logic [RowW-1:0]  row_q;
  logic [DataW-1:0] left_q;               // even-column pixel waiting for its pair
  logic [DataW-1:0] line_q [Half];        // pair maxima of the last even row
  logic             out_valid_q, out_last_q;
  logic [DataW-1:0] out_data_q;

  logic             in_fire, produce, col_end, row_end;
  logic [AddrW-1:0] addr;
  logic [DataW-1:0] pair_max;

  assign col_end  = (col_q == ColW'(Width - 1));
  assign row_end  = (row_q == RowW'(Height - 1));
  assign produce  = row_q[0] && col_q[0];  // bottom-right pixel of a 2x2 window
  assign addr     = AddrW'(col_q >> 1);
  assign pair_max = max_beat(left_q, s_axis_tdata);

  // A beat that completes a window needs the output register to be free.
  assign s_axis_tready = !produce || !out_valid_q || m_axis_tready;
  assign in_fire       = s_axis_tvalid && s_axis_tready;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      col_q       <= '0;
      row_q       <= '0;
      out_valid_q <= 1'b0;
      out_last_q  <= 1'b0;
    end else begin
      if (in_fire) begin
        if (col_end) begin
          col_q <= '0;
          row_q <= row_end ? '0 : row_q + RowW'(1);
        end else begin
          col_q <= col_q + ColW'(1);
        end
      end
      if (in_fire && produce) begin
        out_valid_q <= 1'b1;
        out_last_q  <= col_end && row_end;
      end else if (m_axis_tready) begin
        out_valid_q <= 1'b0;
      end
    end
  end

  // Data path: no reset needed (qualified by the counters / out_valid_q).
  always_ff @(posedge clk_i) begin
    if (in_fire) begin
      if (!col_q[0]) begin
        left_q <= s_axis_tdata;
      end else if (!row_q[0]) begin
        line_q[addr] <= pair_max;
      end
    end
    if (in_fire && produce) begin
      out_data_q <= max_beat(pair_max, line_q[addr]);
    end
  end

  assign m_axis_tdata  = out_data_q;
  assign m_axis_tvalid = out_valid_q;
  assign m_axis_tlast  = out_last_q;

endmodule
