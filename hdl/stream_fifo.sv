// Synchronous valid/ready FIFO for an AXI4-Stream-style link (tdata + tlast).
//
// Decouples two pipeline stages whose rates differ over short stretches: the producer
// runs ahead by up to Depth beats instead of stalling. Control is all flops:
// s_axis_tready = not full, m_axis_tvalid = not empty; a beat written in one cycle can be
// read from the next (no fall-through in the same cycle, so no ready/valid path crosses
// the FIFO). One beat in and one out per cycle sustained from Depth 2 on (Depth 1: a beat
// every other cycle, as a full FIFO takes nothing until it has been read).
//
// AXI4-Stream ports keep their AMBA names (s_axis_*/m_axis_*) so cocotbext-axi binds by prefix.
module stream_fifo #(
  parameter int unsigned Width = 8,
  parameter int unsigned Depth = 16  // >= 1; >= 2 for full rate
) (
  input  logic             clk_i,
  input  logic             rst_ni,

  input  logic [Width-1:0] s_axis_tdata,
  input  logic             s_axis_tvalid,
  output logic             s_axis_tready,
  input  logic             s_axis_tlast,

  output logic [Width-1:0] m_axis_tdata,
  output logic             m_axis_tvalid,
  input  logic             m_axis_tready,
  output logic             m_axis_tlast
);

  localparam int unsigned PtrW = (Depth > 1) ? $clog2(Depth) : 1;
  localparam int unsigned CntW = $clog2(Depth + 1);

  if (Depth < 1) begin : g_err_depth
    $fatal(1, "stream_fifo: Depth must be >= 1");
  end

  // Storage is not reset: only entries between the pointers are ever read.
  logic [Width:0]  mem [Depth];  // {tlast, tdata}
  logic [PtrW-1:0] wptr_q, rptr_q;
  logic [CntW-1:0] count_q;
  logic            push, pop;

  assign s_axis_tready = (count_q != CntW'(Depth));
  assign m_axis_tvalid = (count_q != '0);
  assign push          = s_axis_tvalid && s_axis_tready;
  assign pop           = m_axis_tvalid && m_axis_tready;
  assign {m_axis_tlast, m_axis_tdata} = mem[rptr_q];

  always_ff @(posedge clk_i) begin
    if (push) begin
      mem[wptr_q] <= {s_axis_tlast, s_axis_tdata};
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      wptr_q  <= '0;
      rptr_q  <= '0;
      count_q <= '0;
    end else begin
      if (push) begin
        wptr_q <= (wptr_q == PtrW'(Depth - 1)) ? '0 : wptr_q + PtrW'(1);
      end
      if (pop) begin
        rptr_q <= (rptr_q == PtrW'(Depth - 1)) ? '0 : rptr_q + PtrW'(1);
      end
      count_q <= count_q + CntW'(push) - CntW'(pop);
    end
  end

endmodule
