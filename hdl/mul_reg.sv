// Registered multiplier: p_o = a * b of the operands presented 2 enabled clock edges earlier.
//
//   a_i, b_i -> input registers -> multiply -> output register -> p_o
//
// AWidth x BWidth <= 18 x 18, each operand signed or unsigned (ASigned/BSigned); the product
// is PWidth = AWidth + BWidth bits, signed if either operand is (it always fits). One clock
// enable en_i holds all three registers (stall-all pipelines stall it with the rest), and
// the registers have no reset: the caller's valid bits say which products are real. Latency
// is fixed at 2 enabled edges.
//
// Mapping: on ECP5 (SYNTH_ECP5 defined, only by scripts/synth.py's ECP5 run) an explicit
// MULT18X18D with its input (CLK0/CE0) and output registers enabled. Yosys maps an inferred
// multiply onto MULT18X18D without absorbing flip-flops into it, which leaves up to 3.9 ns
// of combinational delay through the block between fabric registers; with the block's own
// registers the paths into, through and out of it are short, and nextpnr times them. Every
// other flow (Verilator lint and simulation, Yosys generic and 7 series, the mutation
// netlist) uses the behavioural code, which a DSP mapper may pack likewise. An 8x9 product
// still costs a whole MULT18X18D: neither Yosys nor nextpnr supports MULT9X9D.
//
// UseDsp = 0: a multiplier in logic for the products beyond the device's DSP blocks, the
// same in every flow (simulated as it is synthesized): shifted and gated copies of a, one
// per bit of b, added as a balanced tree between the input and output registers. No
// multiply operator, so no DSP mapper packs it.
module mul_reg #(
  parameter int unsigned AWidth  = 18,
  parameter int unsigned BWidth  = 18,
  parameter bit          ASigned = 1'b1,
  parameter bit          BSigned = 1'b1,
  parameter bit          UseDsp  = 1'b1,
  localparam int unsigned PWidth = AWidth + BWidth
) (
  input  logic              clk_i,
  input  logic              en_i,
  input  logic [AWidth-1:0] a_i,
  input  logic [BWidth-1:0] b_i,
  output logic [PWidth-1:0] p_o
);

  if (AWidth < 1 || AWidth > 18 || BWidth < 1 || BWidth > 18) begin : g_err_width
    $fatal(1, "mul_reg: AWidth = %0d, BWidth = %0d: each must be 1..18", AWidth, BWidth);
  end

  if (!UseDsp) begin : g_lut
    // Rows b[j] ? a << j : 0 (a extended to the product's width), summed by a balanced tree
    // of carry-chain adders; the row of a signed b's sign bit weighs -2^(BWidth-1), so the
    // first-level node above it subtracts it (a subtract is a carry chain like an add).
    // Arithmetic is modulo 2^PWidth, exact because the product fits PWidth bits. The two
    // registers split the work: the rows and the first adder level are formed from a_i / b_i
    // and registered (a register of its own per multiplier, so that no operand register
    // fans out into every row of many multipliers), the rest of the tree feeds p_q.
    localparam int unsigned Levels = (BWidth > 1) ? $clog2(BWidth) : 1;
    localparam int unsigned Leaves = 1 << Levels;
    localparam int unsigned Half   = Leaves / 2;  // first-level nodes Half .. Leaves - 1
    localparam int unsigned MsbLeaf = Leaves + BWidth - 1;

    logic [PWidth-1:0] a_ext, p_q;
    // heap order: node 1 = the product, leaf Leaves + j = row j; nodes Half .. Leaves - 1
    // come from level1_q. keep: every add stays its own carry-chain adder (Yosys would merge
    // the tree into one $macc of plain LUTs)
    (* keep *) logic [2*Leaves-1:0][PWidth-1:0] row;
    (* keep *) logic [Half-1:0][PWidth-1:0]     level1, level1_q;
    (* keep *) logic [2*Half-1:0][PWidth-1:0]   upper;

    assign a_ext = ASigned ? PWidth'($signed(a_i)) : PWidth'(a_i);

    always_comb begin
      row = '0;
      for (int unsigned j = 0; j < BWidth; j++) begin
        row[Leaves + j] = b_i[j] ? a_ext << j : '0;
      end
      for (int unsigned n = Half; n < Leaves; n++) begin
        if (BSigned && n == MsbLeaf / 2 && MsbLeaf % 2 == 1) begin
          level1[n - Half] = row[2 * n] - row[2 * n + 1];
        end else if (BSigned && n == MsbLeaf / 2) begin
          level1[n - Half] = row[2 * n + 1] - row[2 * n];
        end else begin
          level1[n - Half] = row[2 * n] + row[2 * n + 1];
        end
      end
    end

    always_comb begin
      upper = '0;
      for (int unsigned n = Half; n < Leaves; n++) begin
        upper[n] = level1_q[n - Half];
      end
      for (int unsigned n = Half - 1; n >= 1; n--) begin
        upper[n] = upper[2 * n] + upper[2 * n + 1];
      end
    end

    always_ff @(posedge clk_i) begin
      if (en_i) begin
        level1_q <= level1;
        p_q      <= upper[1];
      end
    end

    assign p_o = p_q;
  end else begin : g_dsp
`ifdef SYNTH_ECP5
    logic [17:0] a18, b18;
    logic [35:0] p36;

    // Operands sign- or zero-extended to the block's 18 bits (SIGNEDA/SIGNEDB say which).
    assign a18 = ASigned ? 18'($signed(a_i)) : 18'(a_i);
    assign b18 = BSigned ? 18'($signed(b_i)) : 18'(b_i);

    MULT18X18D #(
      .REG_INPUTA_CLK   ("CLK0"),
      .REG_INPUTA_CE    ("CE0"),
      .REG_INPUTA_RST   ("RST0"),
      .REG_INPUTB_CLK   ("CLK0"),
      .REG_INPUTB_CE    ("CE0"),
      .REG_INPUTB_RST   ("RST0"),
      .REG_INPUTC_CLK   ("NONE"),
      .REG_PIPELINE_CLK ("NONE"),
      .REG_OUTPUT_CLK   ("CLK0"),
      .REG_OUTPUT_CE    ("CE0"),
      .REG_OUTPUT_RST   ("RST0"),
      .GSR              ("DISABLED"),
      .RESETMODE        ("SYNC")
    ) u_mult18x18d (
      .A0(a18[0]), .A1(a18[1]), .A2(a18[2]), .A3(a18[3]), .A4(a18[4]), .A5(a18[5]),
      .A6(a18[6]), .A7(a18[7]), .A8(a18[8]), .A9(a18[9]), .A10(a18[10]), .A11(a18[11]),
      .A12(a18[12]), .A13(a18[13]), .A14(a18[14]), .A15(a18[15]), .A16(a18[16]), .A17(a18[17]),
      .B0(b18[0]), .B1(b18[1]), .B2(b18[2]), .B3(b18[3]), .B4(b18[4]), .B5(b18[5]),
      .B6(b18[6]), .B7(b18[7]), .B8(b18[8]), .B9(b18[9]), .B10(b18[10]), .B11(b18[11]),
      .B12(b18[12]), .B13(b18[13]), .B14(b18[14]), .B15(b18[15]), .B16(b18[16]), .B17(b18[17]),
      .C0(1'b0), .C1(1'b0), .C2(1'b0), .C3(1'b0), .C4(1'b0), .C5(1'b0),
      .C6(1'b0), .C7(1'b0), .C8(1'b0), .C9(1'b0), .C10(1'b0), .C11(1'b0),
      .C12(1'b0), .C13(1'b0), .C14(1'b0), .C15(1'b0), .C16(1'b0), .C17(1'b0),
      .SIGNEDA (ASigned ? 1'b1 : 1'b0),
      .SIGNEDB (BSigned ? 1'b1 : 1'b0),
      .SOURCEA (1'b0),
      .SOURCEB (1'b0),
      .CLK0    (clk_i),
      .CE0     (en_i),
      .RST0    (1'b0),
      .P0(p36[0]), .P1(p36[1]), .P2(p36[2]), .P3(p36[3]), .P4(p36[4]), .P5(p36[5]),
      .P6(p36[6]), .P7(p36[7]), .P8(p36[8]), .P9(p36[9]), .P10(p36[10]), .P11(p36[11]),
      .P12(p36[12]), .P13(p36[13]), .P14(p36[14]), .P15(p36[15]), .P16(p36[16]), .P17(p36[17]),
      .P18(p36[18]), .P19(p36[19]), .P20(p36[20]), .P21(p36[21]), .P22(p36[22]), .P23(p36[23]),
      .P24(p36[24]), .P25(p36[25]), .P26(p36[26]), .P27(p36[27]), .P28(p36[28]), .P29(p36[29]),
      .P30(p36[30]), .P31(p36[31]), .P32(p36[32]), .P33(p36[33]), .P34(p36[34]), .P35(p36[35])
    );

    assign p_o = p36[PWidth-1:0];
`else
    logic [AWidth-1:0] a_q;
    logic [BWidth-1:0] b_q;
    logic [PWidth-1:0] prod, p_q;

    // Operands extended to the product's width as their signedness says: the product is exact.
    if (ASigned && BSigned) begin : g_ss
      assign prod = PWidth'($signed(a_q) * $signed(b_q));
    end else if (ASigned) begin : g_su
      assign prod = PWidth'($signed(a_q) * $signed({1'b0, b_q}));
    end else if (BSigned) begin : g_us
      assign prod = PWidth'($signed({1'b0, a_q}) * $signed(b_q));
    end else begin : g_uu
      assign prod = PWidth'(a_q * b_q);
    end

    always_ff @(posedge clk_i) begin
      if (en_i) begin
        a_q <= a_i;
        b_q <= b_i;
        p_q <= prod;
      end
    end

    assign p_o = p_q;
`endif
  end

endmodule
