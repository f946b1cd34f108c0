// AXI4-Lite slave of the accelerator: CSR block and parameter write decoding.
//
// AXI4-Lite ports keep their AMBA names behind the `s_axil_` prefix (documented style exception)
// so that cocotbext-axi binds with AxiLiteBus.from_prefix(dut, "s_axil").
//
// Byte address map: the CSRs and parameter regions of docs/register-map.md, their constants in
// fashion_lenet_pkg (both generated from model/network.py); AddrWidth = 24-bit addresses,
// 32-bit data, one element per word. The decode slices the address (the elaboration checks
// below hold the package's offsets to these slices):
//   [23:20] == 0               CSR block: [19:5] == 0, word index [4:2] = CsrId .. CsrFrameErrors
//   [23:20] == L + 1           layer L (layer_e: LayerConv1 .. LayerFc3), L < NumLayers, regions
//                              (param_kind_e, element index = offset from the region / 4):
//     [19] == 0                ParamWeight   RegionWeightOffset, index [18:2]; int8 in wdata[7:0]
//     [19:18] == 2'b10         ParamBias     RegionBiasOffset, index [17:2]; int32
//     [19:18] == 2'b11,        ParamRequant  RegionRequantOffset, index [17:2]; shift << 24 | m24
//       [17:16] != 2'b11
//     [19:16] == 4'hF          ParamZp       RegionZpOffset, index [15:2] (one word per layer):
//                                            zp_out << 8 | zp_in
//   An element index past its memory's size (mem_count) is unmapped.
// Responses:
//   - writes to unmapped addresses (incl. indexes past a memory's size), to read-only CSRs, or
//     parameter writes with wstrb != 4'b1111 (parameters are whole words): SLVERR, no effect;
//   - reads of parameter regions return 0 with OKAY (the memories live in the compute blocks
//     and have no read port); reads of unmapped addresses return 0 with SLVERR.
//   - addr[1:0] are ignored (word access).
// Every stage is registered, the address decode has a cycle of its own (it must not limit the
// clock): a write is captured (AW and W independently), decoded, then executed with its B
// response, which comes 3 cycles after the later of AW and W, one write every 2 cycles at
// most; a parameter write's port strobe (param_we_o) rises with bvalid. A read is captured,
// decoded, then answered: R 3 cycles after AR, one read in flight.
module axil_regs import fashion_lenet_pkg::*; (
  input  logic        clk_i,
  input  logic        rst_ni,

  // AXI4-Lite slave
  input  logic [AddrWidth-1:0] s_axil_awaddr,
  input  logic [2:0]  s_axil_awprot,
  input  logic        s_axil_awvalid,
  output logic        s_axil_awready,
  input  logic [31:0] s_axil_wdata,
  input  logic [3:0]  s_axil_wstrb,
  input  logic        s_axil_wvalid,
  output logic        s_axil_wready,
  output logic [1:0]  s_axil_bresp,
  output logic        s_axil_bvalid,
  input  logic        s_axil_bready,
  input  logic [AddrWidth-1:0] s_axil_araddr,
  input  logic [2:0]  s_axil_arprot,
  input  logic        s_axil_arvalid,
  output logic        s_axil_arready,
  output logic [31:0] s_axil_rdata,
  output logic [1:0]  s_axil_rresp,
  output logic        s_axil_rvalid,
  input  logic        s_axil_rready,

  // parameter write port, one write enable per layer (bit = layer_e code)
  output logic [NumLayers-1:0] param_we_o,
  output param_kind_e param_sel_o,
  output logic [ParamIndexWidth-1:0] param_addr_o,
  output logic [31:0] param_wdata_o,

  // status from the data path
  input  logic        busy_i,
  input  logic [31:0] images_done_i,
  input  logic [31:0] last_cycles_i,
  input  logic [31:0] cycle_count_i,
  input  logic [31:0] frame_errors_i,
  output logic        frame_errors_clear_o
);

  // From fashion_lenet_pkg: IdValue, the CSR word indexes CsrId .. CsrFrameErrors (addr[4:2]),
  // layer_e and param_kind_e (the parameter port's codes), the layer dimensions. The decode
  // (see the header) slices the address at the package's boundaries; these checks hold it there:
  if (AddrWidth != 24 || LayerAddrLsb != 20 || NumLayers > 15 || CsrIndexWidth != 3
      || ParamIndexWidth != 17 || RegionWeightOffset != 24'h000000 || RegionBiasOffset != 24'h080000
      || RegionRequantOffset != 24'h0C0000 || RegionZpOffset != 24'h0F0000) begin : g_err_map
    $fatal(1, "axil_regs: the address decode does not match fashion_lenet_pkg");
  end
  if (StatusBusyBit != 0 || StatusFrameErrorBit != 1) begin : g_err_status
    $fatal(1, "axil_regs: STATUS is {frame_error, busy}, fashion_lenet_pkg differs");
  end

  // AXI4-Lite responses
  localparam logic [1:0]  RespOkay = 2'b00;
  localparam logic [1:0]  RespSlvErr = 2'b10;

  typedef enum logic [1:0] {
    KindUnmapped = 2'd0,
    KindCsr      = 2'd1,
    KindParam    = 2'd2
  } kind_e;

  typedef struct packed {
    kind_e       kind;
    layer_e      layer;
    param_kind_e sel;
    logic [ParamIndexWidth-1:0] index;  // element index (CSR: word index in [2:0])
  } decode_t;

  // Element counts of every parameter memory: index >= count is unmapped (g_count).
  function automatic int unsigned mem_count(layer_e layer, param_kind_e sel);
    int unsigned cout, fan_in, count;
    case (layer)
      LayerConv1: begin cout = Conv1Out; fan_in = Conv1In * Kernel * Kernel; end
      LayerConv2: begin cout = Conv2Out; fan_in = Conv2In * Kernel * Kernel; end
      LayerFc1:   begin cout = Fc1Out;   fan_in = Fc1In;                     end
      LayerFc2:   begin cout = Fc2Out;   fan_in = Fc2In;                     end
      default:    begin cout = Fc3Out;   fan_in = Fc3In;                     end  // LayerFc3
    endcase
    // one return at the end: Verilator's line coverage misses case arms that return
    case (sel)
      ParamWeight: count = cout * fan_in;
      ParamZp:     count = 1;
      default:     count = cout;  // ParamBias, ParamRequant
    endcase
    return count;
  endfunction

  // The region that address bits [19:16] select inside a layer's block (see the header).
  function automatic param_kind_e region(logic [19:16] a);
    param_kind_e sel;
    if (!a[19])                   sel = ParamWeight;   // RegionWeightOffset
    else if (!a[18])              sel = ParamBias;     // RegionBiasOffset
    else if (a[17:16] != 2'b11)   sel = ParamRequant;  // RegionRequantOffset
    else                          sel = ParamZp;       // RegionZpOffset
    return sel;
  endfunction

  // The element index inside the region.
  function automatic logic [ParamIndexWidth-1:0] elem_index(logic [19:2] addr);
    logic [ParamIndexWidth-1:0] index;
    unique case (region(addr[19:16]))
      ParamWeight: index = addr[18:2];
      ParamZp:     index = {3'b0, addr[15:2]};
      default:     index = {1'b0, addr[17:2]};  // ParamBias, ParamRequant
    endcase
    return index;
  endfunction

  // `addr` is the word address (byte address [23:2]); hit, csr: hits() and csr_word() of it,
  // registered with it.
  function automatic decode_t decode(logic [AddrWidth-1:2] addr, logic [NumLayers-1:0] hit,
                                     logic csr);
    decode_t d;
    logic [15:0] layer_hit;  // by layer field: hit of layer field - 1, none outside 1..NumLayers
    layer_hit = 16'({hit, 1'b0});
    d.layer   = layer_e'(addr[23:20] - 4'd1);
    d.sel     = region(addr[19:16]);
    d.index   = (addr[23:20] == 4'd0) ? {14'd0, addr[4:2]} : elem_index(addr[19:2]);
    if (csr)                           d.kind = KindCsr;
    else if (layer_hit[addr[23:20]])   d.kind = KindParam;
    else                               d.kind = KindUnmapped;
    return d;
  endfunction

  // CSR block: NumCsrs words from CsrIdOffset.
  function automatic logic csr_word(logic [AddrWidth-1:2] addr);
    return addr[23:5] == '0 && addr[4:2] <= CsrFrameErrors;
  endfunction

  // Per layer, whether the element index is inside that layer's memory of the selected region
  // (the layer field aside): comparisons with constants side by side, registered with the
  // address when it is captured, so that the decode after them is a selection.
  function automatic logic [NumLayers-1:0] hits(logic [19:2] addr, logic [NumLayers-1:0] w_in,
                                                 logic [NumLayers-1:0] b_in);
    logic [NumLayers-1:0] h;
    unique case (region(addr[19:16]))
      ParamWeight: h = w_in;
      ParamZp:     h = {NumLayers{addr[15:2] == '0}};
      default:     h = b_in;  // ParamBias, ParamRequant
    endcase
    return h;
  endfunction

  logic [NumLayers-1:0] aw_w_in, aw_b_in, ar_w_in, ar_b_in, aw_hit, ar_hit;
  logic                 aw_csr, ar_csr;

  for (genvar l = 0; l < NumLayers; l++) begin : g_count
    // elaboration-time constants: a count selected at run time would be a multiplier
    localparam logic [17:0] WCount = 18'(mem_count(layer_e'(l), ParamWeight));
    localparam logic [17:0] BCount = 18'(mem_count(layer_e'(l), ParamBias));
    assign aw_w_in[l] = {1'b0, s_axil_awaddr[18:2]} < WCount;
    assign aw_b_in[l] = {2'b0, s_axil_awaddr[17:2]} < BCount;
    assign ar_w_in[l] = {1'b0, s_axil_araddr[18:2]} < WCount;
    assign ar_b_in[l] = {2'b0, s_axil_araddr[17:2]} < BCount;
  end

  assign aw_hit = hits(s_axil_awaddr[19:2], aw_w_in, aw_b_in);
  assign ar_hit = hits(s_axil_araddr[19:2], ar_w_in, ar_b_in);
  assign aw_csr = csr_word(s_axil_awaddr[AddrWidth-1:2]);
  assign ar_csr = csr_word(s_axil_araddr[AddrWidth-1:2]);

  // ------------------------------------------------------------------ write channel
  // AW and W are captured independently (A stage); once both are held, the address is decoded
  // into the D stage (with the data, freeing A), which executes once the B channel is free.
  logic        aw_full_q, w_full_q, d_full_q, bvalid_q;
  logic [AddrWidth-1:0] aw_addr_q;
  logic [NumLayers-1:0] aw_hit_q;
  logic                 aw_csr_q;
  logic [31:0] w_data_q, d_data_q, ctrl_q;
  logic [3:0]  w_strb_q, d_strb_q;
  decode_t     d_dec_q;
  logic [1:0]  bresp_q;
  logic [NumLayers-1:0] param_we_q;
  logic        errors_clear_q;
  param_kind_e param_sel_q;
  logic [ParamIndexWidth-1:0] param_addr_q;
  logic [31:0] param_wdata_q;

  logic    wr_go, wr_move;

  assign s_axil_awready = !aw_full_q;
  assign s_axil_wready  = !w_full_q;
  assign s_axil_bvalid  = bvalid_q;
  assign s_axil_bresp   = bresp_q;

  assign wr_go   = d_full_q && (!bvalid_q || s_axil_bready);
  assign wr_move = aw_full_q && w_full_q && (!d_full_q || wr_go);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      aw_full_q  <= 1'b0;
      w_full_q   <= 1'b0;
      d_full_q   <= 1'b0;
      aw_addr_q  <= '0;
      aw_hit_q   <= '0;
      aw_csr_q   <= 1'b0;
      w_data_q   <= '0;
      w_strb_q   <= '0;
      bvalid_q   <= 1'b0;
      bresp_q    <= RespOkay;
      ctrl_q     <= '0;
      param_we_q <= '0;
      errors_clear_q <= 1'b0;
    end else begin
      param_we_q <= '0;
      errors_clear_q <= 1'b0;
      if (s_axil_awvalid && s_axil_awready) begin
        aw_full_q <= 1'b1;
        aw_addr_q <= s_axil_awaddr;
        aw_hit_q  <= aw_hit;
        aw_csr_q  <= aw_csr;
      end
      if (s_axil_wvalid && s_axil_wready) begin
        w_full_q <= 1'b1;
        w_data_q <= s_axil_wdata;
        w_strb_q <= s_axil_wstrb;
      end
      if (wr_move) begin
        aw_full_q <= 1'b0;
        w_full_q  <= 1'b0;
        d_full_q  <= 1'b1;
      end else if (wr_go) begin
        d_full_q  <= 1'b0;
      end
      if (s_axil_bvalid && s_axil_bready) bvalid_q <= 1'b0;
      if (wr_go) begin
        bvalid_q  <= 1'b1;
        bresp_q   <= RespSlvErr;
        if (d_dec_q.kind == KindCsr && d_dec_q.index[2:0] == CsrCtrl) begin
          bresp_q <= RespOkay;
          for (int b = 0; b < 4; b++) begin
            if (d_strb_q[b]) ctrl_q[8*b +: 8] <= d_data_q[8*b +: 8];
          end
        end else if (d_dec_q.kind == KindCsr && d_dec_q.index[2:0] == CsrFrameErrors &&
                     d_strb_q == 4'hF) begin
          bresp_q        <= RespOkay;
          errors_clear_q <= 1'b1;
        end else if (d_dec_q.kind == KindParam && d_strb_q == 4'hF) begin
          bresp_q    <= RespOkay;
          param_we_q <= NumLayers'(1) << d_dec_q.layer;
        end
      end
    end
  end

  // D stage and the data path of the parameter port: no reset needed (qualified by d_full_q,
  // param_we_q).
  always_ff @(posedge clk_i) begin
    if (wr_move) begin
      d_dec_q  <= decode(aw_addr_q[AddrWidth-1:2], aw_hit_q, aw_csr_q);
      d_data_q <= w_data_q;
      d_strb_q <= w_strb_q;
    end
    if (wr_go) begin
      param_sel_q   <= d_dec_q.sel;
      param_addr_q  <= d_dec_q.index;
      param_wdata_q <= d_data_q;
    end
  end

  assign param_we_o    = param_we_q;
  assign frame_errors_clear_o = errors_clear_q;
  assign param_sel_o   = param_sel_q;
  assign param_addr_o  = param_addr_q;
  assign param_wdata_o = param_wdata_q;

  // ------------------------------------------------------------------ read channel
  // A (address captured), D (decoded; the CSR word selected), then R. One read in flight:
  // arready is low from the AR handshake to the R handshake.
  logic        ar_busy_q, ra_full_q, rd_full_q, rvalid_q;
  logic [AddrWidth-1:0] ar_addr_q;
  logic [NumLayers-1:0] ar_hit_q;
  logic                 ar_csr_q;
  kind_e       rd_kind_q;
  logic [31:0] rd_csr_q, rdata_q;
  logic [1:0]  rresp_q;
  logic        frame_error_q;
  decode_t     rd_dec;
  logic [31:0] csr_rdata;

  assign rd_dec = decode(ar_addr_q[AddrWidth-1:2], ar_hit_q, ar_csr_q);

  // The CSR words as an array indexed by the word index: a multiplexer tree.
  logic [7:0][31:0] csr_words;

  always_comb begin
    csr_words                 = '0;
    csr_words[CsrId]          = IdValue;
    csr_words[CsrCtrl]        = ctrl_q;
    csr_words[CsrStatus]      = {30'd0, frame_error_q, busy_i};
    csr_words[CsrImagesDone]  = images_done_i;
    csr_words[CsrLastCycles]  = last_cycles_i;
    csr_words[CsrCycleCount]  = cycle_count_i;
    csr_words[CsrFrameErrors] = frame_errors_i;
  end

  assign csr_rdata = csr_words[ar_addr_q[4:2]];

  assign s_axil_arready = !ar_busy_q;
  assign s_axil_rvalid  = rvalid_q;
  assign s_axil_rdata   = rdata_q;
  assign s_axil_rresp   = rresp_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ar_busy_q <= 1'b0;
      ra_full_q <= 1'b0;
      rd_full_q <= 1'b0;
      ar_addr_q <= '0;
      ar_hit_q  <= '0;
      ar_csr_q  <= 1'b0;
      rd_kind_q <= KindUnmapped;
      rd_csr_q  <= '0;
      rvalid_q  <= 1'b0;
      rdata_q   <= '0;
      rresp_q   <= RespOkay;
      frame_error_q <= 1'b0;
    end else begin
      // STATUS.frame_error, registered: the 32-bit compare stays out of the read multiplexer
      frame_error_q <= (frame_errors_i != '0);
      ra_full_q     <= 1'b0;
      rd_full_q     <= 1'b0;
      if (s_axil_arvalid && s_axil_arready) begin
        ar_busy_q <= 1'b1;
        ra_full_q <= 1'b1;
        ar_addr_q <= s_axil_araddr;
        ar_hit_q  <= ar_hit;
        ar_csr_q  <= ar_csr;
      end
      if (ra_full_q) begin
        rd_full_q <= 1'b1;
        rd_kind_q <= rd_dec.kind;
        rd_csr_q  <= csr_rdata;
      end
      if (rd_full_q) begin
        rvalid_q <= 1'b1;
        rdata_q  <= (rd_kind_q == KindCsr) ? rd_csr_q : 32'd0;
        rresp_q  <= (rd_kind_q == KindUnmapped) ? RespSlvErr : RespOkay;
      end
      if (s_axil_rvalid && s_axil_rready) begin
        rvalid_q  <= 1'b0;
        ar_busy_q <= 1'b0;
      end
    end
  end

  // Protection bits carry no meaning here; byte offsets are ignored (word access); reads of
  // parameter regions do not need the layer/select fields.
  logic unused_bits;
  assign unused_bits = ^{s_axil_awprot, s_axil_arprot, aw_addr_q[1:0], ar_addr_q[1:0],
                         rd_dec.layer, rd_dec.sel, rd_dec.index};

endmodule
