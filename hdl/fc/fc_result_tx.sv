// Result stream of fc_engine: on start_i it sends 1 + Fc3Out beats on m_axis: the class
// index (argmax of the fc3 codes), then fc3 codes 0 .. Fc3Out-1; tlast on the last.
//
// The argmax is kept running while the fc3 codes are written (wr_i, wr_idx_i, wr_code_i:
// the same writes that fill res_i), so that no comparator chain over all codes sits in
// one cycle. A write replaces the best so far if its code is larger, or equal with a lower
// index: the first maximum whatever the order of the writes, as model.reference.argmax_first
// and torch.argmax. start_i takes the class and restarts the search for the next image;
// every code of an image must be written after the previous start_i and before its own.
//
// Timing: start_i in cycle t -> m_axis_tvalid from cycle t+1 until the last beat is taken.
// busy_o is high over the same cycles: res_i must stay unchanged while busy_o is high (the
// class is registered at start_i, the codes are sent from res_i).
//
// The stream keeps its AMBA names (m_axis_*), as fc_engine's port that it drives.
module fc_result_tx #(
  parameter int unsigned Fc3Out = 10
) (
  input  logic              clk_i,
  input  logic              rst_ni,

  input  logic              wr_i,       // an fc3 code is written
  input  logic [$clog2(Fc3Out)-1:0] wr_idx_i,
  input  logic [7:0]        wr_code_i,
  input  logic              start_i,
  input  logic [Fc3Out*8-1:0] res_i,  // fc3 code k in res_i[8k +: 8]
  output logic              busy_o,

  output logic [7:0]        m_axis_tdata,
  output logic              m_axis_tvalid,
  input  logic              m_axis_tready,
  output logic              m_axis_tlast
);

  localparam int unsigned BeatW = $clog2(Fc3Out + 1);
  localparam int unsigned ClsW  = $clog2(Fc3Out);

  // ------------------------------------------------------------ running argmax
  logic            best_valid_q;
  logic [7:0]      best_code_q;
  logic [ClsW-1:0] best_idx_q, cls;
  logic            better;

  assign better = !best_valid_q || (wr_code_i > best_code_q)
               || ((wr_code_i == best_code_q) && (wr_idx_i < best_idx_q));
  assign cls    = best_idx_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      best_valid_q <= 1'b0;
      best_code_q  <= '0;
      best_idx_q   <= '0;
    end else if (start_i) begin
      best_valid_q <= 1'b0;
    end else if (wr_i && better) begin
      best_valid_q <= 1'b1;
      best_code_q  <= wr_code_i;
      best_idx_q   <= wr_idx_i;
    end
  end

  logic             busy_q, busy_d;
  logic [BeatW-1:0] beat_q, beat_d;
  logic [ClsW-1:0]  cls_q, cls_d;

  always_comb begin
    busy_d = busy_q;
    beat_d = beat_q;
    cls_d  = cls_q;
    if (start_i) begin
      busy_d = 1'b1;
      beat_d = '0;
      cls_d  = cls;
    end else if (busy_q && m_axis_tready) begin
      if (m_axis_tlast) begin
        busy_d = 1'b0;
        beat_d = '0;
      end else begin
        beat_d = beat_q + BeatW'(1);
      end
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      busy_q <= 1'b0;
      beat_q <= '0;
      cls_q  <= '0;
    end else begin
      busy_q <= busy_d;
      beat_q <= beat_d;
      cls_q  <= cls_d;
    end
  end

  assign busy_o        = busy_q;
  assign m_axis_tvalid = busy_q;
  assign m_axis_tlast  = (beat_q == BeatW'(Fc3Out));
  assign m_axis_tdata  = (beat_q == '0) ? 8'(cls_q) : res_i[8*(beat_q - BeatW'(1)) +: 8];

endmodule
