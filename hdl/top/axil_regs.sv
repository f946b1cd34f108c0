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
// One write and one read may be in flight; each completes in two cycles.
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

  // Element counts of every parameter memory: index >= count is unmapped.
  function automatic logic [17:0] mem_count(layer_e layer, param_kind_e sel);
    int unsigned cout, fan_in;
    logic [17:0] count;
    case (layer)
      LayerConv1: begin cout = Conv1Out; fan_in = Conv1In * Kernel * Kernel; end
      LayerConv2: begin cout = Conv2Out; fan_in = Conv2In * Kernel * Kernel; end
      LayerFc1:   begin cout = Fc1Out;   fan_in = Fc1In;                     end
      LayerFc2:   begin cout = Fc2Out;   fan_in = Fc2In;                     end
      default:    begin cout = Fc3Out;   fan_in = Fc3In;                     end  // LayerFc3
    endcase
    // one return at the end: Verilator's line coverage misses case arms that return
    case (sel)
      ParamWeight: count = 18'(cout * fan_in);
      ParamZp:     count = 18'd1;
      default:     count = 18'(cout);  // ParamBias, ParamRequant
    endcase
    return count;
  endfunction

  // `addr` is the word address (byte address [23:2]).
  function automatic decode_t decode(logic [AddrWidth-1:2] addr);
    decode_t d;
    d.kind  = KindUnmapped;
    d.layer = layer_e'(addr[23:20] - 4'd1);
    d.sel   = ParamWeight;
    d.index = '0;
    if (addr[23:20] == 4'd0) begin
      // CSR block: NumCsrs words from CsrIdOffset
      d.index = {14'd0, addr[4:2]};
      if (addr[19:5] == '0 && addr[4:2] <= CsrFrameErrors) d.kind = KindCsr;
    end else if (addr[23:20] <= 4'(NumLayers)) begin
      if (!addr[19]) begin
        d.sel = ParamWeight;   d.index = addr[18:2];          // RegionWeightOffset
      end else if (!addr[18]) begin
        d.sel = ParamBias;     d.index = {1'b0, addr[17:2]};  // RegionBiasOffset
      end else if (addr[17:16] != 2'b11) begin
        d.sel = ParamRequant;  d.index = {1'b0, addr[17:2]};  // RegionRequantOffset
      end else begin
        d.sel = ParamZp;       d.index = {3'b0, addr[15:2]};  // RegionZpOffset
      end
      if ({1'b0, d.index} < mem_count(d.layer, d.sel)) d.kind = KindParam;
    end
    return d;
  endfunction

  // ------------------------------------------------------------------ write channel
  // AW and W are captured independently; the write executes once both are held and the
  // B channel is free.
  logic        aw_full_q, w_full_q, bvalid_q;
  logic [AddrWidth-1:0] aw_addr_q;
  logic [31:0] w_data_q, ctrl_q;
  logic [3:0]  w_strb_q;
  logic [1:0]  bresp_q;
  logic [NumLayers-1:0] param_we_q;
  logic        errors_clear_q;
  param_kind_e param_sel_q;
  logic [ParamIndexWidth-1:0] param_addr_q;
  logic [31:0] param_wdata_q;

  logic    wr_go;
  decode_t wr_dec;

  assign s_axil_awready = !aw_full_q;
  assign s_axil_wready  = !w_full_q;
  assign s_axil_bvalid  = bvalid_q;
  assign s_axil_bresp   = bresp_q;

  assign wr_go  = aw_full_q && w_full_q && (!bvalid_q || s_axil_bready);
  assign wr_dec = decode(aw_addr_q[AddrWidth-1:2]);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      aw_full_q  <= 1'b0;
      w_full_q   <= 1'b0;
      aw_addr_q  <= '0;
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
      end
      if (s_axil_wvalid && s_axil_wready) begin
        w_full_q <= 1'b1;
        w_data_q <= s_axil_wdata;
        w_strb_q <= s_axil_wstrb;
      end
      if (s_axil_bvalid && s_axil_bready) bvalid_q <= 1'b0;
      if (wr_go) begin
        aw_full_q <= 1'b0;
        w_full_q  <= 1'b0;
        bvalid_q  <= 1'b1;
        bresp_q   <= RespSlvErr;
        if (wr_dec.kind == KindCsr && wr_dec.index[2:0] == CsrCtrl) begin
          bresp_q <= RespOkay;
          for (int b = 0; b < 4; b++) begin
            if (w_strb_q[b]) ctrl_q[8*b +: 8] <= w_data_q[8*b +: 8];
          end
        end else if (wr_dec.kind == KindCsr && wr_dec.index[2:0] == CsrFrameErrors &&
                     w_strb_q == 4'hF) begin
          bresp_q        <= RespOkay;
          errors_clear_q <= 1'b1;
        end else if (wr_dec.kind == KindParam && w_strb_q == 4'hF) begin
          bresp_q    <= RespOkay;
          param_we_q <= NumLayers'(1) << wr_dec.layer;
        end
      end
    end
  end

  // Data path of the parameter port: no reset needed (qualified by param_we_q).
  always_ff @(posedge clk_i) begin
    if (wr_go) begin
      param_sel_q   <= wr_dec.sel;
      param_addr_q  <= wr_dec.index;
      param_wdata_q <= w_data_q;
    end
  end

  assign param_we_o    = param_we_q;
  assign frame_errors_clear_o = errors_clear_q;
  assign param_sel_o   = param_sel_q;
  assign param_addr_o  = param_addr_q;
  assign param_wdata_o = param_wdata_q;

  // ------------------------------------------------------------------ read channel
  logic        rvalid_q;
  logic [31:0] rdata_q;
  logic [1:0]  rresp_q;
  decode_t     rd_dec;
  logic [31:0] csr_rdata;

  assign rd_dec = decode(s_axil_araddr[AddrWidth-1:2]);

  always_comb begin
    unique case (rd_dec.index[2:0])
      CsrId:         csr_rdata = IdValue;
      CsrCtrl:       csr_rdata = ctrl_q;
      CsrStatus:     csr_rdata = {30'd0, frame_errors_i != '0, busy_i};
      CsrImagesDone: csr_rdata = images_done_i;
      CsrLastCycles: csr_rdata = last_cycles_i;
      CsrCycleCount: csr_rdata = cycle_count_i;
      CsrFrameErrors: csr_rdata = frame_errors_i;
      default:       csr_rdata = '0;
    endcase
  end

  assign s_axil_arready = !rvalid_q;
  assign s_axil_rvalid  = rvalid_q;
  assign s_axil_rdata   = rdata_q;
  assign s_axil_rresp   = rresp_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rvalid_q <= 1'b0;
      rdata_q  <= '0;
      rresp_q  <= RespOkay;
    end else begin
      if (s_axil_rvalid && s_axil_rready) rvalid_q <= 1'b0;
      if (s_axil_arvalid && s_axil_arready) begin
        rvalid_q <= 1'b1;
        rdata_q  <= (rd_dec.kind == KindCsr) ? csr_rdata : 32'd0;
        rresp_q  <= (rd_dec.kind == KindUnmapped) ? RespSlvErr : RespOkay;
      end
    end
  end

  // Protection bits carry no meaning here; byte offsets are ignored (word access); reads of
  // parameter regions do not need the layer/select fields.
  logic unused_bits;
  assign unused_bits = ^{s_axil_awprot, s_axil_arprot, aw_addr_q[1:0], s_axil_araddr[1:0],
                         rd_dec.layer, rd_dec.sel};

endmodule
