// Result stream of fc_engine: on start_i it takes argmax of the fc3 codes res_i and then
// sends 1 + Fc3Out beats on m_axis: the class index, then fc3 codes 0 .. Fc3Out-1; tlast on
// the last.
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

  logic [ClsW-1:0] cls;

  argmax #(
    .N     (Fc3Out),
    .Width (8)
  ) u_argmax (
    .values_i (res_i),
    .index_o  (cls)
  );

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
