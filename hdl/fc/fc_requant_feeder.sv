// Requant feeder of fc_engine: at the end of a group the lanes copy their sums into their
// hold registers (load_i); the feeder walks them lane by lane into the shared requant unit,
// one neuron per cycle while requant accepts, and skips the lanes past the layer's last
// neuron. The walk (at most Lanes cycles) hides behind the next group's In steps.
//
// Pipeline: F0 (cycle t: rd_en_o, rd_addr_o = BBase + neuron; fc_engine registers the bias and
// requant words) -> F1 (t+1: rq_valid_o with the lane's sum acc_o and the neuron tag_o,
// aligned with the registered bias/requant words; held while !rq_ready_i).
// hold_valid_o: the hold registers are occupied (the sequencer's last step of a group waits);
// idle_o: nothing held, nothing in F1 and no beat inside requant (counted from rq_valid_o
// accepted to rq_out_valid_i).
module fc_requant_feeder import fashion_lenet_pkg::*; #(
  parameter int unsigned Lanes  = 8,
  /* verilator lint_off VARHIDDEN */  // fc_engine's sizes hide the package's network sizes
  parameter int unsigned Fc1Out = fashion_lenet_pkg::Fc1Out,
  parameter int unsigned Fc2Out = fashion_lenet_pkg::Fc2Out,
  parameter int unsigned Fc3Out = fashion_lenet_pkg::Fc3Out,  /* verilator lint_on VARHIDDEN */
  parameter int unsigned BBase2 = 120,  // fc_engine's bias / requant map
  parameter int unsigned BBase3 = 204,
  parameter int unsigned BAddrW = 8,
  parameter int unsigned AccW   = 26,
  parameter int unsigned NW     = 7,    // bits of a neuron index incl. padding lanes
  parameter int unsigned LaneW  = 3,
  parameter int unsigned OutW   = 7     // bits of a neuron index (requant tag)
) (
  input  logic                         clk_i,
  input  logic                         rst_ni,

  input  fc_layer_e                    layer_i,     // running layer
  input  logic                         load_i,      // the lanes load their hold registers
  input  logic [NW-1:0]                obase_i,     // neuron of lane 0 of that group
  input  logic [Lanes-1:0][AccW-1:0]   hold_i,      // the lanes' hold registers

  output logic                         hold_valid_o,
  output logic                         idle_o,

  output logic                         rd_en_o,     // read bias / requant word rd_addr_o
  output logic [BAddrW-1:0]            rd_addr_o,

  output logic                         rq_valid_o,  // requant input
  input  logic                         rq_ready_i,
  output logic signed [AccW-1:0]       acc_o,
  output logic [OutW-1:0]              tag_o,
  input  logic                         rq_out_valid_i
);

  logic [NW-1:0]     cur_out;
  logic [BAddrW-1:0] cur_bbase;

  always_comb begin
    cur_out   = NW'(Fc1Out);
    cur_bbase = '0;
    unique case (layer_i)
      FcLayerFc2: begin
        cur_out   = NW'(Fc2Out);
        cur_bbase = BAddrW'(BBase2);
      end
      FcLayerFc3: begin
        cur_out   = NW'(Fc3Out);
        cur_bbase = BAddrW'(BBase3);
      end
      default: ;
    endcase
  end

  logic                   hold_valid_q, hold_valid_d;
  logic [NW-1:0]          hold_obase_q, hold_obase_d;
  logic [LaneW-1:0]       k_q, k_d;       // lane fed next
  logic                   f1_valid_q, f1_valid_d;
  logic [5:0]             rq_cnt_q, rq_cnt_d;  // beats inside requant
  logic signed [AccW-1:0] f1_acc_q;
  logic [OutW-1:0]        f1_tag_q;

  logic [NW-1:0] f_o;
  logic          f_adv, f_issue, f_end;

  assign f_o     = hold_obase_q + NW'(k_q);
  assign f_adv   = !f1_valid_q || rq_ready_i;
  assign f_issue = hold_valid_q && f_adv;
  assign f_end   = (k_q == LaneW'(Lanes - 1)) || (f_o == cur_out - NW'(1));

  always_comb begin
    hold_valid_d = hold_valid_q;
    hold_obase_d = hold_obase_q;
    k_d          = k_q;
    f1_valid_d   = f1_valid_q;
    // the sequencer's stall guarantees the hold registers are free when a group ends
    if (load_i) begin
      hold_valid_d = 1'b1;
      hold_obase_d = obase_i;
    end else if (f_issue && f_end) begin
      hold_valid_d = 1'b0;
    end
    if (f_issue) begin
      k_d = f_end ? '0 : k_q + LaneW'(1);
    end
    if (f_adv) begin
      f1_valid_d = f_issue;
    end
    rq_cnt_d = rq_cnt_q + 6'(f1_valid_q && rq_ready_i) - 6'(rq_out_valid_i);
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      hold_valid_q <= 1'b0;
      hold_obase_q <= '0;
      k_q          <= '0;
      f1_valid_q   <= 1'b0;
      rq_cnt_q     <= '0;
    end else begin
      hold_valid_q <= hold_valid_d;
      hold_obase_q <= hold_obase_d;
      k_q          <= k_d;
      f1_valid_q   <= f1_valid_d;
      rq_cnt_q     <= rq_cnt_d;
    end
  end

  always_ff @(posedge clk_i) begin
    if (f_issue) begin
      f1_acc_q <= hold_i[k_q];
      f1_tag_q <= OutW'(f_o);
    end
  end

  assign hold_valid_o = hold_valid_q;
  assign idle_o       = !hold_valid_q && !f1_valid_q && (rq_cnt_q == '0);
  assign rd_en_o      = f_issue;
  assign rd_addr_o    = cur_bbase + BAddrW'(f_o);
  assign rq_valid_o   = f1_valid_q;
  assign acc_o        = f1_acc_q;
  assign tag_o        = f1_tag_q;

endmodule
