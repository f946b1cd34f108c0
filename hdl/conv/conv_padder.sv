// Padding insertion for the 3x3 convolution: turns a Height x Width ifmap stream into a
// (Height+2*Padding) x (Width+2*Padding) stream whose border pixels hold the input zero
// point zp_i in every channel (the quantized zero, as QNNPACK's zero buffer).
//
// Padding = 0: pure wires. Padding = 1: border pixels are emitted without consuming
// input (s_axis_tready low); interior pixels pass through combinationally. A frame's
// first border pixel waits until the frame's first input pixel is valid.
// The frame size is fixed by the parameters: the counters wrap at the last padded pixel,
// so frames may follow back to back; s_axis_tlast is only checked in simulation and
// m_axis_tlast is generated from the counters.
//
// AXI4-Stream ports keep their AMBA names (s_axis_*/m_axis_*) so cocotbext-axi binds by prefix.
module conv_padder #(
  parameter int unsigned Channels = 1,
  parameter int unsigned Width    = 28,
  parameter int unsigned Height   = 28,
  parameter int unsigned Padding  = 1   // 0 or 1
) (
  input  logic                  clk_i,
  input  logic                  rst_ni,
  input  logic [7:0]            zp_i,

  input  logic [Channels*8-1:0] s_axis_tdata,
  input  logic                  s_axis_tvalid,
  output logic                  s_axis_tready,
  input  logic                  s_axis_tlast,

  output logic [Channels*8-1:0] m_axis_tdata,
  output logic                  m_axis_tvalid,
  input  logic                  m_axis_tready,
  output logic                  m_axis_tlast
);

  if (Padding == 0) begin : g_bypass
    assign m_axis_tdata  = s_axis_tdata;
    assign m_axis_tvalid = s_axis_tvalid;
    assign s_axis_tready = m_axis_tready;
    assign m_axis_tlast  = s_axis_tlast;

    // Clock and reset are only needed when padding is inserted.
    logic unused_clk_rst;
    assign unused_clk_rst = clk_i ^ rst_ni ^ ^zp_i;

  end else if (Padding == 1) begin : g_pad
    localparam int unsigned PadW = Width + 2;
    localparam int unsigned PadH = Height + 2;
    localparam int unsigned ColW = $clog2(PadW);
    localparam int unsigned RowW = $clog2(PadH);

    logic [ColW-1:0] col_q;
    logic [RowW-1:0] row_q;
    logic            border, last_col, last_row, out_hs;

    assign last_col = (col_q == ColW'(PadW - 1));
    assign last_row = (row_q == RowW'(PadH - 1));
    assign border   = (row_q == '0) || last_row || (col_q == '0) || last_col;

    // A frame starts only once its first pixel is offered: the top border is not emitted
    // early, so between frames nothing is in flight and zp_i may be rewritten.
    logic hold;
    assign hold = (row_q == '0) && (col_q == '0) && !s_axis_tvalid;

    assign m_axis_tdata  = border ? {Channels{zp_i}} : s_axis_tdata;
    assign m_axis_tvalid = border ? !hold : s_axis_tvalid;
    assign s_axis_tready = !border && m_axis_tready;
    assign m_axis_tlast  = last_row && last_col;
    assign out_hs        = m_axis_tvalid && m_axis_tready;

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        col_q <= '0;
        row_q <= '0;
      end else if (out_hs) begin
        if (last_col) begin
          col_q <= '0;
          row_q <= last_row ? '0 : row_q + 1'b1;
        end else begin
          col_q <= col_q + 1'b1;
        end
      end
    end

`ifndef SYNTHESIS
    // The last interior pixel must carry tlast: catches a source with another frame size.
    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
      end else if (s_axis_tvalid && s_axis_tready &&
          (s_axis_tlast != ((row_q == RowW'(Height)) && (col_q == ColW'(Width))))) begin
        $error("conv_padder: s_axis_tlast does not match the %0dx%0d frame", Width, Height);
      end
    end
`else
    logic unused_tlast;
    assign unused_tlast = s_axis_tlast;
`endif

  end else begin : g_bad_padding
    $fatal(1, "conv_padder: Padding must be 0 or 1");
  end

endmodule
