// One MAC lane of fc_engine: the weight bank of the output neurons o with
// o % Lanes == Lane (1 write + 1 registered read port, InputsPar bytes per word) and
// InputsPar multiply-accumulates per step, acc = sum (x - zp_in) * w, exact in AccW bits.
//
// Weight bank layout (shared with fc_engine and fc_param_decode): layer k's neuron
// o = g*Lanes + Lane, step s of its group lives at WBase_k + g*Steps_k + s; byte b of that
// word is the weight of the step's activation b. fc1 (In = InChannels*InPixels, input
// i = c*InPixels + p): step s = j*InPixels + p reads channels j*InputsPar .. +InputsPar-1
// of pixel p, byte b = c % InputsPar; fc2 / fc3: step s = i / InputsPar, byte
// b = i % InputsPar. A group of Lanes neurons reads all banks at the same, sequentially
// increasing address.
//
// Pipeline (fc_sequencer's stages): every input of the read side (re_i, raddr_i, xc_i,
// s2_*_i) first enters a register of the lane's own (LI), so the engine's broadcast to all
// lanes, which lie apart on the device, has a whole cycle; the stages below are then one
// cycle later than fc_sequencer's names for them. S1 (the registered re, raddr) -> SA (the
// bank's read data) -> SB (w_sb_q: the weights in plain registers; the registered xc_i in
// the same cycle; both enter mul_reg) -> SM (inside mul_reg) -> S2 (the products) ->
// TreeStages adder stages (two levels of the adder tree each; none when InputsPar = 1) ->
// accumulator (the registered s2_*_i); the group's final sum is copied into hold_o so the
// next group can start at once. The bank's output drives only a register: an ECP5 DP16KD
// without its output register takes about 5.6 ns from the clock to its data.
module fc_lane #(
  parameter int unsigned Lane       = 0,
  parameter int unsigned Lanes      = 8,
  parameter int unsigned InputsPar  = 1,    // activations per step (a power of two)
  parameter int unsigned InPixels   = 36,
  parameter int unsigned Fc1In      = 576,
  parameter int unsigned Fc1Out     = 120,
  parameter int unsigned Fc2Out     = 84,
  parameter int unsigned Fc3Out     = 10,
  parameter int unsigned WBase2     = 8640,  // first address of fc2 (from fc_engine)
  parameter int unsigned WBase3     = 9960,  // first address of fc3
  parameter int unsigned WDepth     = 10128,
  parameter int unsigned WAddrW     = 14,
  parameter int unsigned ByteW      = 1,     // bits of a byte index in a bank word
  parameter int unsigned AccW       = 26,
  parameter string       ParamDir   = "",
  localparam int unsigned K         = InputsPar
) (
  input  logic                   clk_i,
  // weight write port (decoded parameter writes): byte wbyte_i of word waddr_i
  input  logic                   we_i,
  input  logic [WAddrW-1:0]      waddr_i,
  input  logic [ByteW-1:0]       wbyte_i,
  input  logic [7:0]             wdata_i,
  // S1: weight read
  input  logic                   re_i,
  input  logic [WAddrW-1:0]      raddr_i,
  // SB (before LI): centred activations x - zp_in (shared by all lanes; 0 for a missing tail input)
  input  logic [K-1:0][8:0]      xc_i,
  // accumulate (before LI: fc_sequencer's stage in front of ACC)
  input  logic                   s2_valid_i,
  input  logic                   s2_first_i,  // first step of a group: restart the sum
  input  logic                   s2_last_i,   // last step of a group: copy the sum to hold
  output logic signed [AccW-1:0] hold_o
);

  localparam int unsigned Fc2In    = Fc1Out;
  localparam int unsigned Fc3In    = Fc2Out;
  localparam int unsigned Chunks   = Fc1In / InPixels / K;  // fc1 steps per pixel
  localparam int unsigned Fc1Steps = Chunks * InPixels;
  localparam int unsigned Fc2Steps = (Fc2In + K - 1) / K;
  localparam int unsigned Fc3Steps = (Fc3In + K - 1) / K;
  localparam int unsigned Levels   = $clog2(K);           // adder tree levels
  localparam int unsigned TreeStages = (Levels + 1) / 2;
  localparam int unsigned SumW     = 17 + Levels;         // sum of K 17-bit products

  // ------------------------------------------------------------ weight bank
  // Slices of SliceW bits of WDepth words: as wide as one ECP5 DP16KD is at that depth
  // (16K bits), so the read data needs no multiplexer between block RAMs on its way to the
  // multipliers; each slice lies in one byte (its write enable is that byte's).
  localparam int unsigned SliceW = (WDepth <= 2048) ? 8 : (WDepth <= 4096) ? 4 : 2;
  localparam int unsigned Slices = 8 * K / SliceW;

  logic [8*K-1:0]    w_rd;
  logic [K-1:0][7:0] w_sb_q;

  // ------------------------------------------------------------ LI: the lane's input registers
  // The _rep_q suffix asks synthesis (scripts/synth.py) to keep each lane's copy: merged into
  // one, they would be the broadcast again.
  logic              re_rep_q;
  logic [WAddrW-1:0] raddr_rep_q;
  logic [K-1:0][8:0] xc_rep_q;
  logic              valid_rep_q, first_rep_q, last_rep_q;

  always_ff @(posedge clk_i) begin
    re_rep_q    <= re_i;
    raddr_rep_q <= raddr_i;
    xc_rep_q    <= xc_i;
    valid_rep_q <= s2_valid_i;
    first_rep_q <= s2_first_i;
    last_rep_q  <= s2_last_i;
  end

  // Weight of fc<layer>'s neuron o, input i: its bank address and byte (the layout above).
  function automatic int unsigned w_addr(input int unsigned layer, input int unsigned o,
                                         input int unsigned i);
    unique case (layer)
      1: return (o / Lanes) * Fc1Steps + (i / InPixels / K) * InPixels + i % InPixels;
      2: return WBase2 + (o / Lanes) * Fc2Steps + i / K;
      default: return WBase3 + (o / Lanes) * Fc3Steps + i / K;
    endcase
  endfunction
  function automatic int unsigned w_byte(input int unsigned layer, input int unsigned i);
    return (layer == 1) ? (i / InPixels) % K : i % K;
  endfunction

  for (genvar b = 0; b < Slices; b++) begin : g_slice
    localparam int unsigned Byte = SliceW * b / 8;
    localparam int unsigned Lsb  = SliceW * b % 8;

    logic [SliceW-1:0] mem [WDepth];
    logic [SliceW-1:0] rd_q;

    always_ff @(posedge clk_i) begin
      if (we_i && (wbyte_i == ByteW'(Byte))) begin
        mem[waddr_i] <= wdata_i[Lsb +: SliceW];
      end
      if (re_rep_q) begin
        rd_q <= mem[raddr_rep_q];
      end
    end

    assign w_rd[SliceW*b +: SliceW] = rd_q;

    // Optional preload: the files hold all neurons in [Out][In] order, this lane
    // keeps its own rows (every Lanes-th neuron starting at Lane), this slice its bits.
    if (ParamDir != "") begin : g_preload
      logic [7:0] fc1_w [Fc1Out * Fc1In];
      logic [7:0] fc2_w [Fc2Out * Fc2In];
      logic [7:0] fc3_w [Fc3Out * Fc3In];

      initial begin
        $readmemh({ParamDir, "/fc1_weight.mem"}, fc1_w);
        $readmemh({ParamDir, "/fc2_weight.mem"}, fc2_w);
        $readmemh({ParamDir, "/fc3_weight.mem"}, fc3_w);
        for (int unsigned o = Lane; o < Fc1Out; o += Lanes) begin
          for (int unsigned i = 0; i < Fc1In; i++) begin
            if (w_byte(1, i) == Byte) mem[w_addr(1, o, i)] = fc1_w[o * Fc1In + i][Lsb +: SliceW];
          end
        end
        for (int unsigned o = Lane; o < Fc2Out; o += Lanes) begin
          for (int unsigned i = 0; i < Fc2In; i++) begin
            if (w_byte(2, i) == Byte) mem[w_addr(2, o, i)] = fc2_w[o * Fc2In + i][Lsb +: SliceW];
          end
        end
        for (int unsigned o = Lane; o < Fc3Out; o += Lanes) begin
          for (int unsigned i = 0; i < Fc3In; i++) begin
            if (w_byte(3, i) == Byte) mem[w_addr(3, o, i)] = fc3_w[o * Fc3In + i][Lsb +: SliceW];
          end
        end
      end
    end
  end

  always_ff @(posedge clk_i) begin
    w_sb_q <= w_rd;
  end

  // ------------------------------------------------------------ MAC
  // Free-running registered multipliers (latency 2: SM operands, S2 products); only the
  // sums of valid steps are accumulated.
  logic [K-1:0][SumW-1:0] prod;  // sign-extended: the tree adds modulo 2^SumW
  logic [SumW-1:0]        tree_sum;
  logic signed [AccW-1:0] acc_q, hold_q, acc_prev, acc_sum;

  for (genvar b = 0; b < K; b++) begin : g_mul
    logic [16:0] p;

    mul_reg #(
      .AWidth (9),
      .BWidth (8)
    ) u_mul (
      .clk_i,
      .en_i (1'b1),
      .a_i  (xc_rep_q[b]),
      .b_i  (w_sb_q[b]),
      .p_o  (p)
    );

    assign prod[b] = SumW'($signed(p));
  end

  // Adder tree: stage t adds two levels (one if a single level is left), registered.
  for (genvar t = 0; t < TreeStages; t++) begin : g_tree
    localparam int unsigned NIn  = K >> (2 * t);
    localparam int unsigned Lv   = (Levels - 2 * t >= 2) ? 2 : 1;
    localparam int unsigned NOut = NIn >> Lv;

    logic [NIn-1:0][SumW-1:0]  in;
    logic [NOut-1:0][SumW-1:0] sum_d, sum_q;

    if (t == 0) begin : g_first
      assign in = prod;
    end else begin : g_next
      assign in = g_tree[t-1].sum_q;
    end

    for (genvar n = 0; n < NOut; n++) begin : g_add
      if (Lv == 2) begin : g_two
        assign sum_d[n] = (in[4*n] + in[4*n+1]) + (in[4*n+2] + in[4*n+3]);
      end else begin : g_one
        assign sum_d[n] = in[2*n] + in[2*n+1];
      end
    end

    always_ff @(posedge clk_i) begin
      sum_q <= sum_d;
    end
  end

  if (TreeStages == 0) begin : g_no_tree
    assign tree_sum = prod[0];
  end else begin : g_tree_out
    assign tree_sum = g_tree[TreeStages-1].sum_q[0];
  end

  always_comb begin
    acc_prev = first_rep_q ? '0 : acc_q;
    acc_sum  = acc_prev + AccW'($signed(tree_sum));
  end

  always_ff @(posedge clk_i) begin
    if (valid_rep_q) begin
      acc_q <= acc_sum;
      if (last_rep_q) begin
        hold_q <= acc_sum;
      end
    end
  end

  assign hold_o = hold_q;

endmodule
