// One MAC lane of fc_engine: the weight bank of the output neurons o with
// o % Lanes == Lane (one narrow 8-bit RAM, 1 write + 1 registered read port) and
// a multiply-accumulate acc = sum (x - zp_in) * w, exact in AccW bits.
//
// Weight bank layout (shared with fc_engine): layer k's neuron o = g*Lanes + Lane,
// input i lives at WBase_k + g*In_k + i, so a group of Lanes neurons reads all
// banks at the same, sequentially increasing address.
//
// Pipeline (fc_sequencer's stages): S1 (re_i, raddr_i) -> SA (w_q: the bank's read data)
// -> SB (w_sb_q: the weight in a plain register; xc_i arrives in the same cycle; both enter
// mul_reg) -> SM (inside mul_reg) -> S2 (the product) -> accumulator;
// the group's final sum is copied into hold_o so the next group can start at once. The
// bank's output drives only a register: an ECP5 DP16KD without its output register takes
// about 5.6 ns from the clock to its data.
module fc_lane #(
  parameter int unsigned Lane     = 0,
  parameter int unsigned Lanes    = 8,
  parameter int unsigned Fc1In    = 576,
  parameter int unsigned Fc1Out   = 120,
  parameter int unsigned Fc2Out   = 84,
  parameter int unsigned Fc3Out   = 10,
  parameter int unsigned WBase2   = 8640,  // first address of fc2 (from fc_engine)
  parameter int unsigned WBase3   = 9960,  // first address of fc3
  parameter int unsigned WDepth   = 10128,
  parameter int unsigned WAddrW   = 14,
  parameter int unsigned AccW     = 26,
  parameter string       ParamDir = ""
) (
  input  logic                   clk_i,
  // weight write port (decoded parameter writes)
  input  logic                   we_i,
  input  logic [WAddrW-1:0]      waddr_i,
  input  logic [7:0]             wdata_i,
  // S1: weight read
  input  logic                   re_i,
  input  logic [WAddrW-1:0]      raddr_i,
  // SB: centred activation x - zp_in (shared by all lanes)
  input  logic signed [8:0]      xc_i,
  // S2: accumulate
  input  logic                   s2_valid_i,
  input  logic                   s2_first_i,  // first input of a group: restart the sum
  input  logic                   s2_last_i,   // last input of a group: copy the sum to hold
  output logic signed [AccW-1:0] hold_o
);

  localparam int unsigned Fc2In = Fc1Out;
  localparam int unsigned Fc3In = Fc2Out;

  // ------------------------------------------------------------ weight bank
  // Four 2-bit wide slices of WDepth words (weight bits [2b+1:2b] in slice b): a 2-bit wide
  // memory of up to 8K words is one ECP5 DP16KD, so the read data needs no multiplexer
  // between block RAMs on its way to the multiplier (an 8-bit wide one would be split by
  // depth, 2K words per block RAM).
  localparam int unsigned Slices = 4;  // the preload below writes exactly four

  logic [7:0]        w_rd;
  logic signed [7:0] w_q, w_sb_q;

  for (genvar b = 0; b < Slices; b++) begin : g_slice
    logic [1:0] mem [WDepth];
    logic [1:0] rd_q;

    always_ff @(posedge clk_i) begin
      if (we_i) begin
        mem[waddr_i] <= wdata_i[2*b +: 2];
      end
      if (re_i) begin
        rd_q <= mem[raddr_i];
      end
    end

    assign w_rd[2*b +: 2] = rd_q;
  end

  assign w_q = w_rd;

  always_ff @(posedge clk_i) begin
    w_sb_q <= w_q;
  end

  // Optional preload: the files hold all neurons in [Out][In] order, this lane
  // keeps its own rows (every Lanes-th neuron starting at Lane).
  if (ParamDir != "") begin : g_preload
    logic [7:0] fc1_w [Fc1Out * Fc1In];
    logic [7:0] fc2_w [Fc2Out * Fc2In];
    logic [7:0] fc3_w [Fc3Out * Fc3In];

    task automatic put(input int unsigned a, input logic [7:0] w);
      g_slice[0].mem[a] = w[1:0];
      g_slice[1].mem[a] = w[3:2];
      g_slice[2].mem[a] = w[5:4];
      g_slice[3].mem[a] = w[7:6];
    endtask

    initial begin
      $readmemh({ParamDir, "/fc1_weight.mem"}, fc1_w);
      $readmemh({ParamDir, "/fc2_weight.mem"}, fc2_w);
      $readmemh({ParamDir, "/fc3_weight.mem"}, fc3_w);
      for (int unsigned o = Lane; o < Fc1Out; o += Lanes) begin
        for (int unsigned i = 0; i < Fc1In; i++) begin
          put((o / Lanes) * Fc1In + i, fc1_w[o * Fc1In + i]);
        end
      end
      for (int unsigned o = Lane; o < Fc2Out; o += Lanes) begin
        for (int unsigned i = 0; i < Fc2In; i++) begin
          put(WBase2 + (o / Lanes) * Fc2In + i, fc2_w[o * Fc2In + i]);
        end
      end
      for (int unsigned o = Lane; o < Fc3Out; o += Lanes) begin
        for (int unsigned i = 0; i < Fc3In; i++) begin
          put(WBase3 + (o / Lanes) * Fc3In + i, fc3_w[o * Fc3In + i]);
        end
      end
    end
  end

  // ------------------------------------------------------------ MAC
  // Free-running registered multiplier (latency 2: SM operands, S2 product); only the
  // products of valid steps are accumulated.
  logic [16:0]            prod;
  logic signed [AccW-1:0] acc_q, hold_q, acc_prev, acc_sum;

  mul_reg #(
    .AWidth (9),
    .BWidth (8)
  ) u_mul (
    .clk_i,
    .en_i (1'b1),
    .a_i  (xc_i),
    .b_i  (w_sb_q),
    .p_o  (prod)
  );

  always_comb begin
    acc_prev = s2_first_i ? '0 : acc_q;
    acc_sum  = acc_prev + AccW'($signed(prod));
  end

  always_ff @(posedge clk_i) begin
    if (s2_valid_i) begin
      acc_q <= acc_sum;
      if (s2_last_i) begin
        hold_q <= acc_sum;
      end
    end
  end

  assign hold_o = hold_q;

endmodule
