// 3x3 window generator: two line buffers (the previous two rows of the frame) plus a 3x3
// window register. Input: an already padded Height x Width frame in raster order. Output:
// one window per valid 3x3 position, (Height-2) x (Width-2) windows per frame in raster
// order, m_axis_tlast on the last one.
//
// Window layout: element (ky, kx, channel c) at m_axis_tdata[((ky*3 + kx)*Channels + c)*8 +: 8],
// i.e. pixel (row r-2+ky, col c-2+kx) of the window ending at input pixel (r, c).
//
// Every accepted pixel shifts the window one column to the left, so a pixel is only
// accepted when the output register is free or being emptied in the same cycle
// (s_axis_tready = !m_axis_tvalid || m_axis_tready): one pixel per cycle sustained,
// nothing lost or repeated under back pressure. The line buffers are not reset: a window
// is only produced once all three of its rows belong to the current frame, so frames can
// follow back to back. The frame size is fixed by the parameters; s_axis_tlast is only
// checked in simulation.
//
// AXI4-Stream ports keep their AMBA names (s_axis_*/m_axis_*) so cocotbext-axi binds by prefix.
module line_buffer #(
  parameter int unsigned Channels = 1,
  parameter int unsigned Width    = 30,  // padded frame width (>= 3)
  parameter int unsigned Height   = 30   // padded frame height (>= 3)
) (
  input  logic                    clk_i,
  input  logic                    rst_ni,

  input  logic [Channels*8-1:0]   s_axis_tdata,
  input  logic                    s_axis_tvalid,
  output logic                    s_axis_tready,
  input  logic                    s_axis_tlast,

  output logic [9*Channels*8-1:0] m_axis_tdata,
  output logic                    m_axis_tvalid,
  input  logic                    m_axis_tready,
  output logic                    m_axis_tlast
);

  localparam int unsigned PixW = Channels * 8;
  localparam int unsigned ColW = $clog2(Width);
  localparam int unsigned RowW = $clog2(Height);

  logic [ColW-1:0] col_q;
  logic [RowW-1:0] row_q;
  logic            last_col, last_row, in_hs, win_ready;

  assign last_col      = (col_q == ColW'(Width - 1));
  assign last_row      = (row_q == RowW'(Height - 1));
  assign s_axis_tready = !m_axis_tvalid || m_axis_tready;
  assign in_hs         = s_axis_tvalid && s_axis_tready;
  // The pixel just accepted completes a window once two rows and two columns precede it.
  assign win_ready     = (row_q >= RowW'(2)) && (col_q >= ColW'(2));

  // Line buffer word at column x: {row r-2, row r-1} pixels. Read (async) and rewritten
  // at the same column each accepted pixel: one RAM with read-before-write.
  logic [2*PixW-1:0] lines_q [Width];
  logic [PixW-1:0]   above2, above1;
  assign {above2, above1} = lines_q[col_q];

  always_ff @(posedge clk_i) begin
    if (in_hs) begin
      lines_q[col_q] <= {above1, s_axis_tdata};
    end
  end

  // Window registers win_q[ky][kx]; column 2 is the newest.
  logic [PixW-1:0] win_q [3][3];

  always_ff @(posedge clk_i) begin
    if (in_hs) begin
      for (int ky = 0; ky < 3; ky++) begin
        win_q[ky][0] <= win_q[ky][1];
        win_q[ky][1] <= win_q[ky][2];
      end
      win_q[0][2] <= above2;
      win_q[1][2] <= above1;
      win_q[2][2] <= s_axis_tdata;
    end
  end

  always_comb begin
    for (int ky = 0; ky < 3; ky++) begin
      for (int kx = 0; kx < 3; kx++) begin
        m_axis_tdata[(ky*3 + kx)*PixW +: PixW] = win_q[ky][kx];
      end
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      col_q         <= '0;
      row_q         <= '0;
      m_axis_tvalid <= 1'b0;
      m_axis_tlast  <= 1'b0;
    end else begin
      if (in_hs) begin
        m_axis_tvalid <= win_ready;
        m_axis_tlast  <= last_row && last_col;
        if (last_col) begin
          col_q <= '0;
          row_q <= last_row ? '0 : row_q + 1'b1;
        end else begin
          col_q <= col_q + 1'b1;
        end
      end else if (m_axis_tready) begin
        m_axis_tvalid <= 1'b0;
      end
    end
  end

`ifndef SYNTHESIS
  // tlast must sit on the last pixel of the Height x Width frame.
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
    end else if (in_hs && (s_axis_tlast != (last_row && last_col))) begin
      $error("line_buffer: s_axis_tlast does not match the %0dx%0d frame", Width, Height);
    end
  end
`else
  logic unused_tlast;
  assign unused_tlast = s_axis_tlast;
`endif

endmodule
