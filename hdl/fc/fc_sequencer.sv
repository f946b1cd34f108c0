// Sequencer of fc_engine: walks fc1, fc2, fc3 group by group and issues one MAC step per
// cycle, and carries the step's valid/first/last flags down the lanes' pipeline.
//
// A group is Lanes neurons (group g, lane l: neuron g*Lanes + l); a step reads InputsPar
// activations of the running layer (fc1: input bank word pix, channel chunk ch, i.e. bytes
// ch*InputsPar .. +InputsPar-1, for step idx = ch*InPixels + pix; fc2 / fc3: act word idx)
// and weight address waddr_o in every lane; waddr runs through fc_lane's bank map (fc1
// groups from 0, fc2 from WBase2, fc3 from WBase3). A layer has Steps = ceil(In / InputsPar)
// steps per group (fc1: InPixels * InChannels / InputsPar).
//
// States: Idle until the read bank holds an image; Issue (one step per cycle; the last step
// of a group waits while the previous group's sums still occupy the lanes' hold registers);
// Drain after a layer's last step, until the lanes and the requant feeder are empty (the
// next layer reads what this one wrote). fc3 starts only when fc_result_tx is not sending
// (fc3 overwrites the result registers); after fc3's drain out_start_o pulses for one cycle.
//
// Pipeline, one register stage per step so that no block RAM output drives logic:
//   issue  (cycle t: issue_o, the activation read address)
//   S1     (t+1: the activation word is out of its buffer; the weight banks register the
//          weight address)
//   SA     (t+2: the activation word in a plain register, sa_ch_o selects its chunk, sa_last_o
//          marks a group's last step (fc_engine masks a tail step's missing inputs); the
//          weight is out of its bank)
//   SB     (t+3: the centred activation and the weight in plain registers)
//   SM     (t+4: inside the lanes' registered multipliers)
//   S2     (t+5: the products; then TreeStages adder tree stages)
//   ACC    (t+5+TreeStages: the lanes accumulate; on a last step the sums go to the hold
//          registers (acc_load_o), group base acc_obase_o).
// Each lane first registers what the engine broadcasts to all lanes (fc_lane's LI: the
// weight read, the activations, the lane_* flags one stage before ACC), so from S1 on its
// stages are one cycle later than above and pipe_q has one more stage than their count.
// fc1_release_o pulses with fc1's last issue: the input bank is free from the next cycle.
module fc_sequencer import fashion_lenet_pkg::*; #(
  parameter int unsigned Lanes      = 8,
  parameter int unsigned InputsPar  = 1,     // activations per step (divides InChannels)
  parameter int unsigned InChannels = 16,
  parameter int unsigned InPixels   = 36,
  /* verilator lint_off VARHIDDEN */  // fc_engine's sizes hide the package's network sizes
  parameter int unsigned Fc1Out     = fashion_lenet_pkg::Fc1Out,
  parameter int unsigned Fc2Out     = fashion_lenet_pkg::Fc2Out,
  parameter int unsigned Fc3Out     = fashion_lenet_pkg::Fc3Out,
  parameter int unsigned WBase2     = 8640,  // fc_engine's weight bank map
  parameter int unsigned WBase3     = 9960,
  parameter int unsigned WAddrW     = 14,
  parameter int unsigned IdxW       = 10,    // bits of a step index (max Steps)
  parameter int unsigned ActW       = 7,     // bits of an act1 / act2 address
  parameter int unsigned GrpW       = 4,     // bits of a group index (max groups)
  parameter int unsigned NW         = 7,     // bits of a neuron index incl. padding lanes
  parameter int unsigned PixW       = 6,     // bits of a pixel index (InPixels)
  parameter int unsigned ChW        = 4,     // bits of a chunk index (InChannels / InputsPar)
  parameter int unsigned InAW       = 7      // bits of an input buffer address (two banks)
) (
  input  logic              clk_i,
  input  logic              rst_ni,

  input  logic              in_full_i,      // the read bank holds a complete image
  input  logic              in_rbank_i,     // the bank fc1 reads
  input  logic              hold_valid_i,   // fc_requant_feeder: hold registers occupied
  input  logic              feeder_idle_i,  // fc_requant_feeder: nothing held or in requant
  input  logic              out_busy_i,     // fc_result_tx is sending

  output fc_layer_e         layer_o,        // running layer
  output logic              issue_o,        // a step: read the activation and the weights
  output logic [ActW-1:0]   act_idx_o,      // act1 (fc2) / act2 (fc3) address
  output logic [InAW-1:0]   in_raddr_o,     // input buffer address (fc1)
  output logic [WAddrW-1:0] waddr_o,        // weight bank address
  output logic              fc1_release_o,

  output logic [ChW-1:0]    sa_ch_o,        // fc1: chunk of the input word (stage SA)
  output logic              sa_last_o,      // stage SA: the last step of a group
  output logic              lane_valid_o,   // to the lanes' input registers: ACC next cycle
  output logic              lane_first_o,   // first step of a group: restart the sums
  output logic              lane_last_o,    // last step of a group: sums to hold
  output logic              acc_load_o,     // ACC: a group's sums go to the hold registers
  output logic [NW-1:0]     acc_obase_o,    // neuron of lane 0 of that group

  output logic              out_start_o
);

  localparam int unsigned Fc2In     = Fc1Out;
  localparam int unsigned Fc3In     = Fc2Out;  /* verilator lint_on VARHIDDEN */
  localparam int unsigned Fc1Groups = (Fc1Out + Lanes - 1) / Lanes;
  localparam int unsigned Fc2Groups = (Fc2Out + Lanes - 1) / Lanes;
  localparam int unsigned Fc3Groups = (Fc3Out + Lanes - 1) / Lanes;
  localparam int unsigned Chunks    = InChannels / InputsPar;  // fc1 steps per pixel
  localparam int unsigned Fc1Steps  = Chunks * InPixels;
  localparam int unsigned Fc2Steps  = (Fc2In + InputsPar - 1) / InputsPar;
  localparam int unsigned Fc3Steps  = (Fc3In + InputsPar - 1) / InputsPar;
  localparam int unsigned TreeStages = ($clog2(InputsPar) + 1) / 2;  // fc_lane's adder tree

  typedef enum logic [1:0] {
    StIdle  = 2'd0,
    StIssue = 2'd1,
    StDrain = 2'd2
  } state_e;

  state_e            state_q, state_d;
  fc_layer_e         layer_q, layer_d;
  logic [GrpW-1:0]   grp_q, grp_d;
  logic [IdxW-1:0]   idx_q, idx_d;
  logic [PixW-1:0]   pix_q, pix_d;
  logic [ChW-1:0]    ch_q, ch_d;
  logic [WAddrW-1:0] waddr_q, waddr_d;
  logic              out_start_q, out_start_d;

  // Constants of the running layer.
  // The last step and group of a layer.
  function automatic logic [IdxW-1:0] in_last_of(input fc_layer_e layer);
    unique case (layer)
      FcLayerFc2: return IdxW'(Fc2Steps - 1);
      FcLayerFc3: return IdxW'(Fc3Steps - 1);
      default:    return IdxW'(Fc1Steps - 1);
    endcase
  endfunction

  function automatic logic [GrpW-1:0] grp_last_of(input fc_layer_e layer);
    unique case (layer)
      FcLayerFc2: return GrpW'(Fc2Groups - 1);
      FcLayerFc3: return GrpW'(Fc3Groups - 1);
      default:    return GrpW'(Fc1Groups - 1);
    endcase
  endfunction

  // idx_q == in_last_of(layer_q) and grp_q == grp_last_of(layer_q), kept in registers: they
  // decide every issue, which fans out to all read enables.
  logic idx_last_q, idx_last_d, grp_last_q, grp_last_d;

  // The step's flags down the lanes' pipeline: pipe_q[0] = S1 .. pipe_q[LaneStages-1] = ACC
  // (the lanes' input register is the one stage more than S1 .. S2 and the tree).
  localparam int unsigned LaneStages = 6 + TreeStages;

  typedef struct packed {
    logic            valid;
    logic            first;  // first step of a group
    logic            last;   // last step of a group
    logic [ChW-1:0]  ch;
    logic [NW-1:0]   obase;
  } step_t;

  step_t                 step_in;
  step_t [LaneStages-1:0] pipe_q;  // packed: a shift register, not a memory
  logic                  pipe_busy, pipe_last_q, pipe_last_d;

  // pipe_last_q: a group's last step is in pipe_q (kept in a register, as the issue
  // decision depends on it).
  always_comb begin
    pipe_busy   = 1'b0;
    pipe_last_d = step_in.last;
    for (int unsigned k = 0; k < LaneStages; k++) begin
      pipe_busy |= pipe_q[k].valid;
    end
    for (int unsigned k = 0; k + 1 < LaneStages; k++) begin
      pipe_last_d |= pipe_q[k].last;
    end
  end

  logic issue, issue_last, issue_stall, drained;

  assign issue_last  = idx_last_q;
  // A group's sums may enter the hold registers only once the previous group's have been
  // fed to requant (waits when Steps < Lanes + LaneStages + 1, see fc_engine).
  assign issue_stall = issue_last && (hold_valid_i || pipe_last_q);
  assign issue       = (state_q == StIssue) && !issue_stall;
  assign drained     = !pipe_busy && feeder_idle_i;

  always_comb begin
    state_d     = state_q;
    layer_d     = layer_q;
    grp_d       = grp_q;
    idx_d       = idx_q;
    pix_d       = pix_q;
    ch_d        = ch_q;
    waddr_d     = waddr_q;
    out_start_d = 1'b0;
    idx_last_d  = idx_last_q;
    grp_last_d  = grp_last_q;
    unique case (state_q)
      StIdle: begin
        if (in_full_i) begin
          state_d = StIssue;
          layer_d = FcLayerFc1;
          grp_d   = '0;
          idx_d   = '0;
          pix_d   = '0;
          ch_d    = '0;
          waddr_d = '0;
          idx_last_d = (in_last_of(FcLayerFc1) == '0);
          grp_last_d = (grp_last_of(FcLayerFc1) == '0);
        end
      end
      StIssue: begin
        if (issue) begin
          waddr_d = waddr_q + WAddrW'(1);
          if (issue_last) begin
            idx_d = '0;
            pix_d = '0;
            ch_d  = '0;
            idx_last_d = (in_last_of(layer_q) == '0);
            if (grp_last_q) begin
              grp_d   = '0;
              state_d = StDrain;
            end else begin
              grp_d = grp_q + GrpW'(1);
              grp_last_d = (grp_q == grp_last_of(layer_q) - GrpW'(1));
            end
          end else begin
            idx_d = idx_q + IdxW'(1);
            idx_last_d = (idx_q == in_last_of(layer_q) - IdxW'(1));
            // fc1 walks idx = ch*InPixels + pix: pixel inner, chunk outer
            if (pix_q == PixW'(InPixels - 1)) begin
              pix_d = '0;
              ch_d  = ch_q + ChW'(1);
            end else begin
              pix_d = pix_q + PixW'(1);
            end
          end
        end
      end
      StDrain: begin
        if (drained) begin
          unique case (layer_q)
            FcLayerFc1: begin
              layer_d = FcLayerFc2;
              waddr_d = WAddrW'(WBase2);
              state_d = StIssue;
              idx_last_d = (in_last_of(FcLayerFc2) == '0);
              grp_last_d = (grp_last_of(FcLayerFc2) == '0);
            end
            FcLayerFc2: begin
              if (!out_busy_i) begin
                layer_d = FcLayerFc3;
                waddr_d = WAddrW'(WBase3);
                state_d = StIssue;
                idx_last_d = (in_last_of(FcLayerFc3) == '0);
                grp_last_d = (grp_last_of(FcLayerFc3) == '0);
              end
            end
            default: begin
              out_start_d = 1'b1;
              state_d     = StIdle;
            end
          endcase
        end
      end
      default: state_d = StIdle;
    endcase
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      idx_last_q  <= (IdxW'(0) == in_last_of(FcLayerFc1));
      grp_last_q  <= (GrpW'(0) == grp_last_of(FcLayerFc1));
      state_q     <= StIdle;
      layer_q     <= FcLayerFc1;
      grp_q       <= '0;
      idx_q       <= '0;
      pix_q       <= '0;
      ch_q        <= '0;
      waddr_q     <= '0;
      out_start_q <= 1'b0;
    end else begin
      idx_last_q  <= idx_last_d;
      grp_last_q  <= grp_last_d;
      state_q     <= state_d;
      layer_q     <= layer_d;
      grp_q       <= grp_d;
      idx_q       <= idx_d;
      pix_q       <= pix_d;
      ch_q        <= ch_d;
      waddr_q     <= waddr_d;
      out_start_q <= out_start_d;
    end
  end

  assign step_in = '{valid: issue, first: issue && (idx_q == '0), last: issue && issue_last,
                     ch: ch_q, obase: NW'(grp_q * Lanes)};

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      pipe_q      <= '0;
      pipe_last_q <= 1'b0;
    end else begin
      pipe_q      <= {pipe_q[LaneStages-2:0], step_in};
      pipe_last_q <= pipe_last_d;
    end
  end

  assign layer_o       = layer_q;
  assign issue_o       = issue;
  assign act_idx_o     = ActW'(idx_q);
  assign in_raddr_o    = in_rbank_i ? InAW'(InPixels) + InAW'(pix_q) : InAW'(pix_q);
  assign waddr_o       = waddr_q;
  assign fc1_release_o = issue && issue_last && grp_last_q && (layer_q == FcLayerFc1);
  assign sa_ch_o       = pipe_q[1].ch;
  assign sa_last_o     = pipe_q[1].last;
  assign lane_valid_o  = pipe_q[LaneStages-2].valid;
  assign lane_first_o  = pipe_q[LaneStages-2].first;
  assign lane_last_o   = pipe_q[LaneStages-2].last;
  assign acc_load_o    = pipe_q[LaneStages-1].valid && pipe_q[LaneStages-1].last;
  assign acc_obase_o   = pipe_q[LaneStages-1].obase;
  assign out_start_o   = out_start_q;

endmodule
